/* Fuzzes config.yml parsing from memory (libyaml, the schema walk, service
 * and regex checks, durations), then matches a request against whatever
 * rules came out: no crash, no leak, every error has a message. */
#include <stdlib.h>
#include <string.h>

#include "tunnel/tunnel_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536)
    return 0;
  wr_tunnel_config c;
  wr_tunnel_config_init(&c);
  char err[768] = "";
  int rv = wr_tunnel_config_parse((const char *)data, size, "fuzz.yml", &c, err, sizeof err);
  if (rv) {
    if (!err[0])
      abort();
  } else {
    char verr[768] = "";
    if (wr_tunnel_config_validate_ingress(&c, verr, sizeof verr) != 0 && !verr[0])
      abort();
    long i = wr_ingress_match(&c.ingress, "a.example.com:443", 17, "/api/x.html");
    if (i < -1 || i >= (long)c.ingress.n || (c.ingress.n && i < 0))
      abort();
  }
  wr_tunnel_config_free(&c);
  return 0;
}
