/* bitswap.h: the Bitswap message (/ipfs/bitswap 1.0.0, 1.1.0 and 1.2.0) and
 * its framing on a stream.
 *
 * One protobuf for all versions: a wantlist (entries naming CIDs, with 1.2's
 * wantType Block or Have, sendDontHave and cancel; `full` replaces the
 * peer's list), blocks (1.0: field 2, bare bytes whose CID is CIDv0; 1.1+:
 * field 3, a CID prefix and the bytes), 1.2's block presences (Have or
 * DontHave) and pendingBytes. On a stream each message is an unsigned varint
 * length and that many bytes; a message is at most 4 MiB (libp2p's Bitswap
 * limit), so a block is at most a little less.
 *
 * Decoding is strict about what it understands (wire types, CIDs, enum
 * values, counts) and skips unknown fields as protobuf allows. Decoded
 * block bytes point into the input; the arrays are allocated and freed with
 * wr_bitswap_msg_free. No I/O, no clock: a fuzzer drives it. */
#ifndef WR_PROTO_P2P_BITSWAP_H
#define WR_PROTO_P2P_BITSWAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/multiformats/cid.h"

#define WR_BITSWAP_PROTOCOL_120 "/ipfs/bitswap/1.2.0"
#define WR_BITSWAP_PROTOCOL_110 "/ipfs/bitswap/1.1.0"
#define WR_BITSWAP_PROTOCOL_100 "/ipfs/bitswap/1.0.0"
#define WR_BITSWAP_PROTOCOL_OLD "/ipfs/bitswap"

/* Longest message body, without its length prefix. */
#define WR_BITSWAP_MAX_MSG (4u << 20)
/* Most wantlist entries, blocks and presences one message may carry. */
#define WR_BITSWAP_MAX_ENTRIES 8192
#define WR_BITSWAP_MAX_BLOCKS 4096
#define WR_BITSWAP_MAX_PRESENCES 8192

typedef enum wr_bitswap_want_type {
  WR_BITSWAP_WANT_BLOCK = 0,
  WR_BITSWAP_WANT_HAVE = 1,
} wr_bitswap_want_type;

typedef enum wr_bitswap_presence_type {
  WR_BITSWAP_HAVE = 0,
  WR_BITSWAP_DONT_HAVE = 1,
} wr_bitswap_presence_type;

typedef struct wr_bitswap_entry {
  wr_cid cid;
  int32_t priority;
  uint8_t cancel;
  uint8_t want_type; /* wr_bitswap_want_type */
  uint8_t send_dont_have;
} wr_bitswap_entry;

/* What a 1.1 payload's prefix says: every part of the CID but the digest. */
typedef struct wr_bitswap_prefix {
  uint32_t version;
  uint64_t codec;
  uint64_t mh_code;
  uint64_t mh_len;
} wr_bitswap_prefix;

typedef struct wr_bitswap_block {
  wr_bitswap_prefix prefix;
  const uint8_t *data; /* into the decoded input, or the caller's bytes to encode */
  size_t len;
} wr_bitswap_block;

typedef struct wr_bitswap_presence {
  wr_cid cid;
  uint8_t type; /* wr_bitswap_presence_type */
} wr_bitswap_presence;

typedef struct wr_bitswap_msg {
  wr_bitswap_entry *entries;
  size_t nentries;
  int full; /* the wantlist replaces the one the receiver kept */
  wr_bitswap_block *blocks;
  size_t nblocks;
  wr_bitswap_presence *presences;
  size_t npresences;
  int32_t pending_bytes;
} wr_bitswap_msg;

/* Decodes one message body (n bytes, no length prefix). On success m's
 * arrays are allocated (free them with wr_bitswap_msg_free) and block data
 * points into p. 0, WR_ERR_LIMIT (over 4 MiB or a count limit),
 * WR_ERR_MALFORMED (wire types, CIDs, prefixes, enum values),
 * WR_ERR_NOMEM; *preason (may be NULL) gets a static sentence. On error m
 * holds nothing to free. */
WR_MUST_CHECK int wr_bitswap_decode(const uint8_t *p, size_t n, wr_bitswap_msg *m,
                                    const char **preason);
/* Frees what wr_bitswap_decode allocated; m is zeroed. */
void wr_bitswap_msg_free(wr_bitswap_msg *m);

enum {
  /* encode: write blocks as 1.0.0's bare bytes (field 2; only CIDv0
   * dag-pb sha2-256 blocks can be told that way) and no presences. */
  WR_BITSWAP_ENC_V100 = 1,
};

/* Appends m's body (no length prefix) to out. Entries with want_type Have
 * and presences are 1.2's; the caller leaves them out for older peers.
 * 0, WR_ERR_INVAL (a block 1.0.0 cannot carry), or out's error. */
WR_MUST_CHECK int wr_bitswap_encode(const wr_bitswap_msg *m, unsigned flags, wr_buf *out);
/* Appends the varint length of a body of n bytes. */
WR_MUST_CHECK int wr_bitswap_put_frame_len(wr_buf *out, size_t n);

/* Looks for one framed message at the start of p (n bytes). 0 with *phdr
 * (prefix bytes) and *pbody (body bytes) when it is all there;
 * WR_ERR_AGAIN when more bytes are needed; WR_ERR_LIMIT for a length over
 * WR_BITSWAP_MAX_MSG; WR_ERR_MALFORMED for a bad varint. */
WR_MUST_CHECK int wr_bitswap_frame(const uint8_t *p, size_t n, size_t *phdr, size_t *pbody,
                                   const char **preason);

/* The prefix of cid (for a 1.1 payload). */
void wr_bitswap_prefix_of(const wr_cid *cid, wr_bitswap_prefix *pp);
/* Computes the CID a received block claims to be: hashes its bytes with the
 * prefix's hash function. The result is what the block IS; whether anyone
 * wanted that CID is the caller's question. 0, WR_ERR_UNSUPPORTED (a hash
 * warren cannot compute, or a truncated digest), WR_ERR_MALFORMED (a prefix
 * no CID can have). */
WR_MUST_CHECK int wr_bitswap_block_cid(const wr_bitswap_block *b, wr_cid *pcid);

#endif
