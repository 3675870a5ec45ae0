/* names.h: the node's IPNS records: publish, keep, resolve (kubo's `ipfs
 * name`), from the repo.
 *
 * REPO/ipns/<name as CIDv1 libp2p-key in base36> holds the best record
 * known for that name, as published here or imported; mode 0644, written
 * atomically under a per-file lock, so concurrent publishes of one key get
 * distinct, increasing sequence numbers. The sequence lives in the record
 * itself: publishing a new value takes the stored record's sequence plus
 * one, republishing the same value keeps it (the new record still wins by
 * its later EOL), as kubo does. The DHT, when it lands, puts these records
 * and feeds the ones it gets to wr_names_store. */
#ifndef WR_CONTENT_NAMES_H
#define WR_CONTENT_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/ipns/ipns.h"

#define WR_NAMES_DIR "ipns"
/* How many /ipns/<key> hops a resolve follows. */
#define WR_NAMES_MAX_DEPTH 32
#define WR_NAMES_PATH_MAX 4096

/* Signs value (an /ipfs/ or /ipns/ path) with sk, valid for lifetime_ns from
 * now_ns, cacheable for ttl_ns, and stores it. *pseq gets the sequence
 * used; rec (may be NULL) gets the record bytes appended. 0, WR_ERR_INVAL
 * (bad value or lifetime), WR_ERR_LIMIT, WR_ERR_CORRUPT (the stored record
 * does not decode), WR_ERR_IO; err gets one sentence. */
WR_MUST_CHECK int wr_names_publish(const char *repo, const wr_p2p_privkey *sk, const char *value,
                                   int64_t lifetime_ns, uint64_t ttl_ns, int64_t now_ns,
                                   uint64_t *pseq, wr_buf *rec, char *err, size_t errlen);

/* Signs sk's stored record again, as kubo's republisher does: the same
 * value, sequence and TTL, valid until the later of now_ns + lifetime_ns and
 * its old EOL (kubo bumps no sequence for an unchanged value; the later EOL
 * wins the selection). rec (may be NULL) gets the new bytes appended. 0,
 * WR_ERR_NOTFOUND (nothing published with sk), WR_ERR_CORRUPT (the stored
 * record does not decode or verify), WR_ERR_INVAL, WR_ERR_IO. */
WR_MUST_CHECK int wr_names_republish(const char *repo, const wr_p2p_privkey *sk,
                                     int64_t lifetime_ns, int64_t now_ns, wr_buf *rec, char *err,
                                     size_t errlen);

/* The file that holds name's record (it may not exist), in out (cap
 * bytes): for a reader that notices a change with stat(2) before reading
 * again. 0, WR_ERR_INVAL (too long). */
WR_MUST_CHECK int wr_names_record_path(const char *repo, const wr_peerid *name, char *out,
                                       size_t cap);

/* Appends the stored record of name to rec (unchecked). 0, WR_ERR_NOTFOUND,
 * WR_ERR_IO. */
WR_MUST_CHECK int wr_names_load(const char *repo, const wr_peerid *name, wr_buf *rec, char *err,
                                size_t errlen);

/* Validates a record of name (from a file, the network) and keeps it when it
 * beats the stored one (or none is stored, or the stored one expired).
 * *pkept is 1 when it was stored. 0, an error of wr_ipns_validate (err
 * says why), WR_ERR_IO. */
WR_MUST_CHECK int wr_names_store(const char *repo, const wr_peerid *name, const uint8_t *p,
                                 size_t n, int64_t now_ns, int *pkept, char *err, size_t errlen);

/* Resolves "/ipns/<key>[/rest]" or "<key>[/rest]" through stored records:
 * each record is validated at now_ns; with recursive, a value that is
 * another /ipns/<key> is followed (at most WR_NAMES_MAX_DEPTH hops). The
 * result goes to out with rest appended: an /ipfs/ path, or /ipns/<domain>
 * (a DNSLink name, for the caller), or, without recursive, the first value.
 * *pttl_ns (may be NULL) gets the smallest TTL on the way. 0,
 * WR_ERR_NOTFOUND (no record), WR_ERR_MALFORMED (not a key name), an error
 * of wr_ipns_validate, WR_ERR_LIMIT; err says which name failed and why. */
WR_MUST_CHECK int wr_names_resolve(const char *repo, const char *name, int64_t now_ns,
                                   int recursive, char *out, size_t cap, uint64_t *pttl_ns,
                                   char *err, size_t errlen);

#endif
