/* dnslink.h: DNSLink TXT values (dnslink.dev; ipfs/specs dnslink-gateway).
 *
 * A domain names content with a TXT record "dnslink=/ipfs/<cid>[/path]" or
 * "dnslink=/ipns/<name>[/path]" at _dnslink.<domain>. This module reads such
 * values and content paths of the same shape, and chooses one record among
 * several; it does no I/O (io/dnslink_resolver does the lookups). */
#ifndef WR_PROTO_TEXT_DNSLINK_H
#define WR_PROTO_TEXT_DNSLINK_H

#include <stddef.h>

#include "base/err.h"

#define WR_DNSLINK_PREFIX "dnslink="
/* Longest identifier: a domain (253) or a CID/key in text (base36 is the
 * longest a real key needs). */
#define WR_DNSLINK_MAX_ID 253
/* Longest path after the identifier, and longest content path formatted. */
#define WR_DNSLINK_MAX_PATH 1024
#define WR_DNSLINK_MAX_STR (6 + WR_DNSLINK_MAX_ID + WR_DNSLINK_MAX_PATH)

typedef enum wr_dnslink_ns {
  WR_DNSLINK_IPFS = 1, /* id is a CID: the end of a resolution */
  WR_DNSLINK_IPNS = 2, /* id is an IPNS key, or a domain (is_domain) to look up again */
} wr_dnslink_ns;

typedef struct wr_dnslink {
  wr_dnslink_ns ns;
  int is_domain;                      /* IPNS only: id is a DNS name (lowercased) */
  char id[WR_DNSLINK_MAX_ID + 1];     /* CID or key as written, or the domain */
  char path[WR_DNSLINK_MAX_PATH + 1]; /* "" or "/seg/seg", no trailing '/' */
} wr_dnslink;

/* One TXT value, its character-strings already joined (see proto/dns). */
typedef struct wr_dnslink_txt {
  const char *s;
  size_t n;
} wr_dnslink_txt;

/* Parses a content path "/ipfs/<cid>[/path]" or "/ipns/<name>[/path]" (n
 * bytes, no NUL needed) into *out. The identifier of /ipfs must be a CID;
 * that of /ipns a CID, a base58 peer ID, or a DNS name (it has a dot).
 * The path: printable ASCII without spaces, no empty, "." or ".." segments;
 * one trailing '/' is dropped. Returns 0, or WR_ERR_UNSUPPORTED (another
 * namespace), WR_ERR_LIMIT (too long) or WR_ERR_MALFORMED, with *preason
 * (may be NULL) a static sentence. */
WR_MUST_CHECK int wr_dnslink_parse_path(const char *s, size_t n, wr_dnslink *out,
                                        const char **preason);

/* Parses one TXT value: "dnslink=" then a content path as
 * wr_dnslink_parse_path takes it. WR_ERR_NOTFOUND when the value does not
 * start with "dnslink=" (another kind of TXT record, to skip quietly), else
 * as wr_dnslink_parse_path. */
WR_MUST_CHECK int wr_dnslink_parse_txt(const char *s, size_t n, wr_dnslink *out,
                                       const char **preason);

/* Called by wr_dnslink_select for each dnslink= value it does not use and
 * why: err WR_ERR_MALFORMED/UNSUPPORTED/LIMIT (why: the parser's reason) or
 * WR_ERR_EXISTS (a valid one that lost to a smaller one). */
typedef void (*wr_dnslink_ignored_cb)(size_t index, int err, const char *why, void *arg);

/* Chooses the DNSLink of a name among its n TXT values, deterministically
 * whatever order DNS returned them in: /ipfs wins over /ipns (it needs no
 * further lookup), and among valid values of one namespace the
 * lexicographically smallest (bytewise) wins. Values without "dnslink=" are
 * skipped silently; malformed ones and losers are reported to ignored (may
 * be NULL). Returns 0 with *out and *pindex (may be NULL), WR_ERR_NOTFOUND
 * when no value starts with "dnslink=", or the error of the smallest
 * dnslink= value when none is valid, with *preason set. */
WR_MUST_CHECK int wr_dnslink_select(const wr_dnslink_txt *txts, size_t n, wr_dnslink *out,
                                    size_t *pindex, wr_dnslink_ignored_cb ignored, void *arg,
                                    const char **preason);

/* Writes "/<ns>/<id><path>" and then extra (a path "/a/b" or "", may be
 * NULL) into out (cap bytes, NUL-terminated). Returns the length, or
 * WR_ERR_LIMIT when it does not fit. */
WR_MUST_CHECK int wr_dnslink_format(const wr_dnslink *l, const char *extra, char *out, size_t cap);

#endif
