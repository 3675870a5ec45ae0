#include "io/dnslink_resolver.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "io/dnstxt.h"
#include "proto/text/dnslink.h"
#include "proto/text/hostname.h"

#define NAME_MAX_LEN 254 /* 253 and a NUL */
#define ERR_MAX 512

/* One domain's own DNSLink (one step, not the chain) or why it has none. */
typedef struct cache_entry {
  char name[NAME_MAX_LEN];
  uint64_t hash;
  uint64_t expires_ms; /* uv_now; 0: a free slot */
  uint64_t used;       /* LRU stamp */
  int status;
  wr_dnslink link;
  char err[ERR_MAX];
} cache_entry;

struct wr_dnslink_req {
  wr_dnslink_resolver *res;
  wr_dnslink_cb cb;
  void *arg;
  int recursive;
  unsigned depth;        /* lookups made so far */
  int in_call;           /* inside wr_dnslink_resolve: deliver later */
  int queued;            /* on the ready list with status/path/err */
  int cancelled;         /* cancelled while its lookup's waiters are being served */
  struct lookup *lookup; /* the lookup it waits for, or NULL */
  wr_dnslink_req *next_waiter;
  int status;
  char host[NAME_MAX_LEN];
  char name[NAME_MAX_LEN]; /* the domain being resolved now */
  char suffix[WR_DNSLINK_MAX_PATH + 1];
  char path[WR_DNSLINK_MAX_STR + 1];
  char err[ERR_MAX + 2 * NAME_MAX_LEN];
  wr_dnslink_req *next_ready;
  uint64_t expires_ms; /* the first cached step on the way to expire (0: none yet) */
};

/* One domain's DNS lookup (_dnslink.<name>, then <name>), shared by every
 * request that needs that domain while it runs, so a burst of requests for
 * an uncached host asks DNS once. */
typedef struct lookup {
  wr_dnslink_resolver *res;
  char name[NAME_MAX_LEN];
  int bare; /* asking <name> itself, after _dnslink.<name> had nothing */
  wr_dnstxt_query *txtq;
  wr_dnslink_req *waiters, **waiters_tail; /* served in the order they came */
  struct lookup *next;
  char first_err[ERR_MAX]; /* why _dnslink.<name> had nothing, for the fallback's message */
} lookup;

struct wr_dnslink_resolver {
  lookup *lookups; /* running */
  size_t nlookups, max_lookups;
  uint64_t refused; /* lookups not made: max_lookups were running */
  uv_loop_t *loop;
  wr_dnstxt *txt;
  uv_timer_t defer;
  cache_entry *cache;
  size_t ncache;
  uint64_t clock; /* LRU stamps */
  uint32_t max_ttl_s, negative_ttl_s;
  unsigned max_depth;
  int bare_fallback;
  int closing;
  wr_dnslink_req *ready, **ready_tail;
  void (*on_closed)(void *);
  void *closed_arg;
  wr_metric *m_hit, *m_miss, *m_q_ok, *m_q_notfound, *m_q_timeout, *m_q_error, *m_q_refused,
      *m_entries, *m_ok, *m_fail;
};

enum { DONE, NEED_LOOKUP };

static uint64_t name_hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static cache_entry *cache_get(wr_dnslink_resolver *res, const char *name) {
  /* A caller may have run outside the loop for a while (a command reading
   * stdin): expiry uses the clock of now, not of the last loop turn. */
  uv_update_time(res->loop);
  uint64_t h = name_hash(name), now = uv_now(res->loop);
  for (size_t i = 0; i < res->ncache; i++) {
    cache_entry *e = &res->cache[i];
    if (e->expires_ms && e->hash == h && strcmp(e->name, name) == 0) {
      if (e->expires_ms <= now)
        return NULL; /* stale: the slot is reused by the next put */
      e->used = ++res->clock;
      return e;
    }
  }
  return NULL;
}

static void cache_put(wr_dnslink_resolver *res, const char *name, int status,
                      const wr_dnslink *link, const char *err, uint32_t ttl_s) {
  uint64_t h = name_hash(name), now = uv_now(res->loop);
  cache_entry *slot = NULL;
  if (ttl_s > res->max_ttl_s)
    ttl_s = res->max_ttl_s;
  if (ttl_s == 0)
    return; /* TTL 0: do not keep it */
  /* the same name, else a free or expired slot, else the least recently used */
  for (size_t i = 0; i < res->ncache; i++) {
    cache_entry *e = &res->cache[i];
    if (e->expires_ms && e->hash == h && strcmp(e->name, name) == 0) {
      slot = e;
      break;
    }
    if (!slot || (slot->expires_ms > now && (e->expires_ms <= now || e->used < slot->used)))
      slot = e;
  }
  if (!slot)
    return;
  WR_DEBUG("DNSLink cached", "name=%s status=%s ttl=%u", name, wr_strerror(status), ttl_s);
  snprintf(slot->name, sizeof slot->name, "%s", name);
  slot->hash = h;
  slot->expires_ms = now + (uint64_t)ttl_s * 1000;
  slot->used = ++res->clock;
  slot->status = status;
  if (link)
    slot->link = *link;
  snprintf(slot->err, sizeof slot->err, "%s", err ? err : "");
  size_t live = 0;
  for (size_t i = 0; i < res->ncache; i++)
    live += res->cache[i].expires_ms > now;
  wr_metric_set(res->m_entries, (double)live);
}

int wr_dnslink_host_name(const char *host, char *out, const char **preason) {
  size_t n = strlen(host);
  const char *colon = memchr(host, ':', n);
  if (n && host[0] == '[')
    goto ip;
  if (colon) {
    for (const char *p = colon + 1; *p; p++)
      if (*p < '0' || *p > '9') {
        if (preason)
          *preason = "the host has a ':' that is not before a port";
        return WR_ERR_INVAL;
      }
    n = (size_t)(colon - host);
  }
  if (n && host[n - 1] == '.')
    n--;
  if (wr_hostname_check(host, n, 0, out, preason) != 0)
    return WR_ERR_INVAL;
  /* A top-level label is never all digits: that is an IPv4 address. */
  const char *last = strrchr(out, '.');
  last = last ? last + 1 : out;
  if (strspn(last, "0123456789") == strlen(last))
    goto ip;
  return 0;
ip:
  if (preason)
    *preason = "an IP address has no DNSLink";
  return WR_ERR_INVAL;
}

/* Takes one step's result. Returns DONE (req->status, path/err set) or
 * NEED_LOOKUP with req->name the next domain. */
static int apply(wr_dnslink_req *req, int status, const wr_dnslink *link, const char *err) {
  wr_dnslink_resolver *res = req->res;
  if (status < 0) {
    req->status = status;
    if (strcmp(req->name, req->host) == 0)
      snprintf(req->err, sizeof req->err, "DNSLink of %s: %s", req->host, err);
    else
      snprintf(req->err, sizeof req->err, "DNSLink of %s (at step %u, %s): %s", req->host,
               req->depth, req->name, err);
    return DONE;
  }
  if (link->ns == WR_DNSLINK_IPFS || !link->is_domain || !req->recursive) {
    if (wr_dnslink_format(link, req->suffix, req->path, sizeof req->path) < 0) {
      req->status = WR_ERR_LIMIT;
      snprintf(req->err, sizeof req->err, "DNSLink of %s: the content path is longer than %d bytes",
               req->host, WR_DNSLINK_MAX_STR);
      return DONE;
    }
    req->status = 0;
    return DONE;
  }
  if (req->depth >= res->max_depth) {
    req->status = WR_ERR_LIMIT;
    snprintf(req->err, sizeof req->err,
             "DNSLink of %s: still at /ipns/%s after %u steps; a DNSLink chain may have at "
             "most %u (is there a loop?)",
             req->host, link->id, req->depth, res->max_depth);
    return DONE;
  }
  char joined[WR_DNSLINK_MAX_PATH + 1];
  int n = snprintf(joined, sizeof joined, "%s%s", link->path, req->suffix);
  if (n < 0 || (size_t)n >= sizeof joined) {
    req->status = WR_ERR_LIMIT;
    snprintf(req->err, sizeof req->err, "DNSLink of %s: the path grows past %d bytes", req->host,
             WR_DNSLINK_MAX_PATH);
    return DONE;
  }
  memcpy(req->suffix, joined, (size_t)n + 1);
  snprintf(req->name, sizeof req->name, "%s", link->id);
  return NEED_LOOKUP;
}

/* Follows the chain through the cache. DONE or NEED_LOOKUP (req->name). */
static int advance(wr_dnslink_req *req) {
  for (;;) {
    cache_entry *e = cache_get(req->res, req->name);
    if (!e) {
      wr_metric_inc(req->res->m_miss);
      return NEED_LOOKUP;
    }
    wr_metric_inc(req->res->m_hit);
    if (!req->expires_ms || e->expires_ms < req->expires_ms)
      req->expires_ms = e->expires_ms;
    req->depth++;
    if (apply(req, e->status, &e->link, e->err) == DONE)
      return DONE;
  }
}

static void deliver(wr_dnslink_req *req) {
  wr_dnslink_resolver *res = req->res;
  wr_metric_inc(req->status == 0 ? res->m_ok : res->m_fail);
  req->cb(req->status, req->status == 0 ? req->path : "", req->status == 0 ? "" : req->err,
          req->arg);
  wr_free(req);
}

static void defer_cb(uv_timer_t *t);

static void finish(wr_dnslink_req *req) {
  wr_dnslink_resolver *res = req->res;
  if (!req->in_call) {
    deliver(req);
    return;
  }
  req->queued = 1;
  req->next_ready = NULL;
  *res->ready_tail = req;
  res->ready_tail = &req->next_ready;
  if (!res->closing)
    uv_timer_start(&res->defer, defer_cb, 0, 0);
}

static void flush_ready(wr_dnslink_resolver *res) {
  wr_dnslink_req *req = res->ready;
  res->ready = NULL;
  res->ready_tail = &res->ready;
  while (req) {
    wr_dnslink_req *next = req->next_ready;
    deliver(req);
    req = next;
  }
}

static void defer_cb(uv_timer_t *t) { flush_ready(t->data); }

static void fail(wr_dnslink_req *req, int status, const char *err) {
  req->status = status;
  snprintf(req->err, sizeof req->err, "%s", err);
  finish(req);
}

static void start_lookup(wr_dnslink_req *req);

typedef struct ignored_ctx {
  const char *qname;
  const wr_dnstxt_value *values;
} ignored_ctx;

static void log_ignored(size_t i, int err, const char *why, void *arg) {
  const ignored_ctx *c = arg;
  WR_DEBUG("DNSLink record ignored", "name=%s record=\"%.*s\" error=%s reason=\"%s\"", c->qname,
           (int)c->values[i].n, c->values[i].s, wr_strerror(err), why);
}

static void start_lookup(wr_dnslink_req *req);

/* Serves one waiter with its domain's result and moves it on. */
static void serve(wr_dnslink_req *req, int status, const wr_dnslink *link, const char *why) {
  char msg[ERR_MAX];
  if (req->cancelled || status == WR_ERR_CLOSED) {
    snprintf(msg, sizeof msg, "resolving the DNSLink of %s was cancelled", req->host);
    fail(req, WR_ERR_CLOSED, msg);
    return;
  }
  req->depth++;
  if (apply(req, status, link, why) == DONE || advance(req) == DONE) {
    finish(req);
    return;
  }
  start_lookup(req);
}

static void txt_cb(int status, const wr_dnstxt_value *values, size_t n, uint32_t ttl,
                   const char *err, void *arg) {
  lookup *l = arg;
  wr_dnslink_resolver *res = l->res;
  char qname[NAME_MAX_LEN + 9], why[ERR_MAX];
  wr_dnslink link;
  memset(&link, 0, sizeof link);
  l->txtq = NULL;
  snprintf(qname, sizeof qname, "%s%s", l->bare ? "" : "_dnslink.", l->name);
  if (status != WR_ERR_CLOSED)
    wr_metric_inc(status == 0                 ? res->m_q_ok
                  : status == WR_ERR_NOTFOUND ? res->m_q_notfound
                  : status == WR_ERR_TIMEOUT  ? res->m_q_timeout
                                              : res->m_q_error);
  uint32_t cache_ttl = res->negative_ttl_s;
  snprintf(why, sizeof why, "%s", err);
  if (status == 0) {
    wr_dnslink_txt t[WR_DNSTXT_MAX_VALUES];
    for (size_t i = 0; i < n; i++)
      t[i] = (wr_dnslink_txt){.s = values[i].s, .n = values[i].n};
    const char *reason = NULL;
    ignored_ctx ic = {qname, values};
    status = wr_dnslink_select(t, n, &link, NULL, log_ignored, &ic, &reason);
    if (status == 0) {
      cache_ttl = ttl;
    } else if (status == WR_ERR_NOTFOUND) {
      snprintf(why, sizeof why, "%s has TXT records but none starts with \"dnslink=\"", qname);
    } else {
      snprintf(why, sizeof why, "the dnslink= record at %s is unusable: %s", qname, reason);
      if (ttl < cache_ttl)
        cache_ttl = ttl;
    }
  }
  if (status == WR_ERR_NOTFOUND && !l->bare && res->bare_fallback && !res->closing) {
    /* dnslink.dev: a name without _dnslink records may carry them itself */
    snprintf(l->first_err, sizeof l->first_err, "%s", why);
    l->bare = 1;
    int rv = wr_dnstxt_lookup(res->txt, l->name, txt_cb, l, &l->txtq);
    if (rv == 0)
      return;
    status = rv;
    snprintf(why, sizeof why, "cannot look up the TXT record of %s: %s", l->name, wr_strerror(rv));
  } else if (status == WR_ERR_NOTFOUND && l->bare) {
    char both[2 * ERR_MAX + 16];
    snprintf(both, sizeof both, "%s; %s", l->first_err, why);
    size_t bl = strlen(both) < sizeof why - 1 ? strlen(both) : sizeof why - 1;
    memcpy(why, both, bl); /* cut to fit */
    why[bl] = '\0';
  }
  if (status == 0 || status == WR_ERR_NOTFOUND || status == WR_ERR_MALFORMED ||
      status == WR_ERR_UNSUPPORTED || status == WR_ERR_LIMIT)
    cache_put(res, l->name, status, status == 0 ? &link : NULL, why, cache_ttl);
  /* The lookup is over: unlink it, then serve its waiters (a waiter's
   * callback may start lookups, cancel requests or close the resolver). */
  for (lookup **pp = &res->lookups; *pp; pp = &(*pp)->next)
    if (*pp == l) {
      *pp = l->next;
      res->nlookups--;
      break;
    }
  wr_dnslink_req *w = l->waiters;
  for (wr_dnslink_req *p = w; p; p = p->next_waiter)
    p->lookup = NULL;
  wr_free(l);
  while (w) {
    wr_dnslink_req *next = w->next_waiter;
    w->next_waiter = NULL;
    serve(w, status, &link, why);
    w = next;
  }
}

/* Makes req wait for its domain's lookup: the running one, or a new one. */
static void start_lookup(wr_dnslink_req *req) {
  wr_dnslink_resolver *res = req->res;
  lookup *l = res->lookups;
  while (l && strcmp(l->name, req->name) != 0)
    l = l->next;
  if (!l && res->nlookups >= res->max_lookups) {
    /* Made-up hosts must not become as many DNS queries: past the bound
     * a new domain waits for nothing and its request is refused. */
    res->refused++;
    wr_metric_inc(res->m_q_refused);
    if ((res->refused & (res->refused - 1)) == 0)
      wr_log(WR_LOG_WARN, "DNSLink lookup refused: too many running",
             "name=%s running=%zu refused=%llu", req->name, res->nlookups,
             (unsigned long long)res->refused);
    char why[ERR_MAX];
    snprintf(why, sizeof why, "%zu DNS lookups are running already: try again", res->nlookups);
    fail(req, WR_ERR_AGAIN, why);
    return;
  }
  if (!l) {
    char qname[NAME_MAX_LEN + 9], why[ERR_MAX];
    int rv = WR_ERR_NOMEM;
    snprintf(qname, sizeof qname, "_dnslink.%s", req->name);
    l = wr_calloc(1, sizeof *l);
    if (l) {
      l->res = res;
      l->waiters_tail = &l->waiters;
      memcpy(l->name, req->name, sizeof l->name);
      rv = wr_dnstxt_lookup(res->txt, qname, txt_cb, l, &l->txtq);
    }
    if (rv != 0) {
      wr_free(l);
      snprintf(why, sizeof why, "cannot look up the TXT record of %s: %s", qname,
               rv == WR_ERR_CLOSED ? "the resolver is closing" : wr_strerror(rv));
      fail(req, rv, why);
      return;
    }
    l->next = res->lookups;
    res->lookups = l;
    res->nlookups++;
  }
  req->lookup = l;
  req->next_waiter = NULL;
  *l->waiters_tail = req;
  l->waiters_tail = &req->next_waiter;
}

int wr_dnslink_resolve(wr_dnslink_resolver *res, const char *host, int recursive, wr_dnslink_cb cb,
                       void *arg, wr_dnslink_req **preq) {
  if (res->closing)
    return WR_ERR_CLOSED;
  wr_dnslink_req *req = wr_calloc(1, sizeof *req);
  if (!req)
    return WR_ERR_NOMEM;
  req->res = res;
  req->cb = cb;
  req->arg = arg;
  req->recursive = recursive;
  req->in_call = 1;
  if (preq)
    *preq = req;
  const char *why = NULL;
  if (wr_dnslink_host_name(host, req->name, &why) != 0) {
    snprintf(req->host, sizeof req->host, "%.*s", (int)sizeof req->host - 1, host);
    req->status = WR_ERR_INVAL;
    snprintf(req->err, sizeof req->err, "\"%s\" has no DNSLink: %s", req->host, why);
    finish(req);
  } else {
    memcpy(req->host, req->name, sizeof req->host);
    if (advance(req) == DONE)
      finish(req);
    else
      start_lookup(req);
  }
  /* req is alive (finishing inside the call only queued it); from now on
   * delivery is direct */
  req->in_call = 0;
  return 0;
}

int wr_dnslink_cached(wr_dnslink_resolver *res, const char *host, int recursive, char *out,
                      size_t cap, char *err, size_t errlen) {
  uint32_t ttl;
  return wr_dnslink_cached_ttl(res, host, recursive, out, cap, &ttl, err, errlen);
}

int wr_dnslink_cached_ttl(wr_dnslink_resolver *res, const char *host, int recursive, char *out,
                          size_t cap, uint32_t *pttl_s, char *err, size_t errlen) {
  wr_dnslink_req *req = wr_calloc(1, sizeof *req); /* ~4 KiB: not on the stack */
  if (!req)
    return wr_errf(err, errlen, WR_ERR_NOMEM, "out of memory");
  const char *why = NULL;
  int rv;
  req->res = res;
  req->recursive = recursive;
  if (wr_dnslink_host_name(host, req->name, &why) != 0) {
    rv = wr_errf(err, errlen, WR_ERR_INVAL, "\"%s\" has no DNSLink: %s", host, why);
  } else {
    memcpy(req->host, req->name, sizeof req->host);
    if (advance(req) == NEED_LOOKUP)
      rv = WR_ERR_AGAIN;
    else if (req->status < 0)
      rv = wr_errf(err, errlen, req->status, "%s", req->err);
    else if (strlen(req->path) >= cap)
      rv = wr_errf(err, errlen, WR_ERR_LIMIT, "the content path does not fit");
    else
      rv = (memcpy(out, req->path, strlen(req->path) + 1), 0);
    uint64_t now = uv_now(res->loop);
    *pttl_s = rv == 0 && req->expires_ms > now ? (uint32_t)((req->expires_ms - now) / 1000) : 0;
  }
  wr_free(req);
  return rv;
}

void wr_dnslink_cancel(wr_dnslink_req *req) {
  char msg[ERR_MAX];
  snprintf(msg, sizeof msg, "resolving the DNSLink of %s was cancelled", req->host);
  if (req->lookup) {
    /* leave the lookup running: its answer is cached for the next request */
    lookup *l = req->lookup;
    wr_dnslink_req **pp = &l->waiters;
    while (*pp != req)
      pp = &(*pp)->next_waiter;
    *pp = req->next_waiter;
    if (l->waiters_tail == &req->next_waiter)
      l->waiters_tail = pp;
    req->lookup = NULL;
    req->next_waiter = NULL;
    req->status = WR_ERR_CLOSED;
    snprintf(req->err, sizeof req->err, "%s", msg);
    req->in_call = 1; /* "soon", not from inside this call */
    finish(req);
    req->in_call = 0;
  } else if (req->queued) {
    req->status = WR_ERR_CLOSED;
    snprintf(req->err, sizeof req->err, "%s", msg);
  } else {
    req->cancelled = 1; /* being served right now: serve() ends it */
  }
}

static void defer_closed(uv_handle_t *h) {
  wr_dnslink_resolver *res = h->data;
  if (res->on_closed)
    res->on_closed(res->closed_arg);
  wr_free(res->cache);
  wr_free(res);
}

static void txt_closed(void *arg) {
  wr_dnslink_resolver *res = arg;
  flush_ready(res);
  uv_close((uv_handle_t *)&res->defer, defer_closed);
}

void wr_dnslink_resolver_close(wr_dnslink_resolver *res, void (*on_closed)(void *arg), void *arg) {
  if (res->closing)
    return;
  res->closing = 1;
  res->on_closed = on_closed;
  res->closed_arg = arg;
  /* pending lookups end with WR_ERR_CLOSED before txt_closed runs */
  wr_dnstxt_close(res->txt, txt_closed, res);
}

int wr_dnslink_resolver_new(uv_loop_t *loop, const wr_dnslink_cfg *cfg, wr_dnslink_resolver **pres,
                            char *err, size_t errlen) {
  wr_dnslink_cfg c = {0};
  if (cfg)
    c = *cfg;
  wr_dnslink_resolver *res = wr_calloc(1, sizeof *res);
  if (!res)
    return wr_errf(err, errlen, WR_ERR_NOMEM, "out of memory for a DNSLink resolver");
  res->loop = loop;
  res->ncache = c.cache_entries ? c.cache_entries : 1024;
  res->max_ttl_s = c.max_ttl_s ? c.max_ttl_s : 3600;
  res->negative_ttl_s = c.negative_ttl_s ? c.negative_ttl_s : 60;
  res->max_depth = c.max_depth ? c.max_depth : WR_DNSLINK_MAX_DEPTH;
  res->max_lookups = c.max_lookups ? c.max_lookups : WR_DNSLINK_MAX_LOOKUPS;
  res->bare_fallback = !c.no_bare_fallback;
  res->ready_tail = &res->ready;
  res->cache = wr_calloc(res->ncache, sizeof *res->cache);
  if (!res->cache) {
    wr_free(res);
    return wr_errf(err, errlen, WR_ERR_NOMEM, "out of memory for a DNSLink cache");
  }
  wr_dnstxt_cfg tc = {.server = c.server, .timeout_ms = c.timeout_ms};
  int rv = wr_dnstxt_new(loop, &tc, &res->txt, err, errlen);
  if (rv != 0) {
    wr_free(res->cache);
    wr_free(res);
    return rv;
  }
  uv_timer_init(loop, &res->defer);
  res->defer.data = res;
  if (c.metrics) {
    wr_metric_family *f = wr_metrics_family(
        c.metrics, WR_METRIC_COUNTER, "warren_dnslink_cache_lookups_total",
        "DNSLink steps answered from the cache (hit) or needing a DNS lookup (miss)", "result");
    res->m_hit = f ? wr_metric_child(f, "hit") : NULL;
    res->m_miss = f ? wr_metric_child(f, "miss") : NULL;
    f = wr_metrics_family(c.metrics, WR_METRIC_COUNTER, "warren_dnslink_txt_queries_total",
                          "TXT lookups for DNSLink by outcome", "result");
    res->m_q_ok = f ? wr_metric_child(f, "ok") : NULL;
    res->m_q_notfound = f ? wr_metric_child(f, "notfound") : NULL;
    res->m_q_timeout = f ? wr_metric_child(f, "timeout") : NULL;
    res->m_q_error = f ? wr_metric_child(f, "error") : NULL;
    res->m_q_refused = f ? wr_metric_child(f, "refused") : NULL; /* not asked: too many running */
    f = wr_metrics_family(c.metrics, WR_METRIC_COUNTER, "warren_dnslink_resolutions_total",
                          "DNSLink resolutions by outcome", "result");
    res->m_ok = f ? wr_metric_child(f, "ok") : NULL;
    res->m_fail = f ? wr_metric_child(f, "error") : NULL;
    res->m_entries = wr_metrics_gauge(c.metrics, "warren_dnslink_cache_entries",
                                      "Domains whose DNSLink (or its absence) is cached");
  }
  *pres = res;
  return 0;
}
