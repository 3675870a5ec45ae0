/* Fuzzes IPNS record decoding and verification, the DHT validator and the
 * RFC 3339 time parser: a decoded record's fields lie inside the input and
 * its EOL formats back to a time that parses to the same instant. */
#include <stdlib.h>
#include <string.h>

#include "proto/ipns/ipns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_ipns_record r;
  const char *why = NULL;
  const uint8_t *end = data + size;
  if (wr_ipns_record_decode(data, size, &r, &why) == 0) {
    if (r.value + r.value_len > end || r.data + r.data_len > end || !r.sig_v2)
      abort();
    wr_peerid id;
    uint8_t seed[32] = {1};
    wr_p2p_privkey sk;
    wr_p2p_pubkey pk;
    wr_p2p_privkey_from_seed(&sk, seed);
    wr_p2p_privkey_public(&sk, &pk);
    wr_peerid_from_pubkey(&id, &pk);
    (void)wr_ipns_record_verify(&r, &id, 0, &why);
    char s[WR_IPNS_TIME_STR];
    int64_t back;
    if (r.eol_ns >= 0 && r.eol_ns < INT64_MAX) {
      int n = wr_ipns_time_format(r.eol_ns, s, sizeof s);
      if (n < 0 || wr_ipns_time_parse(s, (size_t)n, &back, NULL) != 0 || back != r.eol_ns)
        abort();
    }
  } else if (!why) {
    abort();
  }
  int64_t ns;
  why = NULL;
  if (wr_ipns_time_parse((const char *)data, size, &ns, &why) != 0 && !why)
    abort();
  (void)wr_ipns_dht_validate(data, size > 40 ? 40 : size, data, size, 0, NULL);
  wr_peerid name;
  (void)wr_ipns_name_parse((const char *)data, size, &name, NULL);
  return 0;
}
