#include "proto/text/dnslink.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/multiformats/cid.h"
#include "proto/multiformats/multibase.h"
#include "proto/multiformats/multihash.h"
#include "proto/text/hostname.h"

static int fail(const char **preason, int err, const char *why) {
  if (preason)
    *preason = why;
  return err;
}

/* An IPNS key that is not a CID: a peer ID in base58btc without a multibase
 * prefix ("12D3KooW...", "Qm..."), i.e. a multihash. */
static int is_peer_id(const char *s, size_t n) {
  uint8_t bin[128];
  size_t nb = 0;
  wr_mh mh;
  if (wr_base_decode(WR_MB_BASE58BTC, s, n, bin, sizeof bin, &nb, NULL) != 0)
    return 0;
  return wr_mh_parse(bin, nb, &mh, NULL) == 0;
}

/* Path after the identifier: "" or "/seg/..."; copies it without a trailing
 * '/' into out. */
static int parse_rest(const char *s, size_t n, char *out, const char **preason) {
  if (n > 0 && s[n - 1] == '/')
    n--; /* "/ipfs/<cid>/" names the same thing as "/ipfs/<cid>" */
  if (n > WR_DNSLINK_MAX_PATH)
    return fail(preason, WR_ERR_LIMIT, "the path is longer than 1024 bytes");
  size_t i = 0;
  while (i < n) {
    /* s[i] == '/' here: the identifier's end or the previous segment's */
    size_t start = ++i;
    while (i < n && s[i] != '/') {
      unsigned char c = (unsigned char)s[i];
      if (c <= 0x20 || c >= 0x7f)
        return fail(preason, WR_ERR_MALFORMED,
                    "the path may only hold printable ASCII characters without spaces");
      i++;
    }
    size_t len = i - start;
    if (len == 0)
      return fail(preason, WR_ERR_MALFORMED, "the path has an empty segment (\"//\")");
    if ((len == 1 && s[start] == '.') || (len == 2 && s[start] == '.' && s[start + 1] == '.'))
      return fail(preason, WR_ERR_MALFORMED, "the path has a \".\" or \"..\" segment");
  }
  memcpy(out, s, n);
  out[n] = '\0';
  return 0;
}

int wr_dnslink_parse_path(const char *s, size_t n, wr_dnslink *out, const char **preason) {
  size_t off;
  memset(out, 0, sizeof *out);
  if (n > WR_DNSLINK_MAX_STR)
    return fail(preason, WR_ERR_LIMIT, "the content path is longer than 1283 bytes");
  if (n >= 6 && memcmp(s, "/ipfs/", 6) == 0) {
    out->ns = WR_DNSLINK_IPFS;
    off = 6;
  } else if (n >= 6 && memcmp(s, "/ipns/", 6) == 0) {
    out->ns = WR_DNSLINK_IPNS;
    off = 6;
  } else if (n == 0 || s[0] != '/') {
    return fail(preason, WR_ERR_MALFORMED,
                "a content path starts with '/', as in /ipfs/<cid> or /ipns/<name>");
  } else {
    const char *ns_end = memchr(s + 1, '/', n - 1);
    return fail(preason, ns_end && ns_end > s + 1 ? WR_ERR_UNSUPPORTED : WR_ERR_MALFORMED,
                ns_end && ns_end > s + 1
                    ? "the namespace is neither /ipfs/ nor /ipns/"
                    : "a content path needs a namespace and an identifier, as in /ipfs/<cid>");
  }
  const char *slash = memchr(s + off, '/', n - off);
  size_t idlen = (slash ? (size_t)(slash - s) : n) - off;
  const char *id = s + off;
  if (idlen == 0)
    return fail(preason, WR_ERR_MALFORMED, "the identifier after the namespace is empty");
  if (idlen > WR_DNSLINK_MAX_ID)
    return fail(preason, WR_ERR_LIMIT, "the identifier is longer than 253 bytes");
  const char *why = NULL;
  if (out->ns == WR_DNSLINK_IPFS) {
    wr_cid cid;
    if (wr_cid_parse(id, idlen, &cid, &why) != 0)
      return fail(preason, WR_ERR_MALFORMED, "the identifier after /ipfs/ is not a valid CID");
    memcpy(out->id, id, idlen);
    out->id[idlen] = '\0';
  } else if (memchr(id, '.', idlen)) {
    if (wr_hostname_check(id, idlen, 0, out->id, &why) != 0)
      return fail(preason, WR_ERR_MALFORMED,
                  "the domain after /ipns/ is not a valid DNS name (letters, digits, '-', dots)");
    out->is_domain = 1;
  } else {
    wr_cid cid;
    if (wr_cid_parse(id, idlen, &cid, &why) != 0 && !is_peer_id(id, idlen))
      return fail(preason, WR_ERR_MALFORMED,
                  "the name after /ipns/ is neither a key (CID or peer ID) nor a domain");
    memcpy(out->id, id, idlen);
    out->id[idlen] = '\0';
  }
  return parse_rest(id + idlen, n - off - idlen, out->path, preason);
}

int wr_dnslink_parse_txt(const char *s, size_t n, wr_dnslink *out, const char **preason) {
  const size_t pl = sizeof WR_DNSLINK_PREFIX - 1;
  if (n < pl || memcmp(s, WR_DNSLINK_PREFIX, pl) != 0) {
    memset(out, 0, sizeof *out);
    return fail(preason, WR_ERR_NOTFOUND, "the TXT value does not start with \"dnslink=\"");
  }
  return wr_dnslink_parse_path(s + pl, n - pl, out, preason);
}

/* Bytewise order of two values, shorter first on a common prefix. */
static int txt_cmp(const wr_dnslink_txt *a, const wr_dnslink_txt *b) {
  size_t m = a->n < b->n ? a->n : b->n;
  int c = memcmp(a->s, b->s, m);
  if (c != 0)
    return c;
  return a->n < b->n ? -1 : a->n > b->n;
}

int wr_dnslink_select(const wr_dnslink_txt *txts, size_t n, wr_dnslink *out, size_t *pindex,
                      wr_dnslink_ignored_cb ignored, void *arg, const char **preason) {
  /* Two passes keep this allocation-free: find the winner, then report the rest. */
  size_t best = SIZE_MAX, bad = SIZE_MAX;
  wr_dnslink cand;
  int best_ns = 0, bad_err = 0;
  const char *bad_why = NULL;
  for (size_t i = 0; i < n; i++) {
    const char *why = NULL;
    int rv = wr_dnslink_parse_txt(txts[i].s, txts[i].n, &cand, &why);
    if (rv == WR_ERR_NOTFOUND)
      continue;
    if (rv != 0) {
      if (bad == SIZE_MAX || txt_cmp(&txts[i], &txts[bad]) < 0) {
        bad = i;
        bad_err = rv;
        bad_why = why;
      }
      continue;
    }
    /* /ipfs (1) before /ipns (2), then the smallest value */
    if (best == SIZE_MAX || (int)cand.ns < best_ns ||
        ((int)cand.ns == best_ns && txt_cmp(&txts[i], &txts[best]) < 0)) {
      best = i;
      best_ns = (int)cand.ns;
      *out = cand;
    }
  }
  if (ignored) {
    for (size_t i = 0; i < n; i++) {
      const char *why = NULL;
      if (i == best)
        continue;
      int rv = wr_dnslink_parse_txt(txts[i].s, txts[i].n, &cand, &why);
      if (rv == WR_ERR_NOTFOUND)
        continue;
      if (rv == 0)
        ignored(i, WR_ERR_EXISTS,
                (int)cand.ns == best_ns ? "another valid dnslink= value sorts before it"
                                        : "a /ipfs/ value wins over a /ipns/ one",
                arg);
      else
        ignored(i, rv, why, arg);
    }
  }
  if (best != SIZE_MAX) {
    if (pindex)
      *pindex = best;
    return 0;
  }
  if (bad != SIZE_MAX)
    return fail(preason, bad_err, bad_why);
  return fail(preason, WR_ERR_NOTFOUND, "no TXT value starts with \"dnslink=\"");
}

int wr_dnslink_format(const wr_dnslink *l, const char *extra, char *out, size_t cap) {
  int n = snprintf(out, cap, "/%s/%s%s%s", l->ns == WR_DNSLINK_IPFS ? "ipfs" : "ipns", l->id,
                   l->path, extra ? extra : "");
  if (n < 0 || (size_t)n >= cap) {
    if (cap)
      out[0] = '\0';
    return WR_ERR_LIMIT;
  }
  return n;
}
