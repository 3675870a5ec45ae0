/* Fuzzes the libp2p TLS extension's SignedKey and the certificate TBS
 * locator: a decoded value re-encodes
 * to exactly its bytes (DER has one form), a refusal always says why, and
 * verifying it against the input itself never crashes. */
#include <stdlib.h>
#include <string.h>

#include "proto/p2p/tlsext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wr_p2p_signedkey sk;
  const char *why = NULL;
  /* The same bytes as a certificate: its TBSCertificate lies inside. */
  const uint8_t *tbs;
  size_t ntbs;
  if (wr_p2p_cert_tbs(data, size, &tbs, &ntbs, &why) == 0) {
    if (tbs < data || ntbs == 0 || tbs + ntbs > data + size || tbs[0] != 0x30)
      abort();
  } else if (!why) {
    abort();
  }
  why = NULL;
  if (wr_p2p_signedkey_decode(data, size, &sk, &why) != 0) {
    if (!why)
      abort();
    return 0;
  }
  wr_buf out;
  wr_buf_init(&out, 2 * WR_P2P_SIGNEDKEY_MAX);
  if (wr_p2p_signedkey_encode(sk.pubkey, sk.npubkey, sk.sig, sk.nsig, &out) != 0 ||
      out.len != size || memcmp(out.data, data, size) != 0)
    abort();
  wr_buf_free(&out);
  wr_peerid id;
  why = NULL;
  if (wr_p2p_signedkey_verify(&sk, data, size, &id, &why) != 0 && !why)
    abort();
  return 0;
}
