/* gwname.h: the names a gateway request may carry, pure and
 * allocation-free: what follows /ipns/ (an IPNS key in any text form, or a
 * DNSLink domain), a host under a subdomain gateway's ".ipns.", and the
 * subdomain spec's DNS-label inlining of DNSLink names
 * ("en.wikipedia-on-ipfs.org" <-> "en-wikipedia--on--ipfs-org"). Every
 * refusal says why in one sentence (*pwhy, static). Fuzzed in
 * tests/fuzz/gwname_fuzz.c. */
#ifndef WR_GATEWAY_GWNAME_H
#define WR_GATEWAY_GWNAME_H

#include <stddef.h>

#include "base/err.h"

/* Longest name text written: a DNS name (253) or a key's CID text. */
#define WR_GW_NAME_TEXT_MAX 256

typedef enum wr_gw_name_kind {
  WR_GW_NAME_KEY = 1,    /* an IPNS key: canon is its CIDv1 libp2p-key in base36 */
  WR_GW_NAME_DOMAIN = 2, /* a DNSLink domain: canon is the lowercased DNS name */
} wr_gw_name_kind;

/* Reads an IPNS name (the segment after /ipns/, n bytes): a key (base58
 * peer ID, CIDv1 libp2p-key in any base) or a DNS name with at least one
 * dot. Writes its canonical text to canon (WR_GW_NAME_TEXT_MAX bytes) and
 * returns its kind; *pcanonical is 1 when s already was that text (else a
 * gateway redirects). WR_ERR_INVAL with a sentence otherwise. */
WR_MUST_CHECK int wr_gw_name_parse(const char *s, size_t n, char canon[WR_GW_NAME_TEXT_MAX],
                                   int *pcanonical, const char **pwhy);

/* A request Host under a subdomain gateway's IPNS namespace:
 * "NAME.ipns.GWHOST[:port]" (gwhost lowercase, no port). Returns 1 with
 * NAME in name (lowercased, WR_GW_NAME_TEXT_MAX bytes): a key's label as
 * given, a DNS name as given when it has dots, and a single label that is
 * not a key decoded from its inlined form (*pinlined then 1). 0 when host
 * is not under gwhost's ".ipns.", WR_ERR_INVAL (a label too long or
 * empty, a name that does not fit) with a sentence. */
WR_MUST_CHECK int wr_gw_ipns_subdomain(const char *host, size_t n, const char *gwhost,
                                       char name[WR_GW_NAME_TEXT_MAX], int *pinlined,
                                       const char **pwhy);

/* The subdomain spec's inlining of a DNS name into one label: each '-'
 * doubled, then each '.' made '-'. Returns the length, or WR_ERR_LIMIT when
 * it does not fit in cap (with the NUL) or the label would be over 63
 * bytes. */
WR_MUST_CHECK int wr_gw_dns_inline(const char *name, char *out, size_t cap);

/* The reverse: each pair of dashes -> '-', a lone '-' -> '.'. Returns the
 * length, or WR_ERR_LIMIT (cap), WR_ERR_INVAL (a label that cannot come
 * from inlining a DNS name: a '-' at either end, an odd run of 3 or more
 * dashes). */
WR_MUST_CHECK int wr_gw_dns_uninline(const char *label, size_t n, char *out, size_t cap);

/* ---- what a request's name asks of the gateway ------------------------ */

typedef enum wr_gw_plan_site {
  WR_GW_PLAN_SITE_PATH = 1,      /* a path gateway: /ipns/NAME/... */
  WR_GW_PLAN_SITE_SUBDOMAIN = 2, /* a subdomain gateway: NAME.ipns.HOST, HOST/ipns/NAME */
  WR_GW_PLAN_SITE_CONTENT = 3,   /* a site whose root may be /ipns/NAME[/p] */
  WR_GW_PLAN_SITE_DNSLINK = 4,   /* a host served from its own DNSLink */
} wr_gw_plan_site;

typedef struct wr_gw_plan_in {
  wr_gw_plan_site site;
  const char *site_host; /* the gateway's or site's name (lowercase); DNSLINK: may be NULL */
  const char *site_root; /* CONTENT: its root */
  const char *host;      /* the request's Host (may carry a port); not NULL */
  const char *path;      /* the decoded request path ("/..."), as gwparse splits it */
  const char *target;    /* the request target as sent (for redirects and X-Ipfs-Path) */
  int https;             /* redirects to a subdomain use https */
} wr_gw_plan_in;

typedef enum wr_gw_plan_action {
  WR_GW_PLAN_NONE = 0, /* no name: an /ipfs/ path, a CID subdomain, an /ipfs/ root */
  WR_GW_PLAN_RESOLVE,  /* resolve `resolve` (gateway/nameres.h), then serve it */
  WR_GW_PLAN_REDIRECT, /* answer `status` with Location `location` */
  WR_GW_PLAN_ERROR,    /* answer `status` with the sentence *why */
} wr_gw_plan_action;

#define WR_GW_PLAN_PATH_MAX (4096 + 512)

typedef struct wr_gw_plan {
  wr_gw_plan_action action;
  int status;
  const char *why;
  char resolve[WR_GW_PLAN_PATH_MAX];  /* "/ipns/<canonical name>[/decoded rest]" */
  char xpath[WR_GW_PLAN_PATH_MAX];    /* X-Ipfs-Path: the /ipns/ path as asked, escaped */
  char location[WR_GW_PLAN_PATH_MAX]; /* REDIRECT */
  char key[WR_GW_NAME_TEXT_MAX];      /* the name when it is a key (base36), else "" */
  int has_rest;                       /* a path below the name (not only "/") */
} wr_gw_plan;

/* Works out what in's request names (IPNS keys, DNSLink names, with the
 * subdomain spec's redirects: non-canonical keys, HOST/ipns/NAME to
 * NAME.ipns.HOST with DNS names inlined). Pure; out is filled in full. */
void wr_gw_plan_name(const wr_gw_plan_in *in, wr_gw_plan *out);

#endif
