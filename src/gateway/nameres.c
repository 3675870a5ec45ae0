/* nameres.c: /ipns/ paths to /ipfs/ paths for the gateway
 * (gateway/nameres.h). */
#include "gateway/nameres.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "content/names.h"
#include "gateway/gwname.h"
#include "proto/ipns/ipns.h"

typedef struct cache_entry {
  char name[WR_GW_NAME_TEXT_MAX]; /* canonical; "" when free */
  char path[WR_GW_NAMERES_PATH_MAX];
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtim;
  int64_t eol_ns;
  uint64_t ttl_ns;
  char *value; /* the record's value (owned) */
  uint64_t used;
} cache_entry;

struct wr_gw_namecache {
  cache_entry e[WR_GW_NAMECACHE_ENTRIES];
  uint64_t clock;
};

int wr_gw_namecache_new(wr_gw_namecache **pc) {
  *pc = wr_calloc(1, sizeof **pc);
  return *pc ? 0 : WR_ERR_NOMEM;
}

void wr_gw_namecache_free(wr_gw_namecache *c) {
  if (!c)
    return;
  for (size_t i = 0; i < WR_GW_NAMECACHE_ENTRIES; i++)
    wr_free(c->e[i].value);
  wr_free(c);
}

static int same_file(const cache_entry *e, const struct stat *st) {
  return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
         e->mtim.tv_sec == st->st_mtim.tv_sec && e->mtim.tv_nsec == st->st_mtim.tv_nsec;
}

struct wr_gw_nameres_req {
  const char *repo;
  wr_gw_namecache *cache;
  wr_dnslink_resolver *dnslink;
  wr_gw_nameres_cb cb;
  void *arg;
  wr_dnslink_req *dns; /* the lookup in flight */
  int cancelled;
  unsigned steps;
  char rest[WR_GW_NAMERES_PATH_MAX]; /* what follows the domain being looked up */
  char domain[WR_GW_NAME_TEXT_MAX];
  wr_gw_nameres_result res; /* res.path: where the resolution stands */
};

static int64_t wall_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fail(wr_gw_nameres_req *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(wr_gw_nameres_req *q, int status, const char *fmt, ...) {
  q->res.status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q->res.err, sizeof q->res.err, fmt, ap);
  va_end(ap);
  q->res.path[0] = '\0';
  return 0;
}

/* The HTTP status for a DNSLink failure. */
static int dns_status(int rc) {
  switch (rc) {
  case WR_ERR_NOTFOUND:
    return 404;
  case WR_ERR_INVAL:
    return 400;
  case WR_ERR_TIMEOUT:
    return 504;
  case WR_ERR_NOMEM:
    return 500;
  case WR_ERR_CLOSED:
  case WR_ERR_AGAIN: /* too many lookups running */
    return 503;
  default: /* MALFORMED, LIMIT (a loop), REFUSED, IO */
    return 502;
  }
}

/* Sets path to prefix + rest; 0, or a failure recorded. */
static void min_ttl(wr_gw_nameres_req *q, uint64_t ttl_ns) {
  if (!q->res.has_ttl || ttl_ns < q->res.ttl_ns)
    q->res.ttl_ns = ttl_ns;
  q->res.has_ttl = 1;
}

/* The TTL of a DNSLink answer just resolved: its remaining time in the
 * resolver's cache (0 when it was not kept: a TTL of 0). */
static void dns_ttl(wr_gw_nameres_req *q) {
  char out[WR_GW_NAMERES_PATH_MAX], err[300];
  uint32_t ttl = 0;
  if (wr_dnslink_cached_ttl(q->dnslink, q->domain, 1, out, sizeof out, &ttl, err, sizeof err) != 0)
    ttl = 0;
  min_ttl(q, (uint64_t)ttl * 1000000000u);
}

static int join(wr_gw_nameres_req *q, const char *prefix, const char *rest) {
  char tmp[WR_GW_NAMERES_PATH_MAX];
  int k = snprintf(tmp, sizeof tmp, "%s%s", prefix, rest);
  if (k < 0 || (size_t)k >= sizeof tmp)
    return fail(q, 414, "the content path of %s is too long", prefix), -1;
  memcpy(q->res.path, tmp, (size_t)k + 1);
  return 0;
}

/* Advances the resolution as far as it goes without waiting. Returns 0
 * when done (res.status says how) or WR_ERR_AGAIN when a DNS lookup was
 * started (on_dns continues). */
static int advance(wr_gw_nameres_req *q);

static void on_dns(int status, const char *path, const char *err, void *arg) {
  wr_gw_nameres_req *q = arg;
  q->dns = NULL;
  if (q->cancelled) {
    wr_free(q);
    return;
  }
  q->res.via_dnslink = 1;
  if (status != 0) {
    fail(q, dns_status(status), "%s", err);
  } else {
    dns_ttl(q);
    if (join(q, path, q->rest) == 0 && advance(q) == WR_ERR_AGAIN)
      return;
  }
  q->cb(&q->res, q->arg);
  wr_free(q);
}

/* The cache entry to fill for name: its own, a free one, else the least
 * recently used. */
static cache_entry *cache_slot(wr_gw_namecache *c, const char *name) {
  cache_entry *best = &c->e[0];
  for (size_t i = 0; i < WR_GW_NAMECACHE_ENTRIES; i++) {
    cache_entry *e = &c->e[i];
    if (e->value && strcmp(e->name, name) == 0)
      return e;
    if (!e->value)
      best = best->value ? e : best;
    else if (best->value && e->used < best->used)
      best = e;
  }
  return best;
}

/* One IPNS hop: the value of canon's record with rest appended, in out;
 * *pttl_ns the record's TTL. 0, or -1 with the failure in q->res. */
static int key_hop(wr_gw_nameres_req *q, const char *canon, const char *rest, char *out, size_t cap,
                   uint64_t *pttl_ns) {
  int64_t now = wall_now_ns();
  wr_gw_namecache *c = q->cache;
  struct stat st;
  const char *value = NULL;
  size_t vlen = 0;
  if (c) {
    for (size_t i = 0; i < WR_GW_NAMECACHE_ENTRIES; i++) {
      cache_entry *e = &c->e[i];
      if (e->value && strcmp(e->name, canon) == 0) {
        if (stat(e->path, &st) == 0 && same_file(e, &st) && now < e->eol_ns) {
          e->used = ++c->clock;
          value = e->value;
          vlen = strlen(value);
          *pttl_ns = e->ttl_ns;
        }
        break;
      }
    }
  }
  wr_buf rec;
  wr_buf_init(&rec, WR_IPNS_MAX_RECORD);
  int rv = -1;
  if (!value) {
    wr_peerid id;
    const char *why = NULL;
    char path[WR_GW_NAMERES_PATH_MAX], err[300];
    if (wr_ipns_name_parse(canon, strlen(canon), &id, &why) != 0) {
      fail(q, 400, "%s", why);
      goto out;
    }
    if (wr_names_record_path(q->repo, &id, path, sizeof path) != 0) {
      fail(q, 500, "the repo path is too long");
      goto out;
    }
    /* stat before reading: a file replaced in between is read again next time */
    int have_st = stat(path, &st) == 0;
    int rc = wr_names_load(q->repo, &id, &rec, err, sizeof err);
    if (rc == WR_ERR_NOTFOUND) {
      fail(q, 404, "no IPNS record of %s is known to this gateway", canon);
      goto out;
    }
    if (rc) {
      fail(q, 500, "the IPNS record of %s cannot be read: %s", canon, err);
      goto out;
    }
    wr_ipns_record r;
    if (wr_ipns_validate(rec.data, rec.len, &id, now, &r, &why) != 0) {
      fail(q, 502, "the IPNS record of %s is refused: %s", canon, why);
      goto out;
    }
    if (memchr(r.value, '\0', r.value_len) || r.value_len >= WR_GW_NAMERES_PATH_MAX) {
      fail(q, 502, "the IPNS record of %s holds a bad or too long value", canon);
      goto out;
    }
    value = (const char *)r.value;
    vlen = r.value_len;
    *pttl_ns = r.ttl_ns;
    char *copy = c && have_st ? wr_malloc(vlen + 1) : NULL;
    if (copy) {
      memcpy(copy, value, vlen);
      copy[vlen] = '\0';
      cache_entry *e = cache_slot(c, canon);
      wr_free(e->value);
      *e = (cache_entry){.dev = st.st_dev,
                         .ino = st.st_ino,
                         .size = st.st_size,
                         .mtim = st.st_mtim,
                         .eol_ns = r.eol_ns,
                         .ttl_ns = r.ttl_ns,
                         .value = copy,
                         .used = ++c->clock};
      snprintf(e->name, sizeof e->name, "%s", canon);
      snprintf(e->path, sizeof e->path, "%s", path);
    }
  }
  int k = snprintf(out, cap, "%.*s%s", (int)vlen, value, rest);
  if (k < 0 || (size_t)k >= cap)
    fail(q, 414, "the content path of %s is too long", canon);
  else
    rv = 0;
out:
  wr_buf_free(&rec);
  return rv;
}

static int advance(wr_gw_nameres_req *q) {
  char out[WR_GW_NAMERES_PATH_MAX], err[300];
  for (;;) {
    char *p = q->res.path;
    if (strncmp(p, "/ipfs/", 6) == 0) {
      q->res.status = 0;
      return 0;
    }
    if (strncmp(p, "/ipns/", 6) != 0)
      return fail(q, 502, "the name resolves to \"%.200s\", which is not a content path", p);
    if (q->steps++ >= WR_GW_NAMERES_MAX_STEPS)
      return fail(q, 502, "the name was not resolved after %d steps (is there a loop?)",
                  WR_GW_NAMERES_MAX_STEPS);
    const char *name = p + 6, *slash = strchr(name, '/');
    size_t nl = slash ? (size_t)(slash - name) : strlen(name);
    char canon[WR_GW_NAME_TEXT_MAX];
    int canonical;
    const char *why = NULL;
    int kind = wr_gw_name_parse(name, nl, canon, &canonical, &why);
    if (kind < 0)
      return fail(q, 400, "%s", why);
    if (kind == WR_GW_NAME_KEY) {
      if (!q->repo)
        return fail(q, 404, "IPNS names are not resolved by this gateway");
      uint64_t ttl = 0;
      if (key_hop(q, canon, slash ? slash : "", out, sizeof out, &ttl) != 0)
        return 0; /* failed: res says why */
      min_ttl(q, ttl);
      memcpy(q->res.path, out, strlen(out) + 1);
      continue;
    }
    /* a domain */
    if (!q->dnslink)
      return fail(q, 404, "DNSLink names are not resolved by this gateway");
    snprintf(q->rest, sizeof q->rest, "%s", slash ? slash : "");
    snprintf(q->domain, sizeof q->domain, "%s", canon);
    uint32_t ttl = 0;
    int rc =
        wr_dnslink_cached_ttl(q->dnslink, q->domain, 1, out, sizeof out, &ttl, err, sizeof err);
    if (rc == WR_ERR_AGAIN) {
      rc = wr_dnslink_resolve(q->dnslink, q->domain, 1, on_dns, q, &q->dns);
      if (rc == 0)
        return WR_ERR_AGAIN;
      return fail(q, dns_status(rc), "the DNSLink of %s cannot be resolved now", q->domain);
    }
    q->res.via_dnslink = 1;
    if (rc)
      return fail(q, dns_status(rc), "%s", err);
    min_ttl(q, (uint64_t)ttl * 1000000000u);
    if (join(q, out, q->rest) != 0)
      return 0;
  }
}

int wr_gw_nameres_start(const char *repo, wr_gw_namecache *cache, wr_dnslink_resolver *dnslink,
                        const char *path, wr_gw_nameres_result *res, wr_gw_nameres_cb cb, void *arg,
                        wr_gw_nameres_req **preq) {
  wr_gw_nameres_req *q = wr_calloc(1, sizeof *q);
  if (!q)
    return WR_ERR_NOMEM;
  q->repo = repo;
  q->cache = cache;
  q->dnslink = dnslink;
  q->cb = cb;
  q->arg = arg;
  if (strlen(path) >= sizeof q->res.path) {
    fail(q, 414, "the content path is too long");
  } else {
    memcpy(q->res.path, path, strlen(path) + 1);
    if (advance(q) == WR_ERR_AGAIN) {
      *preq = q;
      return WR_ERR_AGAIN;
    }
  }
  *res = q->res;
  wr_free(q);
  return 0;
}

void wr_gw_nameres_cancel(wr_gw_nameres_req *req) {
  req->cancelled = 1;
  if (req->dns)
    wr_dnslink_cancel(req->dns); /* on_dns frees req */
}

int wr_gw_nameres_record(const char *repo, const char *key, wr_buf *rec, uint64_t *pttl_ns,
                         char *err, size_t errlen) {
  wr_peerid id;
  const char *why = NULL;
  if (!repo) {
    snprintf(err, errlen, "IPNS names are not resolved by this gateway");
    return 404;
  }
  if (wr_ipns_name_parse(key, strlen(key), &id, &why) != 0) {
    snprintf(err, errlen, "%s", why);
    return 400;
  }
  int rc = wr_names_load(repo, &id, rec, err, errlen);
  if (rc == WR_ERR_NOTFOUND) {
    snprintf(err, errlen, "no IPNS record of %s is known to this gateway", key);
    return 404;
  }
  if (rc) {
    snprintf(err, errlen, "the IPNS record of %s cannot be read", key);
    return 500;
  }
  wr_ipns_record r;
  if (wr_ipns_validate(rec->data, rec->len, &id, wall_now_ns(), &r, &why) != 0) {
    snprintf(err, errlen, "the IPNS record of %s is refused: %s", key, why);
    return 502;
  }
  *pttl_ns = r.ttl_ns;
  return 0;
}

uint64_t wr_gw_record_etag(const wr_buf *rec) {
  uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
  for (size_t i = 0; i < rec->len; i++)
    h = (h ^ rec->data[i]) * 0x100000001b3u;
  return h;
}
