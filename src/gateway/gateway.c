/* gateway.c: the IPFS HTTP gateway handler (gateway/gateway.h).
 *
 * One exchange is a wr_gateway_req: what the request asked (copied at
 * on_request), then, once resolved (names through gateway/nameres, the
 * path through the store), a head and a producer that gateway/gwbody.c
 * runs; a miss in the store parks the request in gateway/gwfetch.c when a
 * fetcher is configured. */
#include "gateway/gateway.h"
#include "gateway/gw_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "content/exporter.h"
#include "gateway/carwalk.h"
#include "gateway/dirwalk.h"
#include "gateway/gwname.h"
#include "gateway/gwparse.h"
#include "gateway/mime.h"
#include "gateway/nameres.h"
#include "gateway/prefetch.h"
#include "gateway/redirstep.h"
#include "http/page.h"
#include "proto/multiformats/multibase.h"

#define IMMUTABLE "public, max-age=29030400, immutable"
#define LISTING_CACHE "public, max-age=604800, stale-while-revalidate=2678400"
/* Bumped when the generated listing changes, so caches drop old ones. */
#define DIRINDEX_VERSION "wr1"
#define MAX_ROOTS 64
#define MAX_FIELDS 24

int wr_gateway_new(wr_gateway **pg, const wr_gateway_config *cfg) {
  wr_gateway *g = wr_calloc(1, sizeof *g);
  if (!g)
    return WR_ERR_NOMEM;
  g->bs = cfg->bs;
  g->m_responses = wr_metrics_family(cfg->reg, WR_METRIC_COUNTER, "warren_gateway_responses_total",
                                     "Gateway responses, by status code.", "code");
  g->m_kinds = wr_metrics_family(cfg->reg, WR_METRIC_COUNTER, "warren_gateway_requests_total",
                                 "Gateway requests, by what was served.", "kind");
  g->m_bytes = wr_metrics_counter(cfg->reg, "warren_gateway_response_body_bytes_total",
                                  "Body bytes the gateway served.");
  g->dnslink = cfg->dnslink;
  g->repo = cfg->repo ? wr_strdup(cfg->repo) : NULL;
  if (!g->m_responses || !g->m_kinds || !g->m_bytes || (cfg->repo && !g->repo) ||
      wr_gw_namecache_new(&g->names) != 0) {
    wr_free(g->repo);
    wr_free(g);
    return WR_ERR_NOMEM;
  }
  if (cfg->fetcher.open) {
    g->fetcher = cfg->fetcher;
    g->loop = cfg->loop;
    g->fetch_timeout_ms =
        cfg->fetch_timeout_ms ? cfg->fetch_timeout_ms : WR_GATEWAY_DEFAULT_FETCH_TIMEOUT_MS;
    g->max_fetches = cfg->max_fetches ? cfg->max_fetches : WR_GATEWAY_DEFAULT_MAX_FETCHES;
    g->m_fetches = wr_metrics_family(
        cfg->reg, WR_METRIC_COUNTER, "warren_gateway_fetches_total",
        "Gateway requests that met a missing block and asked the IPFS network, by result "
        "(ok, timeout, error, busy: over the limit, cancelled: the user left, shared: waited "
        "on another request's fetch).",
        "result");
    g->m_fetching = wr_metrics_gauge(cfg->reg, "warren_gateway_fetches_running",
                                     "Gateway fetches from the IPFS network running now.");
    g->m_fetch_seconds =
        wr_metrics_counter(cfg->reg, "warren_gateway_fetch_seconds_total",
                           "Time gateway requests spent waiting on the IPFS network.");
    if (!g->loop || !g->m_fetches || !g->m_fetching || !g->m_fetch_seconds) {
      wr_free(g);
      return WR_ERR_NOMEM;
    }
  }
  *pg = g;
  return 0;
}

void wr_gateway_free(wr_gateway *g) {
  if (g) {
    wr_free(g->repo);
    wr_gw_namecache_free(g->names);
  }
  wr_free(g);
}

int wr_gateway_check_root(const char *root, const char **pwhy) {
  if (strncmp(root, "/ipns/", 6) == 0) {
    const char *n = root + 6, *e = strchr(n, '/');
    char canon[WR_GW_NAME_TEXT_MAX];
    int canonical;
    return wr_gw_name_parse(n, e ? (size_t)(e - n) : strlen(n), canon, &canonical, pwhy) < 0
               ? WR_ERR_INVAL
               : 0;
  }
  if (strncmp(root, "/ipfs/", 6) != 0) {
    *pwhy = "a content root must start with /ipfs/ or /ipns/ (for example /ipfs/bafy...)";
    return WR_ERR_INVAL;
  }
  const char *c = root + 6, *e = strchr(c, '/');
  size_t n = e ? (size_t)(e - c) : strlen(c);
  wr_cid cid;
  const char *why = NULL;
  if (wr_cid_parse(c, n, &cid, &why) != 0) {
    *pwhy = why ? why : "not a valid CID";
    return WR_ERR_INVAL;
  }
  return 0;
}

/* ---- small helpers ------------------------------------------------------- */

static char *strndup_(const char *s, size_t n) {
  char *d = wr_malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static int method_is(const wr_h1_head *h, const char *m) {
  return h->method.len == strlen(m) && memcmp(h->method.p, m, h->method.len) == 0;
}

static char *dup_field(const wr_h1_head *h, const char *name) {
  const wr_h1_header *f = wr_h1_find(h->headers, h->nheaders, name);
  return f ? strndup_(f->value.p, f->value.len) : NULL;
}

static void count(wr_gateway_req *r, int status, const char *kind) {
  char code[8];
  snprintf(code, sizeof code, "%d", status);
  wr_metric_inc(wr_metric_child(r->g->m_responses, code));
  if (kind)
    wr_metric_inc(wr_metric_child(r->g->m_kinds, kind));
}

/* Ends the exchange for the gateway and frees r unless a pump is running
 * (it frees r when it unwinds). */

void wr_gw_error_page(wr_gateway_req *r, int status, const char *title, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void wr_gw_error_page(wr_gateway_req *r, int status, const char *title, const char *fmt, ...) {
  char detail[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  count(r, status, "error");
  if (status >= 500)
    WR_WARN("Gateway error", "host=%s target=%s status=%d reason=\"%s\"", r->host, r->target,
            status, detail);
  r->finished = 1;
  r->q->sink = NULL;
  wr_http_page_send(r->q, status, title, detail, 0);
  if (!r->in_pump)
    wr_gw_req_free(r);
}

/* Response header fields, built in one buffer. */
typedef struct fields {
  wr_h1_header h[MAX_FIELDS];
  size_t n;
  char buf[4096];
  size_t used;
} fields;

static void add(fields *f, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(fields *f, const char *name, const char *fmt, ...) {
  if (f->n == MAX_FIELDS || f->used >= sizeof f->buf)
    return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(f->buf + f->used, sizeof f->buf - f->used, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= sizeof f->buf - f->used)
    return;
  f->h[f->n++] = (wr_h1_header){{name, strlen(name)}, {f->buf + f->used, (size_t)k}};
  f->used += (size_t)k + 1;
}

/* ---- the request: what it names ------------------------------------------- */

static int is_b32_canonical(const char *label, const wr_cid *cid, char *canon, size_t cap) {
  wr_cid v1;
  wr_cid_to_v1(cid, &v1);
  if (wr_cid_format(&v1, WR_MB_BASE32, canon, cap) < 0)
    return 0;
  return strcmp(canon, label) == 0;
}

static const char *scheme(const wr_gateway_req *r) {
  if (r->tls || (r->xfproto && strcmp(r->xfproto, "https") == 0))
    return "https";
  return "http";
}

static void redirect_status(wr_gateway_req *r, int status, const char *location) {
  fields f = {0};
  add(&f, "Location", "%s", location);
  add(&f, "Content-Length", "0");
  count(r, status, "redirect");
  r->finished = 1;
  r->q->sink = NULL;
  if (r->q->ops->head(r->q, status, f.h, f.n, 0) == 0)
    r->q->ops->end(r->q);
  else
    r->q->ops->abort(r->q);
  if (!r->in_pump)
    wr_gw_req_free(r);
}

static void redirect(wr_gateway_req *r, const char *location) { redirect_status(r, 301, location); }

/* The host (with port) the user asked for, for absolute redirects. */
static const char *req_host(const wr_gateway_req *r) { return r->host ? r->host : ""; }

/* The name the request carries (gateway/gwname.h) into rs->plan. */
static wr_gw_plan_action plan_name(wr_gateway_req *r, resolved *rs, const char *path) {
  static const wr_gw_plan_site kinds[] = {
      [WR_GW_SITE_PATH] = WR_GW_PLAN_SITE_PATH,
      [WR_GW_SITE_SUBDOMAIN] = WR_GW_PLAN_SITE_SUBDOMAIN,
      [WR_GW_SITE_CONTENT] = WR_GW_PLAN_SITE_CONTENT,
      [WR_GW_SITE_DNSLINK] = WR_GW_PLAN_SITE_DNSLINK,
  };
  wr_gw_plan_in in = {.site = kinds[r->site->kind],
                      .site_host = r->site->host,
                      .site_root = r->site->root,
                      .host = r->host,
                      .path = path,
                      .target = r->target,
                      .https = strcmp(scheme(r), "https") == 0};
  wr_gw_plan_name(&in, &rs->plan);
  return rs->plan.action;
}

/* Works out the content path from the site and the target. Returns 0 to
 * go on, 1 when it answered (redirect or error), 2 when a name must be
 * resolved first (rs->plan says which). */
static int locate(wr_gateway_req *r, resolved *rs) {
  const wr_gateway_site *site = r->site;
  char path[WR_GW_PATH_MAX];
  const char *why = NULL;
  if (wr_gw_split_target(r->target, strlen(r->target), path, sizeof path, &rs->query, &rs->qlen,
                         &why) != 0) {
    wr_gw_error_page(r, 400, "Bad Request", "The request path is not valid: %s.", why);
    return 1;
  }
  memcpy(rs->url_path, path, strlen(path) + 1);
  memset(&rs->prm, 0, sizeof rs->prm);
  rs->prm.car_dups = -1;
  rs->prm.download = -1;
  if (r->accept && wr_gw_parse_accept(r->accept, strlen(r->accept), &rs->prm, &why) != 0) {
    wr_gw_error_page(r, 400, "Bad Request", "%s.", why);
    return 1;
  }
  if (wr_gw_parse_query(rs->query, rs->qlen, &rs->prm, &why) != 0) {
    wr_gw_error_page(r, 400, "Bad Request", "%s.", why);
    return 1;
  }
  const char *sub = NULL; /* the path under the root CID */
  char cidtext[WR_CID_MAX_STR + 8];
  switch (plan_name(r, rs, path)) {
  case WR_GW_PLAN_RESOLVE:
    if (!r->named)
      return 2; /* wr_gw_answer() resolves the name first */
    if (r->named->status) {
      wr_gw_error_page(r, r->named->status, wr_h1_status_text(r->named->status), "%s.",
                       r->named->err);
      return 1;
    }
    snprintf(rs->content_path, sizeof rs->content_path, "%s", r->named->path);
    break;
  case WR_GW_PLAN_REDIRECT:
    redirect_status(r, rs->plan.status, rs->plan.location);
    return 1;
  case WR_GW_PLAN_ERROR:
    wr_gw_error_page(r, rs->plan.status, wr_h1_status_text(rs->plan.status), "%s.", rs->plan.why);
    return 1;
  default:
    break;
  }
  if (r->named) {
    /* resolved above */
  } else if (site->kind == WR_GW_SITE_CONTENT) {
    int k = snprintf(rs->content_path, sizeof rs->content_path, "%s%s", site->root,
                     strcmp(path, "/") == 0 && strchr(site->root + 6, '/') == NULL ? "/" : path);
    if (k < 0 || (size_t)k >= sizeof rs->content_path) {
      wr_gw_error_page(r, 414, "URI Too Long", "The request path is too long.");
      return 1;
    }
  } else if (site->kind == WR_GW_SITE_SUBDOMAIN) {
    char label[64];
    int lr = r->host ? wr_gw_subdomain_label(r->host, strlen(r->host), site->host, label) : 0;
    if (lr == WR_ERR_LIMIT) {
      wr_gw_error_page(r, 400, "Bad Request",
                       "The CID in the host name is longer than a DNS label (63 characters).");
      return 1;
    }
    if (lr == 0) {
      /* The gateway's own name: path requests move to their subdomain. */
      if (strncmp(path, "/ipfs/", 6) != 0) {
        wr_gw_error_page(r, 404, "Not Found",
                         "This is a subdomain gateway: content lives at https://CID.ipfs.%s/.",
                         site->host);
        return 1;
      }
      const char *c = path + 6, *e = strchr(c, '/');
      size_t cn = e ? (size_t)(e - c) : strlen(c);
      wr_cid cid;
      if (wr_cid_parse(c, cn, &cid, &why) != 0) {
        wr_gw_error_page(r, 400, "Bad Request", "\"%.*s\" is not a valid CID: %s.",
                         (int)(cn > 100 ? 100 : cn), c, why ? why : "unreadable");
        return 1;
      }
      char canon[WR_CID_MAX_STR];
      (void)is_b32_canonical("", &cid, canon, sizeof canon);
      if (strlen(canon) > 63) {
        wr_gw_error_page(
            r, 400, "Bad Request",
            "The CID is longer than a DNS label (63 characters) in base32, so it has no "
            "subdomain on this gateway.");
        return 1;
      }
      /* Keep the raw rest of the target (path after the CID, query). */
      const char *t = r->target + 6;
      const char *te = t;
      while (*te && *te != '/' && *te != '?')
        te++;
      char loc[WR_GW_PATH_MAX + 512];
      snprintf(loc, sizeof loc, "%s://%s.ipfs.%s%s%s", scheme(r), canon, req_host(r),
               *te == '/' ? "" : "/", te);
      redirect(r, loc);
      return 1;
    }
    wr_cid cid;
    if (wr_cid_parse(label, strlen(label), &cid, &why) != 0) {
      wr_gw_error_page(r, 400, "Bad Request", "The host name's first label is not a valid CID: %s.",
                       why ? why : "unreadable");
      return 1;
    }
    char canon[WR_CID_MAX_STR];
    if (!is_b32_canonical(label, &cid, canon, sizeof canon)) {
      if (strlen(canon) > 63) {
        wr_gw_error_page(r, 400, "Bad Request",
                         "The CID is longer than a DNS label (63 characters) in base32.");
        return 1;
      }
      const char *hp = strstr(req_host(r), ".ipfs.");
      char loc[WR_GW_PATH_MAX + 512];
      snprintf(loc, sizeof loc, "%s://%s%s%s", scheme(r), canon, hp ? hp : "", r->target);
      redirect(r, loc);
      return 1;
    }
    snprintf(rs->content_path, sizeof rs->content_path, "/ipfs/%s%s", label, path);
  } else {
    if (strncmp(path, "/ipfs/", 6) != 0) {
      wr_gw_error_page(r, 404, "Not Found",
                       "This is an IPFS gateway: ask for /ipfs/CID or /ipfs/CID/path.");
      return 1;
    }
    snprintf(rs->content_path, sizeof rs->content_path, "%s", path);
  }
  /* content_path is /ipfs/<cid>[/rest] */
  const char *c = rs->content_path + 6, *e = strchr(c, '/');
  size_t cn = e ? (size_t)(e - c) : strlen(c);
  if (cn == 0 || cn >= sizeof cidtext) {
    wr_gw_error_page(r, 400, "Bad Request", "The path names no CID after /ipfs/.");
    return 1;
  }
  memcpy(cidtext, c, cn);
  cidtext[cn] = '\0';
  if (wr_cid_parse(cidtext, cn, &rs->root, &why) != 0) {
    wr_gw_error_page(r, 400, "Bad Request", "\"%.*s\" is not a valid CID: %s.",
                     (int)(cn > 100 ? 100 : cn), cidtext, why ? why : "unreadable");
    return 1;
  }
  sub = e ? e : "";
  snprintf(rs->rest, sizeof rs->rest, "%s", sub);
  size_t pl = strlen(rs->content_path);
  rs->trailing_slash = pl > 0 && rs->content_path[pl - 1] == '/';
  /* X-Ipfs-Path: the requested path before any decoding, so the header
   * holds no byte a field value cannot carry. */
  {
    const char *t = r->target;
    size_t tl = strcspn(t, "?");
    const char *pre = "";
    char lab[WR_CID_MAX_STR + 16];
    if (r->named) {
      pre = "";
      t = rs->plan.xpath;
      tl = strlen(t);
    } else if (site->kind == WR_GW_SITE_CONTENT) {
      pre = site->root;
    } else if (site->kind == WR_GW_SITE_SUBDOMAIN) {
      snprintf(lab, sizeof lab, "/ipfs/%s", cidtext);
      pre = lab;
    }
    snprintf(rs->xpath, sizeof rs->xpath, "%s%.*s", pre, (int)tl, t);
  }
  if (r->sw && strcmp(r->sw, "script") == 0 && !e) {
    wr_gw_error_page(r, 400, "Bad Request",
                     "A service worker may only be registered under /ipfs/CID/ (with the slash).");
    return 1;
  }
  return 0;
}

/* ---- recording the blocks a path walk reads --------------------------------- */

typedef struct rec_blocks {
  wr_blocks base;
  wr_blocks *inner;
  wr_cid *list;
  size_t n, cap;
  int nomem;
} rec_blocks;

static int rec_get(wr_blocks *b, const wr_cid *cid, const uint8_t **pd, size_t *pl) {
  rec_blocks *rb = (rec_blocks *)b;
  int rc = wr_blocks_get(rb->inner, cid, pd, pl);
  if (rc == 0) {
    for (size_t i = 0; i < rb->n; i++)
      if (rb->list[i].mh.size == cid->mh.size && rb->list[i].mh.code == cid->mh.code &&
          memcmp(rb->list[i].mh.digest, cid->mh.digest, cid->mh.size) == 0)
        return 0;
    if (rb->n == rb->cap) {
      size_t nc = rb->cap ? rb->cap * 2 : 8;
      wr_cid *nl = wr_realloc(rb->list, nc * sizeof *nl);
      if (!nl) {
        rb->nomem = 1;
        return 0;
      }
      rb->list = nl;
      rb->cap = nc;
    }
    rb->list[rb->n++] = *cid;
  }
  return rc;
}

static int rec_size(wr_blocks *b, const wr_cid *cid, size_t *pl) {
  return wr_blocks_size(((rec_blocks *)b)->inner, cid, pl);
}

static const wr_blocks_ops rec_ops = {.name = "path", .get = rec_get, .size = rec_size};

/* Sends the head and starts the producer (or ends a HEAD / empty answer). */
static void start(wr_gateway_req *r, int status, fields *f, int producer, int has_body) {
  if (r->forced_status)
    status = r->forced_status;
  r->producer = producer;
  r->q->sink = &r->sink;
  unsigned fl = has_body && !r->is_head ? WR_HTTP_RESP_BODY : 0;
  int rc = r->q->ops->head(r->q, status, f->h, f->n, fl);
  if (rc != 0) {
    wr_gw_finish(r, 0);
    return;
  }
  if (r->is_head || !has_body) {
    wr_gw_finish(r, 1);
    return;
  }
  wr_gw_pump(r);
}

/* ---- answering --------------------------------------------------------------- */

static void common(wr_gateway_req *r, fields *f, const resolved *rs, const char *etag,
                   const wr_cid *roots, size_t nroots, int deserialized) {
  if (etag)
    add(f, "Etag", "%s", etag);
  char date[40];
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm) && strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm))
    add(f, "Date", "%s", date); /* RFC 9110 6.6.1: a server with a clock sends it */
  if (r->named && r->named->has_ttl)
    add(f, "Cache-Control", "public, max-age=%llu",
        (unsigned long long)(r->named->ttl_ns / 1000000000u));
  else if (!r->named && r->site->kind != WR_GW_SITE_CONTENT)
    add(f, "Cache-Control", "%s", IMMUTABLE);
  if (deserialized) {
    add(f, "X-Ipfs-Path", "%s", rs->xpath);
    char line[MAX_ROOTS * (WR_CID_MAX_STR + 1)];
    size_t k = 0;
    line[0] = '\0';
    for (size_t i = 0; i < nroots; i++) {
      char cs[WR_CID_MAX_STR];
      int w = snprintf(line + k, sizeof line - k, "%s%s", i ? "," : "",
                       wr_gw_cidstr(&roots[i], cs, sizeof cs));
      if (w < 0 || (size_t)w >= sizeof line - k)
        break;
      k += (size_t)w;
    }
    if (nroots && strlen(line) < 2000)
      add(f, "X-Ipfs-Roots", "%s", line);
  }
  add(f, "Vary", "Accept");
}

/* Content-Location when Accept picked a format the URL does not name. */
static void content_location(wr_gateway_req *r, fields *f, const resolved *rs) {
  if (rs->prm.format_in_url || rs->prm.accept_format == WR_GW_FMT_NONE)
    return;
  const char *t = r->target;
  const char *qm = strchr(t, '?');
  add(f, "Content-Location", "%.*s?%s%sformat=%s", (int)(qm ? (size_t)(qm - t) : strlen(t)), t,
      rs->qlen ? qm + 1 : "", rs->qlen ? "&" : "", wr_gw_format_name(rs->prm.format));
}

static void disposition(fields *f, const char *kind, const char *name) {
  char ascii[WR_GW_NAME_MAX + 1], pct[WR_GW_NAME_MAX * 3 + 1];
  size_t a = 0, p = 0;
  int non_ascii = 0;
  for (const unsigned char *s = (const unsigned char *)name; *s && a < WR_GW_NAME_MAX; s++) {
    unsigned char c = *s;
    int plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    if ((c & 0xc0) != 0x80) /* one '_' per character, not per UTF-8 byte */
      ascii[a++] = plain ? (char)c : '_';
    if (c >= 0x80)
      non_ascii = 1;
    int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    if (keep)
      pct[p++] = (char)c;
    else
      p += (size_t)snprintf(pct + p, sizeof pct - p, "%%%02X", c);
  }
  ascii[a] = '\0';
  pct[p] = '\0';
  if (non_ascii)
    add(f, "Content-Disposition", "%s; filename=\"%s\"; filename*=UTF-8''%s", kind, ascii, pct);
  else
    add(f, "Content-Disposition", "%s; filename=\"%s\"", kind, ascii);
}

static int not_modified(wr_gateway_req *r, fields *f, const char *etag) {
  if (!r->inm || !wr_gw_etag_match(r->inm, strlen(r->inm), etag))
    return 0;
  count(r, 304, "not_modified");
  r->finished = 1;
  r->q->sink = NULL;
  if (r->q->ops->head(r->q, 304, f->h, f->n, 0) == 0)
    r->q->ops->end(r->q);
  else
    r->q->ops->abort(r->q);
  if (!r->in_pump)
    wr_gw_req_free(r);
  return 1;
}

/* Maps a resolution error to a page. */
static void resolve_error(wr_gateway_req *r, int rc, const wr_export *ex) {
  const char *why = ex->err[0] ? ex->err : wr_strerror(rc);
  int only_if_cached = r->cache_control && strstr(r->cache_control, "only-if-cached") != NULL;
  switch (rc) {
  case WR_ERR_NOTFOUND:
    if (only_if_cached) {
      wr_gw_error_page(r, 412, "Precondition Failed", "Not in this gateway's store: %s.", why);
      return;
    }
    if (r->g->fetcher.open && r->fetch_state == FETCH_NONE) {
      /* Asked of the network once wr_gw_answer() has unwound (park). */
      r->fetch_state = FETCH_WANTED;
      return;
    }
    wr_gw_error_page(r, 404, "Not Found", "%s.", why);
    return;
  case WR_ERR_INVAL:
    wr_gw_error_page(r, 400, "Bad Request", "%s.", why);
    return;
  case WR_ERR_UNSUPPORTED:
    wr_gw_error_page(r, 501, "Not Implemented", "%s.", why);
    return;
  case WR_ERR_CORRUPT:
  case WR_ERR_MALFORMED:
    wr_gw_error_page(r, 502, "Bad Gateway", "The content cannot be read: %s.", why);
    return;
  default:
    wr_gw_error_page(r, 500, "Internal Server Error", "%s.", why);
    return;
  }
}

static const char *codec_type(uint64_t codec) {
  switch (codec) {
  case WR_CODEC_DAG_JSON:
    return "application/vnd.ipld.dag-json";
  case WR_CODEC_DAG_CBOR:
    return "application/vnd.ipld.dag-cbor";
  case 0x0200:
    return "application/json";
  case 0x51:
    return "application/cbor";
  default:
    return NULL;
  }
}

static wr_gw_format codec_format(uint64_t codec) {
  switch (codec) {
  case WR_CODEC_DAG_JSON:
    return WR_GW_FMT_DAG_JSON;
  case WR_CODEC_DAG_CBOR:
    return WR_GW_FMT_DAG_CBOR;
  case 0x0200:
    return WR_GW_FMT_JSON;
  case 0x51:
    return WR_GW_FMT_CBOR;
  default:
    return WR_GW_FMT_NONE;
  }
}

/* One block's bytes as the body (raw block, or a dag-json/cbor block),
 * with Range. Block bytes are copied by the front, so it ends at once. */
static void serve_block(wr_gateway_req *r, const resolved *rs, wr_export *ex, const wr_cid *cid,
                        const char *type, int trustless) {
  const uint8_t *data;
  size_t len;
  int rc = wr_blocks_get(ex->blocks, cid, &data, &len);
  if (rc) {
    char cs[WR_CID_MAX_STR];
    snprintf(ex->err, sizeof ex->err, "block %s is not in this gateway's store",
             wr_gw_cidstr(cid, cs, sizeof cs));
    resolve_error(r, rc, ex);
    return;
  }
  char cs[WR_CID_MAX_STR], etag[WR_CID_MAX_STR + 16];
  wr_gw_cidstr(cid, cs, sizeof cs);
  snprintf(etag, sizeof etag, trustless ? "\"%s.raw\"" : "\"%s\"", cs);
  fields f = {0};
  common(r, &f, rs, etag, NULL, 0, 0);
  if (not_modified(r, &f, etag))
    return;
  add(&f, "Content-Type", "%s", type);
  if (trustless) {
    add(&f, "X-Content-Type-Options", "nosniff");
    if (rs->prm.filename[0])
      disposition(&f, "attachment", rs->prm.filename);
    else
      add(&f, "Content-Disposition", "attachment; filename=\"%s.bin\"", cs);
    content_location(r, &f, rs);
  }
  add(&f, "Accept-Ranges", "bytes");
  uint64_t first = 0, last = len ? len - 1 : 0;
  int status = 200;
  if (r->range) {
    int k = wr_gw_parse_range(r->range, strlen(r->range), len, &first, &last);
    if (k == WR_ERR_LIMIT) {
      add(&f, "Content-Range", "bytes */%zu", len);
      wr_gw_error_page(r, 416, "Range Not Satisfiable", "The range is outside the block.");
      return;
    }
    if (k == 1) {
      status = 206;
      add(&f, "Content-Range", "bytes %llu-%llu/%zu", (unsigned long long)first,
          (unsigned long long)last, len);
    }
  }
  size_t n = len ? (size_t)(last - first + 1) : 0;
  add(&f, "Content-Length", "%zu", n);
  count(r, status, trustless ? "raw" : "block");
  r->finished = 1;
  r->q->sink = NULL;
  if (r->q->ops->head(r->q, status, f.h, f.n, n ? WR_HTTP_RESP_BODY : 0) != 0) {
    r->q->ops->abort(r->q);
  } else {
    int brc = 0;
    if (n && !r->is_head) {
      brc = r->q->ops->body(r->q, data + first, n);
      if (brc == 0 || brc == WR_ERR_AGAIN)
        wr_metric_add(r->g->m_bytes, (double)n);
    }
    if (brc == 0 || brc == WR_ERR_AGAIN)
      r->q->ops->end(r->q);
    else
      r->q->ops->abort(r->q);
  }
  if (!r->in_pump)
    wr_gw_req_free(r);
}

static void serve_car(wr_gateway_req *r, const resolved *rs, wr_export *ex, const wr_cid *cid,
                      const rec_blocks *path) {
  if (rs->prm.car_bad_order) {
    wr_gw_error_page(r, 400, "Bad Request", "Only CAR order=dfs (or unk) is served.");
    return;
  }
  /* The root must be here: 404 before committing to 200. */
  int has = wr_blocks_has(ex->blocks, cid);
  if (has <= 0) {
    char cs[WR_CID_MAX_STR];
    snprintf(ex->err, sizeof ex->err, "block %s is not in this gateway's store",
             wr_gw_cidstr(cid, cs, sizeof cs));
    resolve_error(r, has == 0 ? WR_ERR_NOTFOUND : has, ex);
    return;
  }
  wr_carwalk_config wc = {.scope = rs->prm.scope, .dups = rs->prm.car_dups == 1};
  if (rs->prm.has_bytes && wc.scope == WR_GW_SCOPE_ENTITY) {
    wr_export_kind kind;
    uint64_t size;
    if (wr_export_stat(ex, cid, &kind, &size) == 0 && kind == WR_EXPORT_FILE) {
      if (wr_gw_entity_range(&rs->prm, size, &wc.first, &wc.last))
        wc.has_range = 1;
      else
        wc.scope = WR_GW_SCOPE_BLOCK; /* empty or outside: the root alone */
    }
  }
  char cs[WR_CID_MAX_STR], etag[WR_CID_MAX_STR + 96];
  wr_gw_cidstr(cid, cs, sizeof cs);
  static const char *scopes[] = {"all", "entity", "block"};
  if (wc.has_range)
    snprintf(etag, sizeof etag, "\"%s.car.dfs.%s.%s.%llu-%llu\"", cs, scopes[wc.scope],
             wc.dups ? "y" : "n", (unsigned long long)wc.first, (unsigned long long)wc.last);
  else
    snprintf(etag, sizeof etag, "\"%s.car.dfs.%s.%s\"", cs, scopes[wc.scope], wc.dups ? "y" : "n");
  fields f = {0};
  common(r, &f, rs, etag, NULL, 0, 0);
  if (not_modified(r, &f, etag))
    return;
  add(&f, "Content-Type", "application/vnd.ipld.car; version=1; order=dfs; dups=%s",
      wc.dups ? "y" : "n");
  add(&f, "X-Content-Type-Options", "nosniff");
  if (rs->prm.filename[0])
    disposition(&f, "attachment", rs->prm.filename);
  else
    add(&f, "Content-Disposition", "attachment; filename=\"%s.car\"", cs);
  add(&f, "Accept-Ranges", "none");
  content_location(r, &f, rs);
  if (wr_carwalk_new(&r->walk, cid, &wc) != 0) {
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
    return;
  }
  /* The blocks on the way to the terminal node go first. */
  if (path->n) {
    r->pathblk = wr_calloc(path->n, sizeof *r->pathblk);
    if (!r->pathblk) {
      wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
      return;
    }
    for (size_t i = 0; i < path->n; i++) {
      r->pathblk[i] = path->list[i];
      if (wr_carwalk_mark(r->walk, &path->list[i]) != 0) {
        wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
        return;
      }
    }
    r->npath = path->n;
  }
  r->cid = *cid;
  count(r, 200, "car");
  start(r, 200, &f, P_CAR, 1);
}

typedef struct sniff_acc {
  uint8_t p[WR_MIME_SNIFF_LEN];
  size_t n;
} sniff_acc;

static int sniff_write(void *arg, const uint8_t *p, size_t n) {
  sniff_acc *a = arg;
  size_t k = sizeof a->p - a->n < n ? sizeof a->p - a->n : n;
  memcpy(a->p + a->n, p, k);
  a->n += k;
  return 0;
}

/* etag_cid: the node the URL named (a folder, when this is its index.html). */
static void serve_file(wr_gateway_req *r, const resolved *rs, wr_export *ex, const wr_cid *cid,
                       const wr_cid *etag_cid, uint64_t size, const char *name, const wr_cid *roots,
                       size_t nroots) {
  char cs[WR_CID_MAX_STR], etag[WR_CID_MAX_STR + 4];
  snprintf(etag, sizeof etag, "\"%s\"", wr_gw_cidstr(etag_cid, cs, sizeof cs));
  fields f = {0};
  common(r, &f, rs, etag, roots, nroots, 1);
  if (not_modified(r, &f, etag))
    return;
  const char *type = rs->prm.filename[0] ? wr_mime_by_name(rs->prm.filename) : NULL;
  if (!type)
    type = wr_mime_by_name(name);
  if (!type) {
    sniff_acc acc = {.n = 0};
    int rc = wr_export_cat(ex, cid, 0, sizeof acc.p, sniff_write, &acc);
    if (rc) {
      resolve_error(r, rc, ex);
      return;
    }
    type = wr_mime_sniff(acc.p, acc.n);
  }
  add(&f, "Content-Type", "%s", type);
  if (rs->prm.download == 1)
    disposition(&f, "attachment", rs->prm.filename[0] ? rs->prm.filename : name);
  else if (rs->prm.filename[0])
    disposition(&f, "inline", rs->prm.filename);
  add(&f, "Accept-Ranges", "bytes");
  uint64_t first = 0, last = size ? size - 1 : 0;
  int status = 200;
  if (r->range && !r->forced_status) {
    int k = wr_gw_parse_range(r->range, strlen(r->range), size, &first, &last);
    if (k == WR_ERR_LIMIT) {
      add(&f, "Content-Range", "bytes */%llu", (unsigned long long)size);
      count(r, 416, "error");
      r->finished = 1;
      r->q->sink = NULL;
      add(&f, "Content-Length", "0");
      if (r->q->ops->head(r->q, 416, f.h, f.n, 0) == 0)
        r->q->ops->end(r->q);
      else
        r->q->ops->abort(r->q);
      if (!r->in_pump)
        wr_gw_req_free(r);
      return;
    }
    if (k == 1) {
      status = 206;
      add(&f, "Content-Range", "bytes %llu-%llu/%llu", (unsigned long long)first,
          (unsigned long long)last, (unsigned long long)size);
    }
  }
  uint64_t n = size ? last - first + 1 : 0;
  add(&f, "Content-Length", "%llu", (unsigned long long)n);
  r->cid = *cid;
  r->off = first;
  r->end = first + n;
  count(r, status, "file");
  start(r, status, &f, P_FILE, n > 0);
}

/* The last path segment (for Content-Type by extension). */
static const char *last_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static void serve_dir(wr_gateway_req *r, const resolved *rs, wr_export *ex, const wr_cid *cid,
                      const wr_cid *roots, size_t nroots) {
  if (!rs->trailing_slash) {
    /* Folders live at a URL ending in '/', so relative links work. */
    const char *t = r->target, *qm = strchr(t, '?');
    char loc[WR_GW_PATH_MAX + 512];
    snprintf(loc, sizeof loc, "%.*s/%s", (int)(qm ? (size_t)(qm - t) : strlen(t)), t, qm ? qm : "");
    redirect(r, loc);
    return;
  }
  char cs[WR_CID_MAX_STR];
  snprintf(ex->err, sizeof ex->err, "%s", "");
  wr_cid index;
  char ipath[WR_CID_MAX_STR + 16];
  snprintf(ipath, sizeof ipath, "%s/index.html", wr_gw_cidstr(cid, cs, sizeof cs));
  int rc = wr_export_resolve(ex, ipath, &index);
  if (rc == 0) {
    wr_export_kind kind;
    uint64_t size;
    rc = wr_export_stat(ex, &index, &kind, &size);
    if (rc == 0 && kind == WR_EXPORT_FILE) {
      serve_file(r, rs, ex, &index, cid, size, "index.html", roots, nroots);
      return;
    }
    if (rc == WR_ERR_NOTFOUND) {
      /* The folder names an index.html whose block is missing: not a
       * listing (the site has a page), a miss (fetched, or a 404). */
      resolve_error(r, rc, ex);
      return;
    }
  }
  if (rc != 0 && rc != WR_ERR_NOTFOUND) {
    resolve_error(r, rc, ex);
    return;
  }
  ex->err[0] = '\0';
  char etag[WR_CID_MAX_STR + 32];
  snprintf(etag, sizeof etag, "\"DirIndex-%s_CID-%s\"", DIRINDEX_VERSION, cs);
  fields f = {0};
  common(r, &f, rs, etag, roots, nroots, 1);
  /* A listing is the gateway's own page: cacheable, not immutable. */
  if (!r->named && r->site->kind != WR_GW_SITE_CONTENT) {
    f.n--; /* drop Vary to re-add it after */
    for (size_t i = 0; i < f.n; i++)
      if (f.h[i].name.len == 13 && memcmp(f.h[i].name.p, "Cache-Control", 13) == 0)
        f.h[i].value = (wr_h1_slice){LISTING_CACHE, strlen(LISTING_CACHE)};
    add(&f, "Vary", "Accept");
  }
  if (not_modified(r, &f, etag))
    return;
  add(&f, "Content-Type", "text/html; charset=utf-8");
  r->list_title = wr_strdup(rs->content_path);
  if (!r->list_title) {
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
    return;
  }
  /* Below the root there is a parent to go back to. */
  const char *rest = rs->rest;
  while (*rest == '/')
    rest++;
  r->list_parent = *rest != '\0';
  if (wr_dirwalk_new(&r->dir, cid) != 0) {
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
    return;
  }
  r->cid = *cid;
  count(r, 200, "listing");
  start(r, 200, &f, P_LIST, 1);
}

/* A missing path on a site with its own origin: the site's _redirects
 * (gateway/redirstep.h). Returns 1 when it answered, 0 when rs now names
 * the rule's path (a rewrite: serve it), -1 when the 404 stands. */
static int apply_redirects(wr_gateway_req *r, resolved *rs, wr_export *ex) {
  /* The site's root is the content path without the request's path. */
  size_t cl = strlen(rs->content_path), ul = strlen(rs->url_path);
  if (ul > cl || strcmp(rs->content_path + cl - ul, rs->url_path) != 0 ||
      strncmp(rs->content_path, "/ipfs/", 6) != 0)
    return -1;
  char root[WR_GW_PATH_MAX + 128];
  snprintf(root, sizeof root, "%.*s", (int)(cl - ul - 6), rs->content_path + 6);
  size_t rl = strlen(root);
  if (rl && root[rl - 1] == '/')
    root[--rl] = '\0';
  wr_gw_redir *rd = wr_malloc(sizeof *rd);
  if (!rd) {
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
    return 1;
  }
  char why[sizeof ex->err]; /* the 404's sentence, which looking for the file overwrites */
  memcpy(why, ex->err, sizeof why);
  wr_gw_redirects_apply(ex, root, rs->url_path, rs->query, rs->qlen, rd);
  memcpy(ex->err, why, sizeof why);
  int rv = -1;
  switch (rd->action) {
  case WR_GW_REDIR_REDIRECT:
    redirect_status(r, rd->status, rd->target);
    rv = 1;
    break;
  case WR_GW_REDIR_ERROR:
    wr_gw_error_page(r, 500, "Internal Server Error", "%s.", rd->err);
    rv = 1;
    break;
  case WR_GW_REDIR_REWRITE: {
    const char *sub = strchr(root, '/'); /* the site root below its CID */
    int k = snprintf(rs->rest, sizeof rs->rest, "%s%s", sub ? sub : "", rd->target);
    if (k < 0 || (size_t)k >= sizeof rs->rest)
      break;
    r->forced_status = rd->status == 200 ? 0 : rd->status;
    rs->trailing_slash = 1; /* a rewrite to a folder lists it: no redirect */
    rv = 0;
    break;
  }
  default:
    break;
  }
  wr_free(rd);
  return rv;
}

static void on_named(const wr_gw_nameres_result *res, void *arg) {
  wr_gateway_req *r = arg;
  r->nreq = NULL;
  r->named = wr_malloc(sizeof *r->named);
  if (!r->named) {
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
    return;
  }
  *r->named = *res;
  wr_gw_answer(r);
}

/* An IPNS key's signed record as the body (application/vnd.ipfs.ipns-record). */
static void serve_record(wr_gateway_req *r, const resolved *rs) {
  const wr_gw_plan *pl = &rs->plan;
  if (!pl->key[0] || pl->has_rest) {
    wr_gw_error_page(r, 400, "Bad Request",
                     "An IPNS record is only served for /ipns/KEY, without a path below it.");
    return;
  }
  wr_buf rec;
  wr_buf_init(&rec, WR_GW_RECORD_MAX);
  uint64_t ttl = 0;
  char err[300];
  int status = wr_gw_nameres_record(r->g->repo, pl->key, &rec, &ttl, err, sizeof err);
  if (status) {
    wr_buf_free(&rec);
    wr_gw_error_page(r, status, wr_h1_status_text(status), "%s.", err);
    return;
  }
  char etag[40];
  snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)wr_gw_record_etag(&rec));
  fields f = {0};
  add(&f, "Etag", "%s", etag);
  add(&f, "Cache-Control", "public, max-age=%llu", (unsigned long long)(ttl / 1000000000u));
  add(&f, "Vary", "Accept");
  if (not_modified(r, &f, etag)) {
    wr_buf_free(&rec);
    return;
  }
  add(&f, "Content-Type", "application/vnd.ipfs.ipns-record");
  add(&f, "X-Content-Type-Options", "nosniff");
  char name[WR_GW_NAME_TEXT_MAX + 16];
  snprintf(name, sizeof name, "%s.ipns-record", pl->key);
  disposition(&f, "attachment", rs->prm.filename[0] ? rs->prm.filename : name);
  content_location(r, &f, rs);
  add(&f, "Content-Length", "%zu", rec.len);
  count(r, 200, "ipns_record");
  r->finished = 1;
  r->q->sink = NULL;
  if (r->q->ops->head(r->q, 200, f.h, f.n, rec.len ? WR_HTTP_RESP_BODY : 0) != 0) {
    r->q->ops->abort(r->q);
  } else {
    int brc = r->is_head ? 0 : r->q->ops->body(r->q, rec.data, rec.len);
    if (brc == 0 || brc == WR_ERR_AGAIN)
      r->q->ops->end(r->q);
    else
      r->q->ops->abort(r->q);
  }
  wr_buf_free(&rec);
  if (!r->in_pump)
    wr_gw_req_free(r);
}

/* The request names an IPNS key or a DNSLink domain: its record, or the
 * resolution (at once from local records and cached DNS, else on the loop:
 * on_named answers). */
static void resolve_name(wr_gateway_req *r, resolved *rs) {
  if (rs->prm.format == WR_GW_FMT_IPNS) {
    serve_record(r, rs);
    return;
  }
  wr_gw_nameres_result *res = wr_malloc(sizeof *res);
  if (!res) {
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
    return;
  }
  int rc = wr_gw_nameres_start(r->g->repo, r->g->names, r->g->dnslink, rs->plan.resolve, res,
                               on_named, r, &r->nreq);
  if (rc == WR_ERR_AGAIN) {
    wr_free(res);
    r->q->sink = &r->sink; /* the user may leave meanwhile: on_abort cancels */
    return;
  }
  if (rc) {
    wr_free(res);
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
    return;
  }
  r->named = res;
  wr_gw_answer(r);
}

void wr_gw_answer(wr_gateway_req *r) {
  resolved *rs = wr_calloc(1, sizeof *rs);
  if (!rs) {
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
    return;
  }
  if (!r->method_ok) {
    wr_free(rs);
    wr_gw_error_page(r, 405, "Method Not Allowed", "The gateway answers GET and HEAD only.");
    return;
  }
  int lr = locate(r, rs);
  if (lr == 2) {
    resolve_name(r, rs);
    wr_free(rs);
    return;
  }
  if (lr != 0) {
    wr_free(rs);
    return;
  }
  wr_export ex;
  int rc = wr_export_begin(&ex, r->g->bs);
  if (rc) {
    wr_export_end(&ex);
    wr_free(rs);
    wr_gw_error_page(r, 500, "Internal Server Error", "The store cannot be read: %s.",
                     wr_strerror(rc));
    return;
  }
  r->in_pump = 1;
  rec_blocks path = {.base = {.ops = &rec_ops}, .inner = ex.blocks};
  wr_blocks *local = ex.blocks;
  ex.blocks = &path.base;
  wr_cid roots[MAX_ROOTS];
  size_t nroots = 0;
  wr_cid cid;
  rc = wr_gw_walk_path(&ex, &rs->root, rs->rest, &cid, roots, MAX_ROOTS, &nroots);
  ex.blocks = local;
  if (rc == WR_ERR_NOTFOUND && rs->prm.format == WR_GW_FMT_NONE &&
      r->site->kind != WR_GW_SITE_PATH) {
    int k = apply_redirects(r, rs, &ex);
    if (k > 0)
      goto done;  /* answered */
    if (k == 0) { /* rewritten: the rule's path, from the start */
      path.n = 0;
      nroots = 0;
      ex.blocks = &path.base;
      rc = wr_gw_walk_path(&ex, &rs->root, rs->rest, &cid, roots, MAX_ROOTS, &nroots);
      ex.blocks = local;
    }
  }
  const wr_gw_params *p = &rs->prm;
  if (rc) {
    resolve_error(r, rc, &ex);
  } else if (path.nomem) {
    wr_gw_error_page(r, 500, "Internal Server Error", "Out of memory.");
  } else if (p->format == WR_GW_FMT_RAW) {
    serve_block(r, rs, &ex, &cid, "application/vnd.ipld.raw", 1);
  } else if (p->format == WR_GW_FMT_CAR) {
    serve_car(r, rs, &ex, &cid, &path);
  } else if (p->format == WR_GW_FMT_TAR) {
    wr_gw_error_page(r, 406, "Not Acceptable",
                     "TAR responses are not served here; ask for ?format=car and unpack it.");
  } else if (p->format == WR_GW_FMT_IPNS) {
    wr_gw_error_page(r, 400, "Bad Request", "An IPNS record is only served for /ipns/NAME.");
  } else if (p->format != WR_GW_FMT_NONE) {
    if (codec_format(cid.codec) != p->format)
      wr_gw_error_page(r, 406, "Not Acceptable",
                       "The block's codec does not match format=%s; fetch it with ?format=raw and "
                       "convert it yourself.",
                       wr_gw_format_name(p->format));
    else
      serve_block(r, rs, &ex, &cid, codec_type(cid.codec), 0);
  } else if (codec_type(cid.codec)) {
    serve_block(r, rs, &ex, &cid, codec_type(cid.codec), 0);
  } else {
    wr_export_kind kind;
    uint64_t size;
    rc = wr_export_stat(&ex, &cid, &kind, &size);
    if (rc)
      resolve_error(r, rc, &ex);
    else if (kind == WR_EXPORT_DIR || kind == WR_EXPORT_HAMT)
      serve_dir(r, rs, &ex, &cid, roots, nroots);
    else
      serve_file(r, rs, &ex, &cid, &cid, size, last_name(rs->rest), roots, nroots);
  }
done:
  wr_free(path.list);
  wr_export_end(&ex);
  r->in_pump = 0;
  if (r->fetch_state == FETCH_WANTED && !r->finished && !r->gone) {
    wr_gw_park(r, rs);
    return;
  }
  wr_free(rs);
  if (r->finished || r->gone) {
    wr_gw_req_free(r);
    return;
  }
  /* A producer started: the first burst runs now, outside this
   * transaction. */
  wr_gw_pump(r);
}

int wr_gateway_capture(wr_gateway *g, const wr_http_req *q, const wr_gateway_site *site,
                       wr_gateway_req **pr) {
  const wr_h1_head *h = q->head;
  wr_gateway_req *r = wr_calloc(1, sizeof *r);
  if (!r)
    return WR_ERR_NOMEM;
  r->sink.ops = &wr_gw_sink_ops;
  r->g = g;
  g->live++;
  r->site = site;
  /* By text: the HTTP/2 front sets method_id for HEAD only. */
  r->is_head = h->method_id == WR_H1_M_HEAD || method_is(h, "HEAD");
  r->method_ok = r->is_head || h->method_id == WR_H1_M_GET || method_is(h, "GET");
  r->tls = (q->flags & WR_HTTP_REQ_TLS) != 0;
  r->target = strndup_(h->target.p, h->target.len);
  r->host = strndup_(h->host.p, h->host.len);
  r->accept = dup_field(h, "accept");
  r->range = dup_field(h, "range");
  r->inm = dup_field(h, "if-none-match");
  r->xfproto = dup_field(h, "x-forwarded-proto");
  r->sw = dup_field(h, "service-worker");
  r->cache_control = dup_field(h, "cache-control");
  if (!r->target || !r->host) {
    wr_gw_req_free(r);
    return WR_ERR_NOMEM;
  }
  *pr = r;
  return 0;
}

void wr_gateway_answer(wr_gateway_req *r, wr_http_req *q) {
  r->q = q;
  wr_gw_answer(r);
}

void wr_gateway_serve(wr_gateway *g, wr_http_req *q, const wr_gateway_site *site) {
  wr_gateway_req *r;
  if (wr_gateway_capture(g, q, site, &r) != 0) {
    wr_http_page_send(q, 500, "Internal Server Error", "Out of memory.", 0);
    return;
  }
  wr_gateway_answer(r, q);
}
