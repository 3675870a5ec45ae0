/* ipns.h: IPNS records (ipfs/specs src/ipns/ipns-record.md), sans I/O.
 *
 * A record is the protobuf IpnsEntry {1 value, 2 signatureV1, 3 validityType,
 * 4 validity, 5 sequence, 6 ttl, 7 pubKey, 8 signatureV2, 9 data}. What counts
 * is `data`, a dag-cbor map {Value, Validity, ValidityType, Sequence, TTL},
 * signed (V2) as "ipns-signature:" || data. The V1 fields and signature
 * (value || validity || "EOL") are written for older readers and, when
 * present, must agree with data; the V1 signature is never trusted.
 *
 * Validity is an RFC 3339 time (EOL); it and `now` are Unix nanoseconds in
 * int64 (good to year 2262; later times read as the int64 maximum). The
 * caller passes `now`, so this module reads no clock.
 *
 * An IPNS name is a libp2p peer ID: text as CIDv1 libp2p-key ("k51...",
 * "bafz...") or base58 ("12D3KooW..."); its routing (DHT) key is "/ipns/" ||
 * the peer ID's multihash bytes. Only Ed25519 keys sign and verify here. */
#ifndef WR_PROTO_IPNS_IPNS_H
#define WR_PROTO_IPNS_IPNS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/p2p/peerid.h"

/* The spec's limit on a whole record: larger ones are refused. */
#define WR_IPNS_MAX_RECORD 10240
/* "/ipns/" || multihash: the longest routing key. */
#define WR_IPNS_MAX_KEY (6 + WR_MH_MAX_BYTES)
/* Longest RFC 3339 text this module writes ("2006-01-02T15:04:05.123456789Z"). */
#define WR_IPNS_TIME_STR 40
#define WR_IPNS_EOL 0 /* the only validityType */

/* A decoded record. Pointers look into the bytes given to
 * wr_ipns_record_decode and live as long as they do. value, validity,
 * validity_type, sequence and ttl_ns come from data (the signed part). */
typedef struct wr_ipns_record {
  const uint8_t *value;
  size_t value_len;
  const uint8_t *validity; /* RFC 3339 text, not NUL-terminated */
  size_t validity_len;
  uint64_t validity_type;
  uint64_t sequence;
  uint64_t ttl_ns;
  int64_t eol_ns;        /* validity as Unix nanoseconds */
  const uint8_t *pubkey; /* PublicKey protobuf, or NULL when not embedded */
  size_t pubkey_len;
  const uint8_t *sig_v1; /* NULL when absent */
  size_t sig_v1_len;
  const uint8_t *sig_v2;
  size_t sig_v2_len;
  const uint8_t *data;
  size_t data_len;
  int has_v1_fields; /* the protobuf carried value/validity (V1 readers) */
} wr_ipns_record;

/* What to sign. */
typedef struct wr_ipns_params {
  const uint8_t *value; /* the path, e.g. "/ipfs/bafy..." */
  size_t value_len;
  uint64_t sequence;
  int64_t eol_ns;   /* end of validity, Unix nanoseconds (>= 0) */
  uint64_t ttl_ns;  /* how long resolvers may cache it */
  int embed_pubkey; /* also write pubKey (never needed for Ed25519) */
} wr_ipns_params;

/* Appends a record signed by sk to out: V1 fields and signature, V2 data and
 * signature. 0, WR_ERR_LIMIT (the record would pass WR_IPNS_MAX_RECORD, or
 * out's own limit), WR_ERR_INVAL (negative eol), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_ipns_record_create(const wr_p2p_privkey *sk, const wr_ipns_params *pa,
                                        wr_buf *out);

/* Decodes a record strictly without checking its signature: size limit,
 * protobuf fields each once with their wire types and nothing unknown,
 * signatureV2 and data present, data a dag-cbor map with the five fields of
 * the right types (other keys skipped, none twice), validityType EOL with a
 * parseable time, and every V1 field the protobuf carries equal to data's.
 * 0, WR_ERR_LIMIT (too big), WR_ERR_MALFORMED, WR_ERR_TRUNCATED,
 * WR_ERR_UNSUPPORTED (another validityType); *preason gets a sentence. */
WR_MUST_CHECK int wr_ipns_record_decode(const uint8_t *p, size_t n, wr_ipns_record *rec,
                                        const char **preason);

/* Checks a decoded record for name at now_ns: the key is the record's
 * pubKey (whose peer ID must be name) or the one inlined in name; the V2
 * signature verifies; the EOL has not passed. 0, WR_ERR_DENIED (bad
 * signature, key of another name), WR_ERR_TIMEOUT (expired),
 * WR_ERR_NOTFOUND (no key: a hashed name and no pubKey), WR_ERR_UNSUPPORTED
 * (not Ed25519), WR_ERR_MALFORMED (pubKey); *preason gets a sentence. */
WR_MUST_CHECK int wr_ipns_record_verify(const wr_ipns_record *rec, const wr_peerid *name,
                                        int64_t now_ns, const char **preason);

/* decode then verify. */
WR_MUST_CHECK int wr_ipns_validate(const uint8_t *p, size_t n, const wr_peerid *name,
                                   int64_t now_ns, wr_ipns_record *rec, const char **preason);

/* Orders two valid records of one name: > 0 when a is better (higher
 * sequence, then later EOL), < 0 when b is, 0 when neither. */
int wr_ipns_record_compare(const wr_ipns_record *a, const wr_ipns_record *b);

/* The routing key of name: "/ipns/" || multihash. Returns its length or
 * WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_ipns_routing_key(const wr_peerid *name, uint8_t *out, size_t cap);
/* Reads a routing key back into a name. WR_ERR_MALFORMED with *preason. */
WR_MUST_CHECK int wr_ipns_routing_key_parse(const uint8_t *key, size_t n, wr_peerid *name,
                                            const char **preason);

/* Parses a name as text: a base58 peer ID or a CIDv1 with codec
 * libp2p-key, optionally after "/ipns/". WR_ERR_MALFORMED with *preason. */
WR_MUST_CHECK int wr_ipns_name_parse(const char *s, size_t n, wr_peerid *name,
                                     const char **preason);

/* The DHT's record validator for the "ipns" namespace (go-libp2p-record's
 * Validator): key is the routing key, value the record; now_ns the caller's
 * clock. Returns 0 or an error of wr_ipns_validate / the key parse. */
WR_MUST_CHECK int wr_ipns_dht_validate(const uint8_t *key, size_t keylen, const uint8_t *value,
                                       size_t valuelen, int64_t now_ns, const char **preason);
/* Picks the best of n records for one key (all already validated): writes
 * its index to *pbest. Records that do not decode lose. 0, or
 * WR_ERR_NOTFOUND when none decodes (or n is 0). */
WR_MUST_CHECK int wr_ipns_dht_select(const uint8_t *const *values, const size_t *lens, size_t n,
                                     size_t *pbest);

/* RFC 3339 time text <-> Unix nanoseconds. Parse accepts "Z" or a +hh:mm /
 * -hh:mm offset and 0 to 9 fraction digits; WR_ERR_MALFORMED with *preason.
 * Format writes UTC with 9 fraction digits (as js-ipns does) and returns the
 * length, or WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_ipns_time_parse(const char *s, size_t n, int64_t *pns, const char **preason);
WR_MUST_CHECK int wr_ipns_time_format(int64_t ns, char *out, size_t cap);

#endif
