/* multihash.h: self-describing hashes: varint(code) | varint(size) | digest.
 *
 * Any hash code parses (so CIDs made with other hashes can be carried and
 * printed); computing and verifying are supported for sha2-256, hashed with
 * nettle (which uses SHA-NI where the CPU has it), sha2-512 (kubo accepts
 * it; the gateway fixtures use one) and identity. */
#ifndef WR_PROTO_MULTIFORMATS_MULTIHASH_H
#define WR_PROTO_MULTIFORMATS_MULTIHASH_H

#include <nettle/sha2.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_MH_IDENTITY 0x00
#define WR_MH_SHA2_256 0x12
#define WR_MH_SHA2_512 0x13
#define WR_SHA256_SIZE 32
#define WR_SHA512_SIZE 64
/* The longest digest carried. 128 bytes covers every common hash and the
 * identity CIDs other implementations accept (go-verifcid allows 128). */
#define WR_MH_MAX_DIGEST 128
/* Longest encoded multihash: two varints and the digest. */
#define WR_MH_MAX_BYTES (9 + 2 + WR_MH_MAX_DIGEST)

/* A decoded multihash; fixed size, no allocation. */
typedef struct wr_mh {
  uint64_t code;
  uint32_t size; /* digest bytes used */
  uint8_t digest[WR_MH_MAX_DIGEST];
} wr_mh;

/* Reads one multihash at c->pos and advances past it. 0, or
 * WR_ERR_TRUNCATED (input ends early), WR_ERR_MALFORMED (bad varint),
 * WR_ERR_UNSUPPORTED (digest longer than WR_MH_MAX_DIGEST). *preason (may be
 * NULL) gets a static sentence on error. */
WR_MUST_CHECK int wr_mh_decode(wr_cursor *c, wr_mh *pmh, const char **preason);
/* As wr_mh_decode, but the n bytes must hold exactly one multihash
 * (WR_ERR_MALFORMED "trailing bytes after multihash" otherwise). */
WR_MUST_CHECK int wr_mh_parse(const uint8_t *p, size_t n, wr_mh *pmh, const char **preason);

/* Encoded length of mh. */
size_t wr_mh_encoded_size(const wr_mh *mh);
/* Writes mh into out (cap bytes). Returns bytes written, WR_ERR_LIMIT when
 * cap is too small, WR_ERR_INVAL for an unencodable code. */
WR_MUST_CHECK int wr_mh_encode(const wr_mh *mh, uint8_t *out, size_t cap);
/* Appends mh to b. Errors as wr_buf_append, WR_ERR_INVAL. */
WR_MUST_CHECK int wr_mh_put(wr_buf *b, const wr_mh *mh);

/* Sets *pmh to the sha2-256 multihash of n bytes at p. */
void wr_mh_sha256(wr_mh *pmh, const void *p, size_t n);
/* Hashes n bytes with code (sha2-256, sha2-512 or identity), giving the full
 * digest. WR_ERR_UNSUPPORTED for other codes, WR_ERR_LIMIT when identity
 * data exceeds WR_MH_MAX_DIGEST. */
WR_MUST_CHECK int wr_mh_sum(wr_mh *pmh, uint64_t code, const void *p, size_t n);
/* Checks that n bytes at p hash to mh. 0, WR_ERR_CORRUPT on a mismatch,
 * WR_ERR_UNSUPPORTED when warren cannot compute mh's hash function or mh
 * carries a truncated digest (shorter than the function's). */
WR_MUST_CHECK int wr_mh_verify(const wr_mh *mh, const void *p, size_t n);
/* 1 when both name the same hash and digest, else 0. */
int wr_mh_equal(const wr_mh *a, const wr_mh *b);
/* "sha2-256", "identity", ... or NULL for a code warren has no name for. */
const char *wr_mh_name(uint64_t code);

/* A streaming sha2-256 for importers that hash data as it arrives. */
typedef struct wr_sha256 {
  struct sha256_ctx ctx;
} wr_sha256;
void wr_sha256_init(wr_sha256 *s);
void wr_sha256_update(wr_sha256 *s, const void *p, size_t n);
/* Finishes into 32 bytes; the context is reset for reuse. */
void wr_sha256_final(wr_sha256 *s, uint8_t out[WR_SHA256_SIZE]);
/* Finishes into a sha2-256 multihash; the context is reset for reuse. */
void wr_sha256_final_mh(wr_sha256 *s, wr_mh *pmh);

#endif
