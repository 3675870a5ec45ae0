/* cid.h: content identifiers, version 0 and 1.
 *
 * CIDv0 is a bare sha2-256 multihash of a dag-pb block, written in base58btc
 * ("Qm..."). CIDv1 is varint(1) | varint(codec) | multihash, written with a
 * multibase prefix (base32 'b' by default). wr_cid is fixed-size and needs no
 * allocation. */
#ifndef WR_PROTO_MULTIFORMATS_CID_H
#define WR_PROTO_MULTIFORMATS_CID_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/multiformats/multihash.h"

/* Codecs (multicodec table). */
#define WR_CODEC_RAW 0x55
#define WR_CODEC_DAG_PB 0x70
#define WR_CODEC_DAG_CBOR 0x71
#define WR_CODEC_LIBP2P_KEY 0x72
#define WR_CODEC_DAG_JSON 0x0129

/* Longest binary CID: version, codec, multihash. */
#define WR_CID_MAX_BYTES (1 + 9 + WR_MH_MAX_BYTES)
/* Longest text form with prefix and NUL (base36 is the longest base). */
#define WR_CID_MAX_STR (WR_CID_MAX_BYTES * 155 / 100 + 4)
/* Length of every CIDv0 in text. */
#define WR_CIDV0_STR_LEN 46

typedef struct wr_cid {
  uint32_t version; /* 0 or 1 */
  uint64_t codec;   /* WR_CODEC_*; always dag-pb for version 0 */
  wr_mh mh;
} wr_cid;

/* Sets *pcid to version/codec/mh. WR_ERR_INVAL when version 0 is asked with
 * anything but dag-pb and a 32-byte sha2-256, or version is not 0 or 1. */
WR_MUST_CHECK int wr_cid_init(wr_cid *pcid, uint32_t version, uint64_t codec, const wr_mh *mh);
/* Hashes a block with sha2-256 and makes its CID (version 0 requires
 * dag-pb). WR_ERR_INVAL as wr_cid_init. */
WR_MUST_CHECK int wr_cid_sum(wr_cid *pcid, uint32_t version, uint64_t codec, const void *block,
                             size_t n);
/* Checks that a block matches its CID's multihash: 0, WR_ERR_CORRUPT, or
 * WR_ERR_UNSUPPORTED for a hash warren cannot compute. */
WR_MUST_CHECK int wr_cid_verify(const wr_cid *cid, const void *block, size_t n);

/* Parses the text form: 46 characters starting "Qm" are CIDv0, anything
 * else is multibase-decoded and read as a binary CID. 0, or
 * WR_ERR_MALFORMED / WR_ERR_TRUNCATED / WR_ERR_UNSUPPORTED (unknown
 * multibase prefix, unknown CID version) with a static *preason (may be
 * NULL), e.g. "unknown multibase prefix ...". */
WR_MUST_CHECK int wr_cid_parse(const char *s, size_t n, wr_cid *pcid, const char **preason);
/* As wr_cid_parse for a NUL-terminated string. */
WR_MUST_CHECK int wr_cid_parse_str(const char *s, wr_cid *pcid, const char **preason);
/* Reads one binary CID at c->pos and advances past it (as inside dag-pb
 * links and CAR sections). 34 bytes starting 0x12 0x20 are CIDv0. Errors as
 * wr_cid_parse. */
WR_MUST_CHECK int wr_cid_decode(wr_cursor *c, wr_cid *pcid, const char **preason);
/* As wr_cid_decode, but the n bytes must be exactly one CID. */
WR_MUST_CHECK int wr_cid_from_bytes(const uint8_t *p, size_t n, wr_cid *pcid,
                                    const char **preason);

/* Binary length of cid. */
size_t wr_cid_encoded_size(const wr_cid *cid);
/* Writes the binary CID into out (cap bytes; WR_CID_MAX_BYTES always
 * suffices). Returns bytes written, WR_ERR_LIMIT, WR_ERR_INVAL. */
WR_MUST_CHECK int wr_cid_to_bytes(const wr_cid *cid, uint8_t *out, size_t cap);
/* Appends the binary CID to b. */
WR_MUST_CHECK int wr_cid_put(wr_buf *b, const wr_cid *cid);

/* Writes the text form, NUL-terminated, into out (WR_CID_MAX_STR always
 * suffices). base 0 means the default: base58btc without prefix for v0,
 * base32 for v1. A v0 CID asked for in another base is WR_ERR_INVAL (convert
 * it with wr_cid_to_v1 first). Returns characters written (without NUL),
 * WR_ERR_LIMIT when cap is too small. */
WR_MUST_CHECK int wr_cid_format(const wr_cid *cid, int base, char *out, size_t cap);

/* Converts to version 1 (same codec and hash); always succeeds for a valid
 * CID. */
void wr_cid_to_v1(const wr_cid *cid, wr_cid *pout);
/* Converts to version 0. WR_ERR_INVAL unless the CID is dag-pb with a
 * 32-byte sha2-256 multihash. */
WR_MUST_CHECK int wr_cid_to_v0(const wr_cid *cid, wr_cid *pout);
/* 1 when version, codec and multihash are all equal, else 0. */
int wr_cid_equal(const wr_cid *a, const wr_cid *b);
/* 1 when both name the same content bytes and codec regardless of version
 * (a v0 and its v1 are the same block). */
int wr_cid_same_block(const wr_cid *a, const wr_cid *b);
/* "raw", "dag-pb", "dag-cbor", "libp2p-key", "dag-json", or NULL. */
const char *wr_cid_codec_name(uint64_t codec);

#endif
