/* gwname.c: IPNS names in gateway requests (gateway/gwname.h). */
#include "gateway/gwname.h"

#include <stdio.h>
#include <string.h>

#include "proto/ipns/ipns.h"
#include "proto/multiformats/cid.h"
#include "proto/multiformats/multibase.h"
#include "proto/multiformats/multihash.h"
#include "proto/text/hostname.h"

static int why(const char **pwhy, const char *s, int err) {
  if (pwhy)
    *pwhy = s;
  return err;
}

/* A key written as a CIDv1 of another codec (dag-pb, as old tools did):
 * its multihash is still the peer ID; the gateway redirects to the
 * libp2p-key form. */
static int key_in_other_cid(const char *s, size_t n, wr_peerid *id) {
  wr_cid cid;
  uint8_t mh[WR_MH_MAX_BYTES];
  if (wr_cid_parse(s, n, &cid, NULL) != 0 || cid.version != 1)
    return WR_ERR_INVAL;
  int k = wr_mh_encode(&cid.mh, mh, sizeof mh);
  if (k < 0 || wr_peerid_decode(mh, (size_t)k, id, NULL) != 0)
    return WR_ERR_INVAL;
  return 0;
}

int wr_gw_name_parse(const char *s, size_t n, char canon[WR_GW_NAME_TEXT_MAX], int *pcanonical,
                     const char **pwhy) {
  *pcanonical = 0;
  if (n == 0)
    return why(pwhy, "the path names no IPNS name after /ipns/", WR_ERR_INVAL);
  wr_peerid id;
  if (memchr(s, '.', n) == NULL) {
    int libp2p_key = wr_ipns_name_parse(s, n, &id, NULL) == 0;
    if (!libp2p_key && key_in_other_cid(s, n, &id) != 0)
      return why(pwhy,
                 "the IPNS name is neither a key (a peer ID or a libp2p-key CID) nor a "
                 "DNS name",
                 WR_ERR_INVAL);
    /* Lowercase base36 that decodes is already canonical: a CIDv1 starts
     * with byte 1, so its base36 text has no leading zero digit and only one
     * spelling (encoding again is a bignum division per digit: skipped). */
    int lower36 = libp2p_key && s[0] == 'k' && n < WR_GW_NAME_TEXT_MAX;
    for (size_t i = 1; lower36 && i < n; i++)
      lower36 = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z');
    if (lower36 && s[1] != '0') {
      memcpy(canon, s, n);
      canon[n] = '\0';
      *pcanonical = 1;
      return WR_GW_NAME_KEY;
    }
    int k = wr_peerid_format_cid(&id, WR_MB_BASE36, canon, WR_GW_NAME_TEXT_MAX);
    if (k < 0)
      return why(pwhy, "the IPNS key is too long", WR_ERR_INVAL);
    *pcanonical = (size_t)k == n && memcmp(canon, s, n) == 0;
    return WR_GW_NAME_KEY;
  }
  char host[WR_HOSTNAME_MAX + 1];
  const char *hwhy = NULL;
  if (n > WR_HOSTNAME_MAX || wr_hostname_check(s, n, 0, host, &hwhy) != 0)
    return why(pwhy, "the IPNS name is not a valid DNS name", WR_ERR_INVAL);
  size_t hl = strlen(host);
  memcpy(canon, host, hl + 1);
  *pcanonical = hl == n && memcmp(host, s, n) == 0;
  return WR_GW_NAME_DOMAIN;
}

int wr_gw_dns_inline(const char *name, char *out, size_t cap) {
  size_t k = 0;
  for (const char *p = name; *p; p++) {
    size_t need = *p == '-' ? 2 : 1;
    if (k + need >= cap || k + need > 63)
      return WR_ERR_LIMIT;
    if (*p == '-') {
      out[k++] = '-';
      out[k++] = '-';
    } else {
      out[k++] = *p == '.' ? '-' : *p;
    }
  }
  if (cap == 0)
    return WR_ERR_LIMIT;
  out[k] = '\0';
  return (int)k;
}

int wr_gw_dns_uninline(const char *label, size_t n, char *out, size_t cap) {
  if (n == 0 || label[0] == '-' || label[n - 1] == '-')
    return WR_ERR_INVAL;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    if (label[i] == '-') {
      /* A DNS label neither starts nor ends with '-', so no '.' touches a
       * '-' in the name: a lone '-' was a '.', an even run was dashes. */
      size_t run = 0;
      while (i + run < n && label[i + run] == '-')
        run++;
      if (run > 1 && run % 2)
        return WR_ERR_INVAL;
      size_t emit = run == 1 ? 1 : run / 2;
      if (k + emit >= cap)
        return WR_ERR_LIMIT;
      for (size_t j = 0; j < emit; j++)
        out[k++] = run == 1 ? '.' : '-';
      i += run;
      continue;
    }
    if (k + 1 >= cap)
      return WR_ERR_LIMIT;
    out[k++] = label[i++];
  }
  out[k] = '\0';
  return (int)k;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

int wr_gw_ipns_subdomain(const char *host, size_t n, const char *gwhost,
                         char name[WR_GW_NAME_TEXT_MAX], int *pinlined, const char **pwhy) {
  *pinlined = 0;
  /* drop a port */
  const char *colon = memchr(host, ':', n);
  if (colon)
    n = (size_t)(colon - host);
  if (n && host[n - 1] == '.')
    n--;
  size_t gl = strlen(gwhost);
  /* "NAME.ipns." + gwhost */
  if (n < gl + 6)
    return 0;
  const char *tail = host + n - gl;
  for (size_t i = 0; i < gl; i++)
    if (lower(tail[i]) != gwhost[i])
      return 0;
  const char *ns = tail - 6;
  static const char ipns[] = ".ipns.";
  for (size_t i = 0; i < 6; i++)
    if (lower(ns[i]) != ipns[i])
      return 0;
  size_t ln = (size_t)(ns - host);
  if (ln == 0)
    return why(pwhy, "the host names no IPNS name before .ipns.", WR_ERR_INVAL);
  if (ln >= WR_GW_NAME_TEXT_MAX)
    return why(pwhy, "the IPNS name in the host is too long", WR_ERR_INVAL);
  char given[WR_GW_NAME_TEXT_MAX];
  for (size_t i = 0; i < ln; i++)
    given[i] = lower(host[i]);
  given[ln] = '\0';
  if (memchr(given, '.', ln) != NULL) {
    memcpy(name, given, ln + 1); /* a DNSLink name, not inlined */
    return 1;
  }
  if (ln > 63)
    return why(pwhy, "the host's first label is longer than a DNS label (63 characters)",
               WR_ERR_INVAL);
  wr_peerid id;
  if (wr_ipns_name_parse(given, ln, &id, NULL) == 0 || key_in_other_cid(given, ln, &id) == 0) {
    memcpy(name, given, ln + 1);
    return 1;
  }
  if (wr_gw_dns_uninline(given, ln, name, WR_GW_NAME_TEXT_MAX) < 0)
    return why(pwhy, "the host's first label is neither an IPNS key nor an inlined DNS name",
               WR_ERR_INVAL);
  *pinlined = 1;
  return 1;
}

/* ---- the plan --------------------------------------------------------- */

static void plan_error(wr_gw_plan *o, int status, const char *w) {
  o->action = WR_GW_PLAN_ERROR;
  o->status = status;
  o->why = w;
}

/* Fits or fails the plan with a 414. */
static int fits(wr_gw_plan *o, int k, size_t cap) {
  if (k < 0 || (size_t)k >= cap) {
    plan_error(o, 414, "the request path is too long");
    return 0;
  }
  return 1;
}

/* The raw target after its first n path bytes ("/ipns/NAME" as sent): where
 * the rest of the path and the query start. */
static const char *raw_after_name(const char *target) {
  const char *t = target + 6; /* "/ipns/" */
  while (*t && *t != '/' && *t != '?')
    t++;
  return t;
}

static size_t raw_path_len(const char *t) { return strcspn(t, "?"); }

/* The subdomain label of a canonical name: a key as is, a DNS name inlined. */
static int label_of(int kind, const char *canon, char *out, size_t cap) {
  if (kind == WR_GW_NAME_KEY) {
    size_t l = strlen(canon);
    if (l > 63 || l >= cap)
      return WR_ERR_LIMIT;
    memcpy(out, canon, l + 1);
    return (int)l;
  }
  return wr_gw_dns_inline(canon, out, cap);
}

/* Host without its port. */
static size_t host_len(const char *h) {
  const char *c = strchr(h, ':');
  return c ? (size_t)(c - h) : strlen(h);
}

static void set_resolve(wr_gw_plan *o, const char *name, const char *rest) {
  o->action = WR_GW_PLAN_RESOLVE;
  o->has_rest = rest[0] && strcmp(rest, "/") != 0;
  fits(o, snprintf(o->resolve, sizeof o->resolve, "/ipns/%s%s", name, rest), sizeof o->resolve);
}

void wr_gw_plan_name(const wr_gw_plan_in *in, wr_gw_plan *o) {
  memset(o, 0, sizeof *o);
  const char *path = in->path;
  size_t tl = raw_path_len(in->target);
  char canon[WR_GW_NAME_TEXT_MAX];
  int canonical = 0, kind;
  const char *w = NULL;
  switch (in->site) {
  case WR_GW_PLAN_SITE_CONTENT:
    if (!in->site_root || strncmp(in->site_root, "/ipns/", 6) != 0)
      return;
    {
      const char *n = in->site_root + 6, *e = strchr(n, '/');
      size_t nl = e ? (size_t)(e - n) : strlen(n);
      kind = wr_gw_name_parse(n, nl, canon, &canonical, &w);
      if (kind < 0)
        return plan_error(o, 502, w);
      if (kind == WR_GW_NAME_KEY)
        memcpy(o->key, canon, strlen(canon) + 1);
      char rest[WR_GW_PLAN_PATH_MAX];
      if (!fits(o, snprintf(rest, sizeof rest, "%s%s", e ? e : "", path), sizeof rest))
        return;
      set_resolve(o, canon, rest);
      o->has_rest = 1; /* a site's root is never a bare name to fetch a record for */
      fits(o, snprintf(o->xpath, sizeof o->xpath, "%s%.*s", in->site_root, (int)tl, in->target),
           sizeof o->xpath);
    }
    return;
  case WR_GW_PLAN_SITE_DNSLINK: {
    char host[WR_HOSTNAME_MAX + 1];
    size_t hl = host_len(in->host);
    if (hl && in->host[hl - 1] == '.')
      hl--;
    if (hl > WR_HOSTNAME_MAX || wr_hostname_check(in->host, hl, 0, host, NULL) != 0)
      return plan_error(o, 400, "the host is not a DNS name");
    set_resolve(o, host, path);
    o->has_rest = 1;
    fits(o, snprintf(o->xpath, sizeof o->xpath, "/ipns/%s%.*s", host, (int)tl, in->target),
         sizeof o->xpath);
    return;
  }
  case WR_GW_PLAN_SITE_SUBDOMAIN: {
    char name[WR_GW_NAME_TEXT_MAX];
    int inlined;
    int k = wr_gw_ipns_subdomain(in->host, strlen(in->host), in->site_host, name, &inlined, &w);
    if (k < 0)
      return plan_error(o, 400, w);
    if (k == 1) {
      kind = wr_gw_name_parse(name, strlen(name), canon, &canonical, &w);
      if (kind < 0)
        return plan_error(o, 400, w);
      if (kind == WR_GW_NAME_KEY && !canonical) {
        /* one canonical origin per key: base36 libp2p-key */
        const char *suffix = strstr(in->host, ".ipns.");
        if (!suffix)
          suffix = "";
        o->action = WR_GW_PLAN_REDIRECT;
        o->status = 301;
        fits(o,
             snprintf(o->location, sizeof o->location, "%s://%s%s%s", in->https ? "https" : "http",
                      canon, suffix, in->target),
             sizeof o->location);
        return;
      }
      if (kind == WR_GW_NAME_KEY)
        memcpy(o->key, canon, strlen(canon) + 1);
      set_resolve(o, canon, path);
      fits(o, snprintf(o->xpath, sizeof o->xpath, "/ipns/%s%.*s", canon, (int)tl, in->target),
           sizeof o->xpath);
      return;
    }
    if (strncmp(path, "/ipns/", 6) != 0)
      return; /* the gateway's own name: .ipfs. and /ipfs/ are the caller's */
    const char *n = path + 6, *e = strchr(n, '/');
    size_t nl = e ? (size_t)(e - n) : strlen(n);
    kind = wr_gw_name_parse(n, nl, canon, &canonical, &w);
    if (kind < 0)
      return plan_error(o, 400, w);
    char label[64];
    if (label_of(kind, canon, label, sizeof label) < 0)
      return plan_error(o, 400,
                        "the name is longer than a DNS label (63 characters) once "
                        "inlined, so it has no subdomain on this gateway");
    const char *rest = raw_after_name(in->target);
    o->action = WR_GW_PLAN_REDIRECT;
    o->status = 301;
    fits(o,
         snprintf(o->location, sizeof o->location, "%s://%s.ipns.%s%s%s",
                  in->https ? "https" : "http", label, in->host, *rest == '/' ? "" : "/", rest),
         sizeof o->location);
    return;
  }
  case WR_GW_PLAN_SITE_PATH:
  default: {
    if (strncmp(path, "/ipns/", 6) != 0)
      return;
    const char *n = path + 6, *e = strchr(n, '/');
    size_t nl = e ? (size_t)(e - n) : strlen(n);
    kind = wr_gw_name_parse(n, nl, canon, &canonical, &w);
    if (kind < 0)
      return plan_error(o, 400, w);
    if (kind == WR_GW_NAME_KEY && !canonical) {
      o->action = WR_GW_PLAN_REDIRECT;
      o->status = 302; /* kubo's and the conformance suite's code for this one */
      fits(o,
           snprintf(o->location, sizeof o->location, "/ipns/%s%s", canon,
                    raw_after_name(in->target)),
           sizeof o->location);
      return;
    }
    if (kind == WR_GW_NAME_KEY)
      memcpy(o->key, canon, strlen(canon) + 1);
    set_resolve(o, canon, e ? e : "");
    fits(o, snprintf(o->xpath, sizeof o->xpath, "%.*s", (int)tl, in->target), sizeof o->xpath);
    return;
  }
  }
}
