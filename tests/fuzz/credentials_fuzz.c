/* Fuzzes the connector's credentials JSON and cloudflared's tunnel token:
 * parse, and when it parses, encode and parse again to the same tunnel id
 * and secret (a file also to the same name). A refusal must say why. */
#include <stdlib.h>
#include <string.h>

#include "tunnel/credentials.h"

static void token(const uint8_t *data, size_t size) {
  wr_credentials c, back;
  char err[512] = "";
  if (wr_credentials_from_token((const char *)data, size, &c, err, sizeof err) != 0) {
    if (!err[0])
      abort();
    return;
  }
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  if (wr_credentials_token(&c, &b) != 0 ||
      wr_credentials_from_token((const char *)b.data, b.len, &back, err, sizeof err) != 0 ||
      memcmp(back.tunnel_id, c.tunnel_id, 16) != 0 || back.secret_len != c.secret_len ||
      memcmp(back.secret, c.secret, c.secret_len) != 0)
    abort();
  wr_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > WR_CREDENTIALS_MAX_SIZE + 16)
    return 0;
  token(data, size);
  wr_credentials c, back;
  char err[512] = "";
  if (wr_credentials_parse((const char *)data, size, "fuzz.json", &c, err, sizeof err) != 0) {
    if (!err[0])
      abort();
    return 0;
  }
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  if (wr_credentials_encode(&c, &b) != 0 ||
      wr_credentials_parse((const char *)b.data, b.len, "enc", &back, err, sizeof err) != 0 ||
      memcmp(back.tunnel_id, c.tunnel_id, 16) != 0 || back.secret_len != c.secret_len ||
      memcmp(back.secret, c.secret, c.secret_len) != 0 ||
      strcmp(back.tunnel_name, c.tunnel_name) != 0)
    abort();
  wr_buf_free(&b);
  return 0;
}
