/* Fuzzes the blockstore's multihash key handling: splitting a key, verifying
 * bytes against it and formatting it never read out of bounds, and give only
 * the documented results. The input is split at its first byte into a key
 * and data. */
#include <stdlib.h>
#include <string.h>

#include "store/blockstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t klen = data[0] % (WR_BS_MAX_KEY + 8);
  if (klen > size - 1)
    klen = size - 1;
  const uint8_t *key = data + 1, *body = data + 1 + klen;
  size_t blen = size - 1 - klen;
  uint64_t code;
  const uint8_t *digest;
  size_t dlen;
  int rc = wr_bs_mh_split(key, klen, &code, &digest, &dlen);
  if (rc == 0 && (digest < key || digest + dlen != key + klen))
    abort();
  if (rc != 0 && rc != WR_ERR_MALFORMED && rc != WR_ERR_TRUNCATED)
    abort();
  int v = wr_bs_verify(key, klen, body, blen);
  if (v != 0 && v != WR_ERR_CORRUPT && v != WR_ERR_UNSUPPORTED && v != WR_ERR_MALFORMED)
    abort();
  if (klen <= WR_BS_MAX_KEY) {
    char s[WR_BS_KEYSTR_MAX];
    wr_bs_key_string(s, key, klen);
    if (s[0] != 'b' || strlen(s) >= sizeof s)
      abort();
  }
  return 0;
}
