/* Fuzzes peer IDs and key protobufs: binary and text peer IDs round-trip
 * through every form; a decoded key re-encodes to its bytes. */
#include <stdlib.h>
#include <string.h>

#include "proto/multiformats/multibase.h"
#include "proto/p2p/peerid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_peerid id, again;
  const char *why = NULL;
  if (wr_peerid_decode(data, size, &id, &why) == 0) {
    uint8_t b[WR_MH_MAX_BYTES];
    int n = wr_peerid_to_bytes(&id, b, sizeof b);
    if (n < 0 || (size_t)n != size || memcmp(b, data, size) != 0)
      abort();
    char s[WR_PEERID_MAX_STR];
    n = wr_peerid_format(&id, s, sizeof s);
    if (n < 0 || wr_peerid_parse(s, (size_t)n, &again, NULL) || !wr_peerid_equal(&id, &again))
      abort();
    n = wr_peerid_format_cid(&id, WR_MB_BASE36, s, sizeof s);
    if (n < 0 || wr_peerid_parse(s, (size_t)n, &again, NULL) || !wr_peerid_equal(&id, &again))
      abort();
  } else if (!why) {
    abort();
  }
  (void)wr_peerid_parse((const char *)data, size, &id, NULL);
  wr_p2p_pubkey pk;
  if (wr_p2p_pubkey_decode(data, size, &pk, NULL) == 0) {
    uint8_t e[WR_P2P_PUBKEY_ED25519_PB];
    wr_p2p_pubkey_encode(&pk, e);
    if (size != sizeof e || memcmp(e, data, size) != 0)
      abort();
  }
  wr_p2p_privkey sk;
  (void)wr_p2p_privkey_decode(data, size, &sk, NULL);
  return 0;
}
