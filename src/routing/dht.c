/* dht.c: the Kademlia DHT: requests to peers (rpc), iterative lookups
 * (query), the provide sweep (provide_job), the server, and records. */
#include "routing/dht.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "proto/multiformats/multihash.h"
#include "routing/peerbudget.h"
#include "routing/rtable.h"

#define TICK_MS 250
#define MAX_CANDS 200
#define MAX_VALIDATORS 8
#define MAX_RECORDS 4096
#define MAX_QUERY_VALUES 16
#define MAX_SEEN_PROVIDERS 256
#define SERVER_BUF_LIMIT (WR_KAD_MAX_MSG + 16)
#define REPLY_BUF_LIMIT (WR_KAD_MAX_MSG + 16)
/* What the server holds for one peer over all its streams (unparsed
 * requests and unread answers, as allocated): one message of the largest
 * size and room to answer it. Without it a peer could open a thousand
 * streams per connection and have each hold 12 MiB. */
#define DEFAULT_PEER_BUFFER_LIMIT (WR_KAD_MAX_MSG + (1u << 20))
/* And for all peers together: many peers (one host with many identities)
 * must not add up to what one may not hold. */
#define DEFAULT_SERVER_BUFFER_LIMIT (64u << 20)
/* A served stream's buffer that ran empty is freed above this size, so an
 * idle stream that once carried a large message holds nothing. */
#define SERVER_BUF_KEEP 4096
#define AMINO_PROVIDER_TTL_MS (48ull * 3600 * 1000)
#define AMINO_REPROVIDE_MS (22ull * 3600 * 1000)
/* go-libp2p-kad-dht's amino.DefaultMaxRecordAge: a PUT_VALUE record is
 * dropped this long after it was received. */
#define AMINO_RECORD_TTL_MS (48ull * 3600 * 1000)
/* A sweep's region lookup runs until its nearest 3k have answered, not k:
 * the ball it knows completely is wider, so it serves more keys. */
#define SWEEP_WIDTH(d) ((d)->cfg.k * 3 < MAX_CANDS ? (d)->cfg.k * 3 : MAX_CANDS)

typedef struct rpc rpc;
typedef struct sstream sstream;
typedef struct provide_job provide_job;
typedef struct record record;

struct record {
  record *next;
  uint8_t *key, *val;
  size_t keylen, vallen;
  uint64_t expires_ms; /* loop time */
};

typedef struct pkey {
  uint8_t pos[WR_KAD_KEY_BYTES];
  uint8_t key[WR_PROV_MAX_KEY];
  size_t len;
} pkey;

struct wr_dht {
  wr_p2p_host *host;
  uv_loop_t *loop;
  wr_dht_config cfg;
  char protocol[128];
  wr_rtable rt;
  wr_provstore *provs;
  wr_dht_validator validators[MAX_VALIDATORS];
  size_t nvalidators;
  record *records;
  size_t nrecords;
  wr_dht_sink sink;
  uv_timer_t tick;
  rpc *rpcs;
  sstream *sstreams;
  wr_dht_query *queries;
  provide_job *jobs;
  wr_kad_msg *rx, *tx; /* scratch: one decoded, one being encoded */
  pkey *provided;      /* keys to provide again */
  size_t nprovided, capprovided, uniqprovided;
  uint64_t next_reprovide_ms, next_expire_ms;
  int reproviding;
  int lonely; /* the last round found nobody to tell */
  int closed;
  unsigned refs;
  wr_peerbudget budget;          /* the server's bytes per peer */
  uint64_t refusals;             /* served streams reset, any reason */
  wr_metric_family *m_refusals;  /* warren_dht_server_refusals_total{reason} */
};

static uint64_t now_ms(wr_dht *d) { return uv_now(d->loop); }

static void unref(wr_dht *d) {
  if (--d->refs > 0)
    return;
  wr_rtable_free(&d->rt);
  wr_provstore_del(d->provs);
  for (record *r = d->records, *n; r; r = n) {
    n = r->next;
    wr_free(r->key);
    wr_free(r->val);
    wr_free(r);
  }
  wr_free(d->rx);
  wr_free(d->tx);
  wr_free(d->provided);
  wr_peerbudget_free(&d->budget);
  wr_free(d);
}

/* ---- peers and addresses ---- */

static int dialable(const wr_maddr *ma) {
  int fam, has;
  uint8_t ip[16];
  uint16_t port;
  wr_peerid id;
  return wr_maddr_to_ip_tcp(ma, &fam, ip, &port, &id, &has) == 0;
}

/* The peer's addresses from a message, only those we can dial. */
static int peer_from_kad(const wr_kad_peer *kp, wr_dht_peer *p) {
  memset(p, 0, sizeof *p);
  if (wr_peerid_decode(kp->id.p, kp->id.n, &p->id, NULL) != 0)
    return WR_ERR_MALFORMED;
  for (size_t i = 0; i < kp->naddrs && p->naddrs < WR_DHT_MAX_ADDRS; i++) {
    wr_maddr ma;
    if (wr_maddr_decode(kp->addrs[i].p, kp->addrs[i].n, &ma, NULL) == 0 && dialable(&ma))
      p->addrs[p->naddrs++] = ma;
  }
  return 0;
}

static wr_p2p_conn *conn_to(wr_dht *d, const wr_peerid *id) {
  return wr_p2p_host_find_conn(d->host, id);
}

/* Fills kp (pointing into p and idbuf) for a message. */
static void kad_peer_of(const wr_dht_peer *p, uint8_t *idbuf, size_t idcap, wr_kad_peer *kp) {
  memset(kp, 0, sizeof *kp);
  int n = wr_peerid_to_bytes(&p->id, idbuf, idcap);
  kp->id = (wr_bytes){idbuf, n > 0 ? (size_t)n : 0};
  for (size_t i = 0; i < p->naddrs && i < WR_KAD_MAX_ADDRS; i++)
    kp->addrs[kp->naddrs++] = (wr_bytes){p->addrs[i].bytes, p->addrs[i].len};
}

static void self_peer(wr_dht *d, wr_dht_peer *p) {
  memset(p, 0, sizeof *p);
  p->id = *wr_p2p_host_id(d->host);
  p->naddrs = wr_p2p_host_addrs(d->host, p->addrs, WR_DHT_MAX_ADDRS);
}

static void rt_add(wr_dht *d, const wr_dht_peer *p) {
  int rv = wr_rtable_add(&d->rt, &p->id, p->addrs, p->naddrs, now_ms(d));
  /* The first peer after a round that found nobody: provide again now. */
  if (rv == 1 && d->lonely && d->rt.size == 1)
    d->next_reprovide_ms = now_ms(d);
  if (rv == 1 && wr_log_enabled(WR_LOG_DEBUG)) {
    char s[WR_PEERID_MAX_STR];
    if (wr_peerid_format(&p->id, s, sizeof s) > 0)
      WR_DEBUG("DHT peer added", "peer=%s table=%zu", s, d->rt.size);
  }
}

/* ---- requests to one peer ---- */

typedef void (*rpc_done_fn)(rpc *r, int err, const wr_kad_msg *reply);

struct rpc {
  wr_dht *d;
  rpc *next, *prev;
  wr_dht_peer peer;
  size_t next_addr;
  wr_buf out, in;
  wr_p2p_stream *st;
  int dialing, expect_reply, ended, finished;
  uint64_t deadline_ms;
  rpc_done_fn done;
  void *owner;
};

static void rpc_maybe_free(rpc *r) {
  if (!r->finished || r->st || r->dialing)
    return;
  wr_dht *d = r->d;
  if (r->prev)
    r->prev->next = r->next;
  else
    d->rpcs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  wr_buf_free(&r->out);
  wr_buf_free(&r->in);
  wr_free(r);
  unref(d);
}

static void rpc_finish(rpc *r, int err, const wr_kad_msg *reply) {
  if (r->finished)
    return;
  r->finished = 1;
  if (err) {
    if (wr_log_enabled(WR_LOG_DEBUG)) {
      char s[WR_PEERID_MAX_STR];
      if (wr_peerid_format(&r->peer.id, s, sizeof s) > 0)
        WR_DEBUG("DHT request failed", "peer=%s err=\"%s\" addrs=%zu", s, wr_strerror(err),
                 r->peer.naddrs);
    }
    wr_rtable_remove(&r->d->rt, &r->peer.id);
  } else if (reply && !r->d->closed) {
    /* It answered: a DHT server worth keeping. */
    rt_add(r->d, &r->peer);
  }
  if (r->done)
    r->done(r, err, reply);
  if (r->st && err)
    wr_p2p_stream_reset(r->st);
  /* A stream that ended well closes once the peer's FIN comes; the tick
   * resets it if that never happens. */
  r->deadline_ms = now_ms(r->d) + 5000;
  rpc_maybe_free(r);
}

static void rpc_flush(wr_p2p_stream *st) {
  rpc *r = wr_p2p_stream_user(st);
  while (r->out.len) {
    ssize_t w = wr_p2p_stream_write(st, r->out.data, r->out.len);
    if (w == WR_ERR_AGAIN)
      return;
    if (w < 0) {
      rpc_finish(r, (int)w, NULL);
      return;
    }
    wr_buf_consume(&r->out, (size_t)w);
  }
  if (!r->ended) {
    r->ended = 1;
    if (wr_p2p_stream_end(st) != 0) {
      rpc_finish(r, WR_ERR_CLOSED, NULL);
      return;
    }
    if (!r->expect_reply)
      rpc_finish(r, 0, NULL);
  }
}

static void rpc_on_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  rpc *r = wr_p2p_stream_user(st);
  if (r->finished)
    return;
  if (wr_buf_append(&r->in, p, n) != 0) {
    rpc_finish(r, WR_ERR_LIMIT, NULL);
    return;
  }
  const uint8_t *m;
  size_t mlen, used;
  const char *why = NULL;
  int rv = wr_kad_frame_next(r->in.data, r->in.len, &m, &mlen, &used, &why);
  if (rv == WR_ERR_AGAIN)
    return;
  if (rv == 0)
    rv = wr_kad_decode(m, mlen, r->d->rx, &why);
  if (rv != 0) {
    WR_DEBUG("DHT answer refused", "reason=\"%s\"", why ? why : "?");
    rpc_finish(r, WR_ERR_MALFORMED, NULL);
    return;
  }
  rpc_finish(r, 0, r->d->rx);
}

static void rpc_on_fin(wr_p2p_stream *st) {
  rpc *r = wr_p2p_stream_user(st);
  if (!r->finished && r->expect_reply)
    rpc_finish(r, WR_ERR_CLOSED, NULL);
}

static void rpc_on_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)reason;
  rpc *r = wr_p2p_stream_user(st);
  r->st = NULL;
  if (!r->finished)
    rpc_finish(r, err ? err : (r->expect_reply ? WR_ERR_CLOSED : 0), NULL);
  rpc_maybe_free(r);
}

static const wr_p2p_stream_events rpc_events = {.on_open = rpc_flush,
                                                .on_data = rpc_on_data,
                                                .on_fin = rpc_on_fin,
                                                .on_writable = rpc_flush,
                                                .on_closed = rpc_on_closed};

static int rpc_open(rpc *r, wr_p2p_conn *c) {
  wr_p2p_stream *st;
  int rv = wr_p2p_conn_open_stream(c, r->d->protocol, &rpc_events, r, &st);
  if (rv == 0)
    r->st = st;
  return rv;
}

static int rpc_dial_next(rpc *r);

static void rpc_dialed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason, void *data) {
  (void)h;
  (void)reason;
  rpc *r = data;
  r->dialing = 0;
  if (r->finished) {
    rpc_maybe_free(r);
    return;
  }
  int rv = err ? err : rpc_open(r, c);
  if (rv != 0 && err && rpc_dial_next(r) == 0)
    return;
  if (rv != 0)
    rpc_finish(r, rv, NULL);
}

/* Dials the next address (with /p2p/ID, so the host checks who answers). */
static int rpc_dial_next(rpc *r) {
  uint8_t idb[WR_MH_MAX_BYTES];
  int idn = wr_peerid_to_bytes(&r->peer.id, idb, sizeof idb);
  while (r->next_addr < r->peer.naddrs) {
    wr_maddr ma = r->peer.addrs[r->next_addr++];
    if (idn <= 0 || wr_maddr_push(&ma, WR_MA_P2P, idb, (size_t)idn) != 0)
      continue;
    if (wr_p2p_host_dial(r->d->host, &ma, rpc_dialed, r) == 0) {
      r->dialing = 1;
      return 0;
    }
  }
  return WR_ERR_NOTFOUND;
}

/* Sends the framed messages in r->out to r->peer; done follows from the
 * loop (never from here). Returns 0, or an error with r freed. */
static int rpc_start(wr_dht *d, const wr_dht_peer *peer, wr_buf *framed, int expect_reply,
                     rpc_done_fn done, void *owner) {
  rpc *r = wr_calloc(1, sizeof *r);
  if (!r)
    return WR_ERR_NOMEM;
  r->d = d;
  r->peer = *peer;
  r->out = *framed;
  wr_buf_init(framed, framed->limit);
  wr_buf_init(&r->in, REPLY_BUF_LIMIT);
  r->expect_reply = expect_reply;
  r->done = done;
  r->owner = owner;
  r->deadline_ms = now_ms(d) + d->cfg.rpc_timeout_ms;
  wr_p2p_conn *c = conn_to(d, &peer->id);
  int rv = c ? rpc_open(r, c) : rpc_dial_next(r);
  if (rv != 0) {
    wr_buf_free(&r->out);
    wr_buf_free(&r->in);
    wr_free(r);
    return rv;
  }
  d->refs++;
  r->next = d->rpcs;
  if (d->rpcs)
    d->rpcs->prev = r;
  d->rpcs = r;
  return 0;
}

static void msg_reset(wr_kad_msg *m, int type, const uint8_t *key, size_t keylen) {
  m->type = type;
  m->cluster_level = 0;
  m->key = (wr_bytes){key, keylen};
  m->has_record = 0;
  m->ncloser = m->nproviders = 0;
}

/* ---- lookups ---- */

enum { C_NEW, C_WAIT, C_DONE, C_FAIL };

typedef struct cand {
  wr_dht_peer p;
  uint8_t pos[WR_KAD_KEY_BYTES];
  int state;
} cand;

typedef void (*query_end_fn)(wr_dht_query *q, int err);

struct wr_dht_query {
  wr_dht *d;
  wr_dht_query *next;
  int type; /* the request each peer gets */
  uint8_t key[256];
  size_t keylen;
  uint8_t target[WR_KAD_KEY_BYTES];
  cand *c;
  size_t nc;
  size_t inflight;
  size_t width; /* the nearest this many must all have answered (k; wider for a sweep) */
  int finished;
  query_end_fn on_end;
  /* GET_PROVIDERS */
  wr_dht_provider_cb on_provider;
  wr_dht_done_cb on_done;
  size_t max, nseen;
  wr_peerid *seen;
  /* FIND_NODE for one peer */
  int want_peer;
  wr_peerid want;
  int found;
  wr_dht_peer found_peer;
  /* GET_VALUE */
  uint8_t *vals[MAX_QUERY_VALUES];
  size_t lens[MAX_QUERY_VALUES], nvals;
  /* the caller's */
  void *cb;
  void *data;
};

static void query_step(wr_dht_query *q);

static void query_maybe_free(wr_dht_query *q) {
  if (!q->finished || q->inflight)
    return;
  wr_dht *d = q->d;
  for (wr_dht_query **pp = &d->queries; *pp; pp = &(*pp)->next)
    if (*pp == q) {
      *pp = q->next;
      break;
    }
  for (size_t i = 0; i < q->nvals; i++)
    wr_free(q->vals[i]);
  wr_free(q->seen);
  wr_free(q->c);
  wr_free(q);
  unref(d);
}

static void query_end(wr_dht_query *q, int err) {
  if (q->finished)
    return;
  q->finished = 1;
  q->on_end(q, err);
  query_maybe_free(q);
}

static cand *cand_find(wr_dht_query *q, const wr_peerid *id) {
  for (size_t i = 0; i < q->nc; i++)
    if (wr_peerid_equal(&q->c[i].p.id, id))
      return &q->c[i];
  return NULL;
}

static void cand_add(wr_dht_query *q, const wr_dht_peer *p) {
  if (wr_peerid_equal(&p->id, wr_p2p_host_id(q->d->host)))
    return;
  cand *have = cand_find(q, &p->id);
  if (have) {
    if (!have->p.naddrs && p->naddrs && have->state == C_NEW) {
      memcpy(have->p.addrs, p->addrs, p->naddrs * sizeof p->addrs[0]);
      have->p.naddrs = p->naddrs;
    }
    return;
  }
  cand nc;
  nc.p = *p;
  wr_rt_peer_key(&p->id, nc.pos);
  nc.state = C_NEW;
  size_t j = q->nc;
  if (j == MAX_CANDS) {
    if (wr_kad_closer(q->target, nc.pos, q->c[j - 1].pos) >= 0 || q->c[j - 1].state == C_WAIT)
      return;
    j--;
  } else {
    q->nc++;
  }
  while (j > 0 && wr_kad_closer(q->target, nc.pos, q->c[j - 1].pos) < 0) {
    q->c[j] = q->c[j - 1];
    j--;
  }
  q->c[j] = nc;
}

static void query_rpc_done(rpc *r, int err, const wr_kad_msg *m) {
  wr_dht_query *q = r->owner;
  q->inflight--;
  cand *c = cand_find(q, &r->peer.id);
  if (c)
    c->state = err ? C_FAIL : C_DONE;
  if (q->finished) {
    query_maybe_free(q);
    return;
  }
  if (!err && m) {
    for (size_t i = 0; i < m->ncloser; i++) {
      wr_dht_peer p;
      if (peer_from_kad(&m->closer[i], &p) != 0)
        continue;
      if (q->want_peer && wr_peerid_equal(&p.id, &q->want) && p.naddrs && !q->found) {
        q->found = 1;
        q->found_peer = p;
      }
      cand_add(q, &p);
    }
    if (q->type == WR_KAD_GET_PROVIDERS) {
      for (size_t i = 0; i < m->nproviders && !q->finished; i++) {
        wr_dht_peer p;
        if (peer_from_kad(&m->providers[i], &p) != 0)
          continue;
        int dup = 0;
        for (size_t k = 0; k < q->nseen && !dup; k++)
          dup = wr_peerid_equal(&q->seen[k], &p.id);
        if (dup || q->nseen == MAX_SEEN_PROVIDERS)
          continue;
        q->seen[q->nseen++] = p.id;
        q->on_provider(q->data, &p);
        if (q->max && q->nseen >= q->max)
          query_end(q, 0);
      }
    }
    if (q->type == WR_KAD_GET_VALUE && m->has_record && q->nvals < MAX_QUERY_VALUES &&
        m->record.key.n == q->keylen && memcmp(m->record.key.p, q->key, q->keylen) == 0) {
      wr_dht *d = q->d;
      const char *why = NULL;
      int ok = 0;
      for (size_t v = 0; v < d->nvalidators; v++) {
        size_t nl = strlen(d->validators[v].ns);
        if (q->keylen > nl + 2 && q->key[0] == '/' &&
            memcmp(q->key + 1, d->validators[v].ns, nl) == 0 && q->key[nl + 1] == '/')
          ok = d->validators[v].validate(d->validators[v].user, q->key, q->keylen,
                                         m->record.value.p, m->record.value.n, &why) == 0;
      }
      if (ok && m->record.value.n <= WR_DHT_MAX_VALUE &&
          (q->vals[q->nvals] = wr_malloc(m->record.value.n ? m->record.value.n : 1))) {
        memcpy(q->vals[q->nvals], m->record.value.p, m->record.value.n);
        q->lens[q->nvals++] = m->record.value.n;
      }
    }
  }
  if (q->want_peer && q->found) {
    query_end(q, 0);
    return;
  }
  query_step(q);
}

static void query_step(wr_dht_query *q) {
  wr_dht *d = q->d;
  if (q->finished)
    return;
  while (q->inflight < d->cfg.alpha) {
    cand *pick = NULL;
    size_t ok = 0;
    for (size_t i = 0; i < q->nc && ok < q->width; i++) {
      if (q->c[i].state == C_FAIL)
        continue;
      ok++;
      if (q->c[i].state == C_NEW) {
        pick = &q->c[i];
        break;
      }
    }
    if (!pick)
      break;
    msg_reset(d->tx, q->type, q->key, q->keylen);
    wr_buf b;
    wr_buf_init(&b, WR_KAD_MAX_MSG + 16);
    int rv = wr_kad_encode_frame(d->tx, &b);
    if (rv == 0)
      rv = rpc_start(d, &pick->p, &b, 1, query_rpc_done, q);
    wr_buf_free(&b);
    if (rv != 0) {
      pick->state = C_FAIL;
      continue;
    }
    pick->state = C_WAIT;
    q->inflight++;
  }
  if (q->inflight == 0)
    query_end(q, 0);
}

static int query_new(wr_dht *d, int type, const uint8_t *key, size_t keylen, query_end_fn on_end,
                     void *cb, void *data, wr_dht_query **pq) {
  if (d->closed)
    return WR_ERR_CLOSED;
  if (keylen == 0 || keylen > sizeof((wr_dht_query *)0)->key)
    return WR_ERR_INVAL;
  wr_dht_query *q = wr_calloc(1, sizeof *q);
  if (!q || !(q->c = wr_calloc(MAX_CANDS, sizeof *q->c))) {
    wr_free(q);
    return WR_ERR_NOMEM;
  }
  q->d = d;
  q->type = type;
  memcpy(q->key, key, keylen);
  q->keylen = keylen;
  wr_kad_key(key, keylen, q->target);
  q->on_end = on_end;
  q->width = d->cfg.k;
  q->cb = cb;
  q->data = data;
  wr_rt_peer *near[WR_RT_K * 4];
  size_t n =
      wr_rtable_closest(&d->rt, q->target, near, d->cfg.k < WR_RT_K * 4 ? d->cfg.k : WR_RT_K * 4);
  for (size_t i = 0; i < n; i++) {
    wr_dht_peer p = {.id = near[i]->id, .naddrs = near[i]->naddrs};
    memcpy(p.addrs, near[i]->addrs, near[i]->naddrs * sizeof p.addrs[0]);
    cand_add(q, &p);
  }
  d->refs++;
  q->next = d->queries;
  d->queries = q;
  *pq = q;
  return 0;
}

/* The peers that answered, nearest first (at most cap). */
static size_t query_answered(wr_dht_query *q, wr_dht_peer *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < q->nc && n < cap; i++)
    if (q->c[i].state == C_DONE)
      out[n++] = q->c[i].p;
  return n;
}

static void closest_end(wr_dht_query *q, int err) {
  wr_dht_peers_cb cb = (wr_dht_peers_cb)q->cb;
  wr_dht_peer *out = wr_calloc(q->d->cfg.k, sizeof *out);
  size_t n = out ? query_answered(q, out, q->d->cfg.k) : 0;
  cb(q->data, err ? err : (n ? 0 : WR_ERR_NOTFOUND), out, n);
  wr_free(out);
}

int wr_dht_closest_peers(wr_dht *d, const uint8_t *key, size_t keylen, wr_dht_peers_cb cb,
                         void *data) {
  wr_dht_query *q;
  int rv = query_new(d, WR_KAD_FIND_NODE, key, keylen, closest_end, (void *)cb, data, &q);
  if (rv == 0)
    query_step(q);
  return rv;
}

static void find_peer_end(wr_dht_query *q, int err) {
  wr_dht_peers_cb cb = (wr_dht_peers_cb)q->cb;
  if (!err && !q->found) {
    /* The lookup may have reached the peer itself. */
    cand *c = cand_find(q, &q->want);
    if (c && c->p.naddrs) {
      q->found = 1;
      q->found_peer = c->p;
    }
  }
  if (q->found && !err)
    cb(q->data, 0, &q->found_peer, 1);
  else
    cb(q->data, err ? err : WR_ERR_NOTFOUND, NULL, 0);
}

int wr_dht_find_peer(wr_dht *d, const wr_peerid *id, wr_dht_peers_cb cb, void *data) {
  uint8_t idb[WR_MH_MAX_BYTES];
  int idn = wr_peerid_to_bytes(id, idb, sizeof idb);
  if (idn <= 0)
    return WR_ERR_INVAL;
  wr_dht_query *q;
  int rv = query_new(d, WR_KAD_FIND_NODE, idb, (size_t)idn, find_peer_end, (void *)cb, data, &q);
  if (rv != 0)
    return rv;
  q->want_peer = 1;
  q->want = *id;
  wr_p2p_conn *c = conn_to(d, id);
  wr_rt_peer *rp = wr_rtable_find(&d->rt, id);
  if (c || (rp && rp->naddrs)) {
    q->found = 1;
    q->found_peer.id = *id;
    if (c) {
      const wr_p2p_peer_info *in = wr_p2p_conn_info(c);
      for (size_t i = 0; i < in->nlisten_addrs && q->found_peer.naddrs < WR_DHT_MAX_ADDRS; i++)
        if (dialable(&in->listen_addrs[i]))
          q->found_peer.addrs[q->found_peer.naddrs++] = in->listen_addrs[i];
      if (!q->found_peer.naddrs) {
        q->found_peer.addrs[0] = *wr_p2p_conn_remote_addr(c);
        q->found_peer.naddrs = 1;
      }
    } else {
      q->found_peer.naddrs = rp->naddrs;
      memcpy(q->found_peer.addrs, rp->addrs, rp->naddrs * sizeof rp->addrs[0]);
    }
    /* Answer from the loop, as every other answer comes. */
  }
  query_step(q);
  return 0;
}

static void providers_end(wr_dht_query *q, int err) { q->on_done(q->data, err); }

int wr_dht_find_providers(wr_dht *d, const uint8_t *mh, size_t mhlen, size_t max,
                          wr_dht_provider_cb on_provider, wr_dht_done_cb on_done, void *data,
                          wr_dht_query **pq) {
  wr_dht_query *q;
  int rv = query_new(d, WR_KAD_GET_PROVIDERS, mh, mhlen, providers_end, NULL, data, &q);
  if (rv != 0)
    return rv;
  if (!(q->seen = wr_calloc(MAX_SEEN_PROVIDERS, sizeof *q->seen))) {
    q->finished = 1;
    q->on_end = NULL;
    query_maybe_free(q);
    return WR_ERR_NOMEM;
  }
  q->on_provider = on_provider;
  q->on_done = on_done;
  q->max = max;
  if (pq)
    *pq = q;
  /* Our own records first. */
  wr_prov_rec recs[WR_PROV_MAX_PER_KEY];
  size_t n = wr_provstore_get(d->provs, mh, mhlen, now_ms(d), recs, WR_PROV_MAX_PER_KEY);
  for (size_t i = 0; i < n && !q->finished; i++) {
    wr_dht_peer p = {.id = recs[i].id, .naddrs = recs[i].naddrs};
    memcpy(p.addrs, recs[i].addrs, recs[i].naddrs * sizeof p.addrs[0]);
    if (wr_peerid_equal(&p.id, wr_p2p_host_id(d->host)))
      self_peer(d, &p);
    q->seen[q->nseen++] = p.id;
    on_provider(data, &p);
    if (max && q->nseen >= max)
      query_end(q, 0);
  }
  query_step(q);
  return 0;
}

int wr_dht_find_providers_cid(wr_dht *d, const wr_cid *cid, size_t max,
                              wr_dht_provider_cb on_provider, wr_dht_done_cb on_done, void *data,
                              wr_dht_query **pq) {
  uint8_t mh[WR_MH_MAX_BYTES];
  int n = wr_mh_encode(&cid->mh, mh, sizeof mh);
  if (n <= 0 || (size_t)n > WR_PROV_MAX_KEY)
    return WR_ERR_INVAL;
  return wr_dht_find_providers(d, mh, (size_t)n, max, on_provider, on_done, data, pq);
}

void wr_dht_query_cancel(wr_dht_query *q) { query_end(q, WR_ERR_CLOSED); }

/* ---- records ---- */

static const wr_dht_validator *validator_for(wr_dht *d, const uint8_t *key, size_t keylen) {
  for (size_t v = 0; v < d->nvalidators; v++) {
    size_t nl = strlen(d->validators[v].ns);
    if (keylen > nl + 2 && key[0] == '/' && memcmp(key + 1, d->validators[v].ns, nl) == 0 &&
        key[nl + 1] == '/')
      return &d->validators[v];
  }
  return NULL;
}

/* The record kept under key, expired or not. */
static record *record_slot(wr_dht *d, const uint8_t *key, size_t keylen) {
  for (record *r = d->records; r; r = r->next)
    if (r->keylen == keylen && memcmp(r->key, key, keylen) == 0)
      return r;
  return NULL;
}

/* The live record kept under key. */
static record *record_find(wr_dht *d, const uint8_t *key, size_t keylen) {
  record *r = record_slot(d, key, keylen);
  return r && r->expires_ms > now_ms(d) ? r : NULL;
}

/* Drops the records whose time is up. */
static void records_expire(wr_dht *d, uint64_t now) {
  for (record **pp = &d->records, *r; (r = *pp) != NULL;) {
    if (r->expires_ms > now) {
      pp = &r->next;
      continue;
    }
    *pp = r->next;
    wr_free(r->key);
    wr_free(r->val);
    wr_free(r);
    d->nrecords--;
  }
}

/* Validates and keeps a record (the better one when we hold one) until
 * expires_ms; tells the sink when notify is set and it was stored. */
static int record_put(wr_dht *d, const uint8_t *key, size_t keylen, const uint8_t *val,
                      size_t vallen, uint64_t expires_ms, int notify, const char **preason) {
  const wr_dht_validator *v = validator_for(d, key, keylen);
  if (!v) {
    *preason = "no validator for the record's namespace";
    return WR_ERR_UNSUPPORTED;
  }
  if (vallen > WR_DHT_MAX_VALUE) {
    *preason = "record value longer than 64 KiB";
    return WR_ERR_LIMIT;
  }
  if (v->validate(v->user, key, keylen, val, vallen, preason) != 0)
    return WR_ERR_MALFORMED;
  record *r = record_slot(d, key, keylen);
  if (r && r->expires_ms > now_ms(d) && v->select) {
    const uint8_t *vals[2] = {r->val, val};
    size_t lens[2] = {r->vallen, vallen};
    if (v->select(v->user, key, keylen, vals, lens, 2) == 0)
      return 0;
  }
  uint8_t *copy = wr_malloc(vallen ? vallen : 1);
  if (!copy)
    return WR_ERR_NOMEM;
  memcpy(copy, val, vallen);
  if (!r) {
    if (d->nrecords >= MAX_RECORDS) {
      wr_free(copy);
      *preason = "record store is full";
      return WR_ERR_LIMIT;
    }
    if (!(r = wr_calloc(1, sizeof *r)) || !(r->key = wr_malloc(keylen))) {
      wr_free(r);
      wr_free(copy);
      return WR_ERR_NOMEM;
    }
    memcpy(r->key, key, keylen);
    r->keylen = keylen;
    r->next = d->records;
    d->records = r;
    d->nrecords++;
  }
  wr_free(r->val);
  r->val = copy;
  r->vallen = vallen;
  r->expires_ms = expires_ms;
  if (notify && d->sink.on_record)
    d->sink.on_record(d->sink.user, key, keylen, val, vallen, expires_ms);
  return 0;
}

void wr_dht_set_sink(wr_dht *d, const wr_dht_sink *s) {
  if (s)
    d->sink = *s;
  else
    memset(&d->sink, 0, sizeof d->sink);
}

int wr_dht_restore_record(wr_dht *d, const uint8_t *key, size_t keylen, const uint8_t *val,
                          size_t vallen, uint64_t expires_ms) {
  const char *why = NULL;
  uint64_t cap = now_ms(d) + d->cfg.record_ttl_ms;
  if (expires_ms <= now_ms(d))
    return WR_ERR_TIMEOUT;
  int rv = record_put(d, key, keylen, val, vallen, expires_ms < cap ? expires_ms : cap, 0, &why);
  if (rv != 0)
    WR_DEBUG("DHT record not restored", "reason=\"%s\"", why ? why : wr_strerror(rv));
  return rv;
}

int wr_dht_validate_pk(const uint8_t *key, size_t keylen, const uint8_t *val, size_t vallen,
                       const char **preason) {
  static const char pfx[] = "/pk/";
  const char *why = "";
  if (keylen <= 4 || memcmp(key, pfx, 4) != 0)
    why = "a /pk/ key starts with /pk/ and a peer ID";
  wr_peerid want, got;
  if (!*why && wr_peerid_decode(key + 4, keylen - 4, &want, NULL) != 0)
    why = "the /pk/ key does not end with a peer ID";
  wr_p2p_pubkey pk;
  if (!*why && wr_p2p_pubkey_decode(val, vallen, &pk, NULL) != 0)
    why = "the /pk/ value is not a public key";
  if (!*why) {
    /* A peer ID inlines keys of up to 42 bytes and hashes longer ones. */
    if (vallen <= 42) {
      got.mh.code = 0;
      got.mh.size = (uint32_t)vallen;
      memcpy(got.mh.digest, val, vallen);
    } else {
      wr_mh_sha256(&got.mh, val, vallen);
    }
    if (!wr_peerid_equal(&want, &got))
      why = "the /pk/ value's key does not hash to the key's peer ID";
  }
  if (*why) {
    if (preason)
      *preason = why;
    return WR_ERR_MALFORMED;
  }
  return 0;
}

static int pk_validate(void *user, const uint8_t *key, size_t keylen, const uint8_t *val,
                       size_t vallen, const char **preason) {
  (void)user;
  return wr_dht_validate_pk(key, keylen, val, vallen, preason);
}

static size_t pk_select(void *user, const uint8_t *key, size_t keylen, const uint8_t *const *vals,
                        const size_t *lens, size_t n) {
  (void)user, (void)key, (void)keylen, (void)vals, (void)lens, (void)n;
  return 0; /* every valid /pk/ value is the same key */
}

int wr_dht_add_validator(wr_dht *d, const wr_dht_validator *v) {
  for (size_t i = 0; i < d->nvalidators; i++)
    if (strcmp(d->validators[i].ns, v->ns) == 0) {
      d->validators[i] = *v;
      return 0;
    }
  if (d->nvalidators == MAX_VALIDATORS)
    return WR_ERR_LIMIT;
  d->validators[d->nvalidators++] = *v;
  return 0;
}

typedef struct put_ctx {
  wr_dht *d;
  wr_dht_done_cb cb;
  void *data;
  uint8_t *key, *val;
  size_t keylen, vallen, pending, ok;
} put_ctx;

static void put_ctx_free(put_ctx *p) {
  wr_free(p->key);
  wr_free(p->val);
  wr_free(p);
}

static void put_rpc_done(rpc *r, int err, const wr_kad_msg *m) {
  put_ctx *p = r->owner;
  if (!err && m && m->type == WR_KAD_PUT_VALUE)
    p->ok++;
  if (--p->pending == 0) {
    p->cb(p->data, p->ok ? 0 : WR_ERR_NOTFOUND);
    put_ctx_free(p);
  }
}

static void put_closest_done(void *data, int err, const wr_dht_peer *peers, size_t n) {
  put_ctx *p = data;
  wr_dht *d = p->d;
  if (err || d->closed) {
    p->cb(p->data, err ? err : WR_ERR_CLOSED);
    put_ctx_free(p);
    return;
  }
  p->pending = 1; /* held while sending */
  for (size_t i = 0; i < n; i++) {
    msg_reset(d->tx, WR_KAD_PUT_VALUE, p->key, p->keylen);
    d->tx->has_record = 1;
    d->tx->record = (wr_kad_record){.key = {p->key, p->keylen}, .value = {p->val, p->vallen}};
    wr_buf b;
    wr_buf_init(&b, WR_KAD_MAX_MSG + 16);
    if (wr_kad_encode_frame(d->tx, &b) == 0 && rpc_start(d, &peers[i], &b, 1, put_rpc_done, p) == 0)
      p->pending++;
    wr_buf_free(&b);
  }
  if (--p->pending == 0) {
    p->cb(p->data, p->ok ? 0 : WR_ERR_NOTFOUND);
    put_ctx_free(p);
  }
}

int wr_dht_put_value(wr_dht *d, const uint8_t *key, size_t keylen, const uint8_t *val,
                     size_t vallen, wr_dht_done_cb cb, void *data) {
  const char *why = NULL;
  int rv = record_put(d, key, keylen, val, vallen, now_ms(d) + d->cfg.record_ttl_ms, 1, &why);
  if (rv != 0) {
    wr_log(WR_LOG_WARN, "DHT record refused", "reason=\"%s\"", why ? why : "?");
    return rv;
  }
  put_ctx *p = wr_calloc(1, sizeof *p);
  if (!p || !(p->key = wr_malloc(keylen)) || !(p->val = wr_malloc(vallen ? vallen : 1))) {
    if (p)
      put_ctx_free(p);
    return WR_ERR_NOMEM;
  }
  p->d = d;
  p->cb = cb;
  p->data = data;
  memcpy(p->key, key, keylen);
  memcpy(p->val, val, vallen);
  p->keylen = keylen;
  p->vallen = vallen;
  rv = wr_dht_closest_peers(d, key, keylen, put_closest_done, p);
  if (rv != 0)
    put_ctx_free(p);
  return rv;
}

static void value_end(wr_dht_query *q, int err) {
  wr_dht_value_cb cb = (wr_dht_value_cb)q->cb;
  wr_dht *d = q->d;
  if (err) {
    cb(q->data, err, NULL, 0);
    return;
  }
  record *r = record_find(d, q->key, q->keylen);
  if (r && q->nvals < MAX_QUERY_VALUES &&
      (q->vals[q->nvals] = wr_malloc(r->vallen ? r->vallen : 1))) {
    memcpy(q->vals[q->nvals], r->val, r->vallen);
    q->lens[q->nvals++] = r->vallen;
  }
  if (!q->nvals) {
    cb(q->data, WR_ERR_NOTFOUND, NULL, 0);
    return;
  }
  const wr_dht_validator *v = validator_for(d, q->key, q->keylen);
  size_t best = v && v->select ? v->select(v->user, q->key, q->keylen,
                                           (const uint8_t *const *)q->vals, q->lens, q->nvals)
                               : 0;
  if (best >= q->nvals)
    best = 0;
  cb(q->data, 0, q->vals[best], q->lens[best]);
}

int wr_dht_get_value(wr_dht *d, const uint8_t *key, size_t keylen, wr_dht_value_cb cb, void *data) {
  if (!validator_for(d, key, keylen))
    return WR_ERR_UNSUPPORTED;
  wr_dht_query *q;
  int rv = query_new(d, WR_KAD_GET_VALUE, key, keylen, value_end, (void *)cb, data, &q);
  if (rv == 0)
    query_step(q);
  return rv;
}

/* ---- the provide sweep ---- */

struct provide_job {
  wr_dht *d;
  provide_job *next;
  pkey *keys;
  size_t n, idx, region_end;
  wr_dht_peer *S; /* who answered the region's lookup, nearest first */
  uint8_t (*Spos)[WR_KAD_KEY_BYTES];
  size_t nS;
  size_t pending;
  wr_dht_provide_stats st;
  uint64_t t0;
  int reprovide; /* the timer's round, not a caller's */
  wr_dht_provided_cb cb;
  void *data;
};

static int pkey_cmp(const void *a, const void *b) {
  return memcmp(((const pkey *)a)->pos, ((const pkey *)b)->pos, WR_KAD_KEY_BYTES);
}

static void job_next_region(provide_job *j);

static void job_end(provide_job *j, int err) {
  wr_dht *d = j->d;
  for (provide_job **pp = &d->jobs; *pp; pp = &(*pp)->next)
    if (*pp == j) {
      *pp = j->next;
      break;
    }
  j->st.ms = now_ms(d) - j->t0;
  if (j->reprovide)
    d->reproviding = 0;
  /* Nobody to tell yet (no bootstrap, or every peer gone): try again soon
   * rather than in 22 hours. */
  d->lonely = err == WR_ERR_NOTFOUND;
  if (d->lonely && !d->closed && d->next_reprovide_ms > now_ms(d) + 60000)
    d->next_reprovide_ms = now_ms(d) + 60000;
  if (j->st.keys || err)
    wr_log(err && err != WR_ERR_CLOSED && err != WR_ERR_NOTFOUND ? WR_LOG_WARN : WR_LOG_INFO,
           "DHT provide round done",
           "keys=%zu lookups=%zu messages=%zu unreachable=%zu ms=%llu err=\"%s\"", j->st.keys,
           j->st.lookups, j->st.messages, j->st.failed, (unsigned long long)j->st.ms,
           err ? wr_strerror(err) : "");
  if (j->cb)
    j->cb(j->data, err, &j->st);
  wr_free(j->keys);
  wr_free(j->S);
  wr_free(j->Spos);
  wr_free(j);
  unref(d);
}

static void job_rpc_done(rpc *r, int err, const wr_kad_msg *m) {
  (void)m;
  provide_job *j = r->owner;
  if (err)
    j->st.failed++;
  if (--j->pending == 0) {
    if (j->d->closed)
      job_end(j, WR_ERR_CLOSED);
    else
      job_next_region(j);
  }
}

/* The indices of the k peers of S nearest to pos, nearest first. */
static size_t nearest_in(provide_job *j, const uint8_t pos[WR_KAD_KEY_BYTES], size_t *idx,
                         size_t k) {
  size_t got = 0;
  for (size_t i = 0; i < j->nS; i++) {
    size_t m = got < k ? got : k;
    if (m == k && wr_kad_closer(pos, j->Spos[i], j->Spos[idx[k - 1]]) >= 0)
      continue;
    if (m == k)
      m--;
    while (m > 0 && wr_kad_closer(pos, j->Spos[i], j->Spos[idx[m - 1]]) < 0) {
      idx[m] = idx[m - 1];
      m--;
    }
    idx[m] = i;
    if (got < k)
      got++;
  }
  return got;
}

/* A key K is covered by the region's lookup toward T when every peer P
 * nearer to K than K's k-th nearest answered peer is one the lookup knows.
 * The lookup knows every peer within R of T (R: the distance from T to the
 * W-th nearest peer that answered, W = 3k, or all of them when fewer did:
 * it ran until its W nearest had all answered, and this is the assumption
 * a Kademlia lookup makes for its k nearest). XOR distance gives the bound
 * exactly: d(P,T) = d(P,K) XOR d(K,T), and d(K,T) < 2^h where h is the
 * bit length of d(K,T), so d(P,T) agrees with d(P,K) above bit h and is at
 * most r_K with its low h bits set (r_K: the distance from K to its k-th
 * nearest). K is covered when that is <= R. With fewer than k answers the
 * lookup saw the whole reachable network and covers every key. */
static int covered(provide_job *j, const uint8_t T[WR_KAD_KEY_BYTES],
                   const uint8_t R[WR_KAD_KEY_BYTES], const uint8_t K[WR_KAD_KEY_BYTES],
                   size_t *idx, size_t *pn) {
  size_t k = j->d->cfg.k;
  *pn = nearest_in(j, K, idx, k);
  if (j->nS < k)
    return 1;
  uint8_t bound[WR_KAD_KEY_BYTES];
  wr_kad_distance(K, j->Spos[idx[*pn - 1]], bound);
  for (unsigned bit = wr_kad_common_prefix(K, T); bit < WR_KAD_KEY_BYTES * 8; bit++)
    bound[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
  return memcmp(bound, R, WR_KAD_KEY_BYTES) <= 0;
}

static void job_lookup_done(void *data, int err, const wr_dht_peer *peers, size_t n);

static void job_region_send(provide_job *j, const uint8_t T[WR_KAD_KEY_BYTES]) {
  wr_dht *d = j->d;
  size_t k = d->cfg.k, w = SWEEP_WIDTH(d) < j->nS ? SWEEP_WIDTH(d) : j->nS;
  uint8_t R[WR_KAD_KEY_BYTES];
  wr_kad_distance(T, j->Spos[w - 1], R);
  wr_buf *bufs = wr_calloc(j->nS ? j->nS : 1, sizeof *bufs);
  size_t *idx = wr_calloc(k, sizeof *idx);
  if (!bufs || !idx) {
    wr_free(bufs);
    wr_free(idx);
    job_end(j, WR_ERR_NOMEM);
    return;
  }
  for (size_t i = 0; i < j->nS; i++)
    wr_buf_init(&bufs[i], 64u << 20);
  wr_dht_peer self;
  self_peer(d, &self);
  uint8_t selfid[WR_MH_MAX_BYTES];
  size_t e = j->idx;
  for (; e < j->n; e++) {
    size_t np = 0;
    if (e > j->idx && !covered(j, T, R, j->keys[e].pos, idx, &np))
      break;
    if (e == j->idx)
      np = nearest_in(j, j->keys[e].pos, idx, k);
    msg_reset(d->tx, WR_KAD_ADD_PROVIDER, j->keys[e].key, j->keys[e].len);
    kad_peer_of(&self, selfid, sizeof selfid, &d->tx->providers[0]);
    d->tx->nproviders = 1;
    for (size_t i = 0; i < np; i++)
      if (wr_kad_encode_frame(d->tx, &bufs[idx[i]]) == 0)
        j->st.messages++;
    j->st.keys++;
  }
  j->idx = e;
  j->pending = 1;
  for (size_t i = 0; i < j->nS; i++) {
    if (bufs[i].len && rpc_start(d, &j->S[i], &bufs[i], 0, job_rpc_done, j) == 0)
      j->pending++;
    else if (bufs[i].len)
      j->st.failed++;
    wr_buf_free(&bufs[i]);
  }
  wr_free(bufs);
  wr_free(idx);
  if (--j->pending == 0)
    job_next_region(j);
}

static void job_lookup_done(void *data, int err, const wr_dht_peer *peers, size_t n) {
  provide_job *j = data;
  (void)err;
  if (j->d->closed) {
    job_end(j, WR_ERR_CLOSED);
    return;
  }
  wr_free(j->S);
  wr_free(j->Spos);
  j->S = NULL;
  j->Spos = NULL;
  j->nS = 0;
  if (n) {
    j->S = wr_malloc(n * sizeof *j->S);
    j->Spos = wr_malloc(n * sizeof *j->Spos);
    if (!j->S || !j->Spos) {
      job_end(j, WR_ERR_NOMEM);
      return;
    }
    memcpy(j->S, peers, n * sizeof *peers);
    for (size_t i = 0; i < n; i++)
      wr_rt_peer_key(&peers[i].id, j->Spos[i]);
    j->nS = n;
  }
  if (!n) {
    /* Nobody to tell: the keys stay in our own store and the next
     * reprovide tries again. */
    j->st.keys += j->n - j->idx;
    j->idx = j->n;
    job_end(j, WR_ERR_NOTFOUND);
    return;
  }
  job_region_send(j, j->keys[j->idx].pos);
}

/* A lookup that hands back every peer that answered (not only k). */
static void all_answered_end(wr_dht_query *q, int err) {
  wr_dht_peers_cb cb = (wr_dht_peers_cb)q->cb;
  wr_dht_peer *out = wr_calloc(MAX_CANDS, sizeof *out);
  size_t n = out ? query_answered(q, out, MAX_CANDS) : 0;
  cb(q->data, err, out, n);
  wr_free(out);
}

static void job_next_region(provide_job *j) {
  wr_dht *d = j->d;
  if (j->idx >= j->n) {
    job_end(j, 0);
    return;
  }
  wr_dht_query *q;
  int rv = query_new(d, WR_KAD_FIND_NODE, j->keys[j->idx].key, j->keys[j->idx].len,
                     all_answered_end, (void *)job_lookup_done, j, &q);
  if (rv != 0) {
    job_end(j, rv);
    return;
  }
  q->width = SWEEP_WIDTH(d);
  j->st.lookups++;
  query_step(q);
}

static int remember_provided(wr_dht *d, const pkey *keys, size_t n) {
  if (d->nprovided + n > d->capprovided) {
    size_t cap = (d->nprovided + n) * 2;
    pkey *p = wr_realloc(d->provided, cap * sizeof *p);
    if (!p)
      return WR_ERR_NOMEM;
    d->provided = p;
    d->capprovided = cap;
  }
  memcpy(d->provided + d->nprovided, keys, n * sizeof *keys);
  d->nprovided += n;
  if (d->nprovided > 2 * d->uniqprovided + 64) {
    qsort(d->provided, d->nprovided, sizeof *d->provided, pkey_cmp);
    size_t w = 0;
    for (size_t i = 0; i < d->nprovided; i++)
      if (w == 0 || pkey_cmp(&d->provided[w - 1], &d->provided[i]) != 0)
        d->provided[w++] = d->provided[i];
    d->nprovided = d->uniqprovided = w;
  }
  return 0;
}

static int provide_keys(wr_dht *d, pkey *keys, size_t n, int reprovide, wr_dht_provided_cb cb,
                        void *data) {
  provide_job *j = wr_calloc(1, sizeof *j);
  if (!j) {
    wr_free(keys);
    return WR_ERR_NOMEM;
  }
  qsort(keys, n, sizeof *keys, pkey_cmp);
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (w == 0 || pkey_cmp(&keys[w - 1], &keys[i]) != 0)
      keys[w++] = keys[i];
  j->d = d;
  j->keys = keys;
  j->n = w;
  j->reprovide = reprovide;
  j->cb = cb;
  j->data = data;
  j->t0 = now_ms(d);
  /* We provide them ourselves: our answers to GET_PROVIDERS name us. */
  wr_prov_rec self = {.id = *wr_p2p_host_id(d->host),
                      .expires_ms = now_ms(d) + d->cfg.provider_ttl_ms};
  for (size_t i = 0; i < w; i++)
    if (wr_provstore_add(d->provs, keys[i].key, keys[i].len, &self) != 0)
      break; /* full: the lookups still announce them */
  d->refs++;
  j->next = d->jobs;
  d->jobs = j;
  job_next_region(j);
  return 0;
}

int wr_dht_provide(wr_dht *d, const uint8_t *const *keys, const size_t *lens, size_t n,
                   wr_dht_provided_cb cb, void *data) {
  if (d->closed)
    return WR_ERR_CLOSED;
  pkey *k = wr_calloc(n ? n : 1, sizeof *k);
  if (!k)
    return WR_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    if (lens[i] == 0 || lens[i] > WR_PROV_MAX_KEY) {
      wr_free(k);
      return WR_ERR_INVAL;
    }
    memcpy(k[i].key, keys[i], lens[i]);
    k[i].len = lens[i];
    wr_kad_key(keys[i], lens[i], k[i].pos);
  }
  int rv = remember_provided(d, k, n);
  if (rv != 0) {
    wr_free(k);
    return rv;
  }
  if (d->sink.on_provide)
    d->sink.on_provide(d->sink.user, keys, lens, n);
  return provide_keys(d, k, n, 0, cb, data);
}

static void reprovide(wr_dht *d) {
  if (d->reproviding || !d->nprovided)
    return;
  pkey *k = wr_malloc(d->nprovided * sizeof *k);
  if (!k)
    return;
  memcpy(k, d->provided, d->nprovided * sizeof *k);
  d->reproviding = 1;
  if (provide_keys(d, k, d->nprovided, 1, NULL, NULL) != 0)
    d->reproviding = 0;
}

/* ---- the server ---- */

struct sstream {
  wr_dht *d;
  sstream *next, *prev;
  wr_p2p_stream *st;
  wr_buf in, out;
  int fin, ended;
  int refused;             /* reset: what still arrives is dropped */
  wr_peerbudget_entry *pb; /* the peer's budget */
  size_t held;             /* what this stream charges to it: in.cap + out.cap */
};

/* Resets s, counted by reason; logged at the first refusal and then at
 * powers of two, so a flood shows without flooding the log. */
static void ss_refuse(sstream *s, const char *reason) {
  wr_dht *d = s->d;
  if (s->refused)
    return;
  s->refused = 1;
  d->refusals++;
  if (d->m_refusals)
    wr_metric_inc(wr_metric_child(d->m_refusals, reason));
  if ((d->refusals & (d->refusals - 1)) == 0) {
    char id[WR_PEERID_MAX_STR];
    if (wr_peerid_format(&s->pb->id, id, sizeof id) < 0)
      snprintf(id, sizeof id, "?");
    WR_WARN("DHT stream reset",
            "peer=%s reason=%s peerBufferedBytes=%zu peerLimit=%zu serverBufferedBytes=%zu "
            "serverLimit=%zu refusedSoFar=%llu",
            id, reason, s->pb->bytes, d->budget.limit, d->budget.total, d->budget.total_limit,
            (unsigned long long)d->refusals);
  }
  wr_p2p_stream_reset(s->st);
}

/* Charges s's buffers as allocated to its peer; an empty one above
 * SERVER_BUF_KEEP is freed first. 0, or WR_ERR_LIMIT (the peer is over its
 * budget: the caller refuses the stream). */
static int ss_charge(sstream *s) {
  if (!s->in.len && s->in.cap > SERVER_BUF_KEEP)
    wr_buf_free(&s->in);
  if (!s->out.len && s->out.cap > SERVER_BUF_KEEP)
    wr_buf_free(&s->out);
  return wr_peerbudget_resize(&s->d->budget, s->pb, &s->held, s->in.cap + s->out.cap);
}

static void ss_flush(wr_p2p_stream *st) {
  sstream *s = wr_p2p_stream_user(st);
  if (s->refused)
    return;
  while (s->out.len) {
    ssize_t w = wr_p2p_stream_write(st, s->out.data, s->out.len);
    if (w == WR_ERR_AGAIN)
      return;
    if (w < 0) {
      wr_p2p_stream_reset(st);
      return;
    }
    wr_buf_consume(&s->out, (size_t)w);
  }
  (void)ss_charge(s); /* lower or equal: cannot fail */
  if (s->fin && !s->ended) {
    s->ended = 1;
    if (wr_p2p_stream_end(st) != 0)
      wr_p2p_stream_reset(st);
  }
}

/* Closer peers for an answer: from the table, without the asker. */
static void add_closer(wr_dht *d, wr_kad_msg *m, const uint8_t *key, size_t keylen,
                       const wr_peerid *asker, uint8_t (*idbufs)[WR_MH_MAX_BYTES]) {
  uint8_t pos[WR_KAD_KEY_BYTES];
  wr_kad_key(key, keylen, pos);
  wr_rt_peer *near[WR_RT_K + 1];
  size_t want = d->cfg.k + 1 <= WR_RT_K + 1 ? d->cfg.k + 1 : WR_RT_K + 1;
  size_t n = wr_rtable_closest(&d->rt, pos, near, want);
  for (size_t i = 0; i < n && m->ncloser < d->cfg.k && m->ncloser < WR_KAD_MAX_PEERS; i++) {
    if (wr_peerid_equal(&near[i]->id, asker) || !near[i]->naddrs)
      continue;
    /* The message points at the table's addresses, which stay put until
     * the answer is encoded. */
    wr_kad_peer *kp = &m->closer[m->ncloser];
    memset(kp, 0, sizeof *kp);
    int idn = wr_peerid_to_bytes(&near[i]->id, idbufs[m->ncloser], WR_MH_MAX_BYTES);
    kp->id = (wr_bytes){idbufs[m->ncloser], idn > 0 ? (size_t)idn : 0};
    for (size_t a = 0; a < near[i]->naddrs; a++)
      kp->addrs[kp->naddrs++] = (wr_bytes){near[i]->addrs[a].bytes, near[i]->addrs[a].len};
    m->ncloser++;
  }
}

/* Answers one request into s->out. Returns 0, or an error to reset. */
static int serve(sstream *s, const wr_kad_msg *q) {
  wr_dht *d = s->d;
  wr_p2p_conn *c = wr_p2p_stream_conn(s->st);
  const wr_peerid *asker = wr_p2p_conn_peer(c);
  wr_kad_msg *m = d->tx;
  static uint8_t idbufs[WR_KAD_MAX_PEERS * 2][WR_MH_MAX_BYTES];
  wr_prov_rec *recs = NULL;
  wr_dht_peer *provpeers = NULL;
  int rv = 0;
  msg_reset(m, q->type, q->key.p, q->key.n);
  switch (q->type) {
  case WR_KAD_FIND_NODE:
  case WR_KAD_GET_PROVIDERS:
    if (q->key.n == 0)
      return WR_ERR_MALFORMED;
    add_closer(d, m, q->key.p, q->key.n, asker, idbufs);
    if (q->type == WR_KAD_GET_PROVIDERS) {
      recs = wr_calloc(WR_PROV_MAX_PER_KEY, sizeof *recs);
      provpeers = wr_calloc(WR_PROV_MAX_PER_KEY, sizeof *provpeers);
      if (!recs || !provpeers) {
        rv = WR_ERR_NOMEM;
        break;
      }
      size_t n = wr_provstore_get(d->provs, q->key.p, q->key.n, now_ms(d), recs,
                                  d->cfg.k < WR_PROV_MAX_PER_KEY ? d->cfg.k : WR_PROV_MAX_PER_KEY);
      for (size_t i = 0; i < n; i++) {
        wr_dht_peer *p = &provpeers[i];
        p->id = recs[i].id;
        p->naddrs = recs[i].naddrs;
        memcpy(p->addrs, recs[i].addrs, recs[i].naddrs * sizeof p->addrs[0]);
        if (wr_peerid_equal(&p->id, wr_p2p_host_id(d->host)))
          self_peer(d, p);
        kad_peer_of(p, idbufs[WR_KAD_MAX_PEERS + i], WR_MH_MAX_BYTES, &m->providers[i]);
        m->nproviders++;
      }
    }
    break;
  case WR_KAD_ADD_PROVIDER: {
    if (q->key.n == 0 || q->key.n > WR_PROV_MAX_KEY)
      return WR_ERR_MALFORMED;
    for (size_t i = 0; i < q->nproviders; i++) {
      wr_dht_peer p;
      if (peer_from_kad(&q->providers[i], &p) != 0 || !wr_peerid_equal(&p.id, asker))
        continue; /* only the sender may name itself a provider */
      if (!p.naddrs) {
        const wr_p2p_peer_info *in = wr_p2p_conn_info(c);
        for (size_t a = 0; a < in->nlisten_addrs && p.naddrs < WR_DHT_MAX_ADDRS; a++)
          if (dialable(&in->listen_addrs[a]))
            p.addrs[p.naddrs++] = in->listen_addrs[a];
      }
      wr_prov_rec rec = {
          .id = p.id, .naddrs = p.naddrs, .expires_ms = now_ms(d) + d->cfg.provider_ttl_ms};
      memcpy(rec.addrs, p.addrs, p.naddrs * sizeof p.addrs[0]);
      if (wr_provstore_add(d->provs, q->key.p, q->key.n, &rec) != 0)
        WR_DEBUG("DHT provider record dropped", "keys=%zu", wr_provstore_keys(d->provs));
    }
    return 0; /* no answer */
  }
  case WR_KAD_GET_VALUE: {
    if (q->key.n == 0)
      return WR_ERR_MALFORMED;
    record *r = record_find(d, q->key.p, q->key.n);
    if (r) {
      m->has_record = 1;
      m->record = (wr_kad_record){.key = {r->key, r->keylen}, .value = {r->val, r->vallen}};
    }
    add_closer(d, m, q->key.p, q->key.n, asker, idbufs);
    break;
  }
  case WR_KAD_PUT_VALUE: {
    const char *why = NULL;
    if (!q->has_record || q->record.key.n != q->key.n ||
        memcmp(q->record.key.p, q->key.p, q->key.n) != 0)
      return WR_ERR_MALFORMED;
    if (record_put(d, q->key.p, q->key.n, q->record.value.p, q->record.value.n,
                   now_ms(d) + d->cfg.record_ttl_ms, 1, &why) != 0) {
      WR_DEBUG("DHT record refused", "reason=\"%s\"", why ? why : "?");
      return WR_ERR_MALFORMED;
    }
    /* The answer repeats the request. */
    m->has_record = 1;
    m->record = (wr_kad_record){.key = q->record.key, .value = q->record.value};
    break;
  }
  case WR_KAD_PING:
    break;
  }
  if (rv == 0)
    rv = wr_kad_encode_frame(m, &s->out);
  wr_free(recs);
  wr_free(provpeers);
  return rv;
}

static void ss_on_data(wr_p2p_stream *st, const uint8_t *p, size_t n) {
  sstream *s = wr_p2p_stream_user(st);
  if (s->refused)
    return;
  /* The bytes must fit the peer's budget before they are copied (at least
   * what they need; the allocation's real size is charged right after). */
  size_t need = (s->in.len + n > s->in.cap ? s->in.len + n : s->in.cap) + s->out.cap;
  if (n > s->in.limit) {
    ss_refuse(s, "stream_buffer_limit");
    return;
  }
  if (wr_peerbudget_resize(&s->d->budget, s->pb, &s->held, need) != 0) {
    ss_refuse(s, s->d->budget.refused_why);
    return;
  }
  int arv = wr_buf_append(&s->in, p, n);
  if (arv != 0) {
    ss_refuse(s, arv == WR_ERR_LIMIT ? "stream_buffer_limit" : "out_of_memory");
    return;
  }
  if (ss_charge(s) != 0) {
    ss_refuse(s, s->d->budget.refused_why);
    return;
  }
  size_t off = 0;
  for (;;) {
    const uint8_t *m;
    size_t mlen, used;
    const char *why = NULL;
    int rv = wr_kad_frame_next(s->in.data + off, s->in.len - off, &m, &mlen, &used, &why);
    if (rv == WR_ERR_AGAIN)
      break;
    if (rv == 0)
      rv = wr_kad_decode(m, mlen, s->d->rx, &why);
    if (rv == 0)
      rv = serve(s, s->d->rx);
    if (rv != 0) {
      WR_DEBUG("DHT request refused", "reason=\"%s\"", why ? why : wr_strerror(rv));
      ss_refuse(s, rv == WR_ERR_LIMIT ? "stream_buffer_limit" : "malformed");
      return;
    }
    off += used;
  }
  wr_buf_consume(&s->in, off);
  /* The answers queued for the peer count too. */
  if (ss_charge(s) != 0) {
    ss_refuse(s, s->d->budget.refused_why);
    return;
  }
  ss_flush(st);
}

static void ss_on_fin(wr_p2p_stream *st) {
  sstream *s = wr_p2p_stream_user(st);
  if (s->refused)
    return;
  s->fin = 1;
  ss_flush(st);
}

static void ss_on_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)err, (void)reason;
  sstream *s = wr_p2p_stream_user(st);
  wr_dht *d = s->d;
  if (s->prev)
    s->prev->next = s->next;
  else
    d->sstreams = s->next;
  if (s->next)
    s->next->prev = s->prev;
  wr_peerbudget_leave(&d->budget, s->pb, &s->held);
  wr_buf_free(&s->in);
  wr_buf_free(&s->out);
  wr_free(s);
  unref(d);
}

static const wr_p2p_stream_events ss_events = {
    .on_data = ss_on_data, .on_fin = ss_on_fin, .on_writable = ss_flush, .on_closed = ss_on_closed};

static void kad_handler(wr_p2p_stream *st, void *data) {
  wr_dht *d = data;
  sstream *s = d && !d->closed ? wr_calloc(1, sizeof *s) : NULL;
  if (!s) {
    wr_p2p_stream_reset(st);
    return;
  }
  s->pb = wr_peerbudget_join(&d->budget, wr_p2p_conn_peer(wr_p2p_stream_conn(st)));
  if (!s->pb) {
    wr_free(s);
    wr_p2p_stream_reset(st);
    return;
  }
  s->d = d;
  s->st = st;
  wr_buf_init(&s->in, SERVER_BUF_LIMIT);
  wr_buf_init(&s->out, SERVER_BUF_LIMIT * 2);
  d->refs++;
  s->next = d->sstreams;
  if (d->sstreams)
    d->sstreams->prev = s;
  d->sstreams = s;
  wr_p2p_stream_set_events(st, &ss_events, s);
}

static void closed_handler(wr_p2p_stream *st, void *data) {
  (void)data;
  wr_p2p_stream_reset(st);
}

/* ---- bootstrap ---- */

typedef struct boot {
  wr_dht *d;
  size_t pending, ok;
  wr_dht_done_cb cb;
  void *data;
} boot;

static void boot_lookup_done(void *data, int err, const wr_dht_peer *peers, size_t n) {
  (void)err, (void)peers, (void)n;
  boot *b = data;
  b->cb(b->data, b->d->rt.size ? 0 : WR_ERR_NOTFOUND);
  wr_free(b);
}

static void boot_step(boot *b) {
  if (--b->pending > 0)
    return;
  wr_dht *d = b->d;
  if (d->closed || !b->ok) {
    b->cb(b->data, d->closed ? WR_ERR_CLOSED : WR_ERR_NOTFOUND);
    wr_free(b);
    unref(d);
    return;
  }
  unref(d);
  uint8_t idb[WR_MH_MAX_BYTES];
  int idn = wr_peerid_to_bytes(wr_p2p_host_id(d->host), idb, sizeof idb);
  if (idn <= 0 || wr_dht_closest_peers(d, idb, (size_t)idn, boot_lookup_done, b) != 0) {
    b->cb(b->data, d->rt.size ? 0 : WR_ERR_NOTFOUND);
    wr_free(b);
  }
}

static void boot_dialed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason, void *data) {
  (void)h;
  boot *b = data;
  if (!err && !b->d->closed) {
    /* A bootstrap peer is a DHT server by configuration. */
    wr_dht_peer p = {.id = *wr_p2p_conn_peer(c), .naddrs = 1};
    p.addrs[0] = *wr_p2p_conn_remote_addr(c);
    rt_add(b->d, &p);
    b->ok++;
  } else if (err) {
    wr_log(WR_LOG_WARN, "DHT bootstrap peer unreachable", "reason=\"%s\"",
           reason ? reason : wr_strerror(err));
  }
  boot_step(b);
}

int wr_dht_bootstrap(wr_dht *d, const wr_maddr *addrs, size_t n, wr_dht_done_cb cb, void *data) {
  if (d->closed)
    return WR_ERR_CLOSED;
  boot *b = wr_calloc(1, sizeof *b);
  if (!b)
    return WR_ERR_NOMEM;
  b->d = d;
  b->cb = cb;
  b->data = data;
  b->pending = 1;
  d->refs++;
  for (size_t i = 0; i < n; i++)
    if (wr_p2p_host_dial(d->host, &addrs[i], boot_dialed, b) == 0)
      b->pending++;
  boot_step(b);
  return 0;
}

/* ---- the rest ---- */

void wr_dht_on_identified(wr_dht *d, wr_p2p_conn *c) {
  if (d->closed)
    return;
  const wr_p2p_peer_info *in = wr_p2p_conn_info(c);
  int serves = 0;
  for (size_t i = 0; i < in->nprotocols && !serves; i++)
    serves = strcmp(in->protocols[i], d->protocol) == 0;
  if (!serves)
    return;
  wr_dht_peer p = {.id = *wr_p2p_conn_peer(c)};
  for (size_t i = 0; i < in->nlisten_addrs && p.naddrs < WR_DHT_MAX_ADDRS; i++)
    if (dialable(&in->listen_addrs[i]))
      p.addrs[p.naddrs++] = in->listen_addrs[i];
  rt_add(d, &p);
}

static void on_tick(uv_timer_t *t) {
  wr_dht *d = t->data;
  uint64_t now = now_ms(d);
  for (rpc *r = d->rpcs, *next; r; r = next) {
    next = r->next;
    if (now < r->deadline_ms)
      continue;
    if (!r->finished)
      rpc_finish(r, WR_ERR_TIMEOUT, NULL); /* resets the stream */
    else if (r->st)
      wr_p2p_stream_reset(r->st);
  }
  if (now >= d->next_expire_ms) {
    (void)wr_provstore_expire(d->provs, now);
    records_expire(d, now);
    d->next_expire_ms = now + 60000;
  }
  if (now >= d->next_reprovide_ms) {
    d->next_reprovide_ms = now + d->cfg.reprovide_interval_ms;
    reprovide(d);
  }
}

static void on_tick_closed(uv_handle_t *h) { unref(h->data); }

int wr_dht_new(wr_dht **pd, wr_p2p_host *host, uv_loop_t *loop, const wr_dht_config *cfg) {
  wr_dht *d = wr_calloc(1, sizeof *d);
  if (!d)
    return WR_ERR_NOMEM;
  d->host = host;
  d->loop = loop;
  d->cfg = *cfg;
  if (!d->cfg.k)
    d->cfg.k = WR_RT_K;
  if (d->cfg.k > WR_KAD_MAX_PEERS)
    d->cfg.k = WR_KAD_MAX_PEERS;
  if (!d->cfg.alpha)
    d->cfg.alpha = 3;
  if (!d->cfg.rpc_timeout_ms)
    d->cfg.rpc_timeout_ms = 10000;
  if (!d->cfg.provider_ttl_ms)
    d->cfg.provider_ttl_ms = AMINO_PROVIDER_TTL_MS;
  if (!d->cfg.reprovide_interval_ms)
    d->cfg.reprovide_interval_ms = AMINO_REPROVIDE_MS;
  if (!d->cfg.record_ttl_ms)
    d->cfg.record_ttl_ms = AMINO_RECORD_TTL_MS;
  snprintf(d->protocol, sizeof d->protocol, "%s", cfg->protocol ? cfg->protocol : WR_KAD_PROTOCOL);
  d->cfg.protocol = d->protocol;
  wr_rtable_init(&d->rt, wr_p2p_host_id(host), d->cfg.k);
  wr_peerbudget_init(
      &d->budget, d->cfg.peer_buffer_limit ? d->cfg.peer_buffer_limit : DEFAULT_PEER_BUFFER_LIMIT,
      d->cfg.server_buffer_limit ? d->cfg.server_buffer_limit : DEFAULT_SERVER_BUFFER_LIMIT);
  d->cfg.peer_buffer_limit = d->budget.limit;
  d->cfg.server_buffer_limit = d->budget.total_limit;
  if (cfg->metrics)
    d->m_refusals = wr_metrics_family(cfg->metrics, WR_METRIC_COUNTER,
                                      "warren_dht_server_refusals_total",
                                      "DHT streams the server reset, by reason.", "reason");
  int rv = wr_provstore_new(&d->provs, 0);
  if (rv == 0 && (!(d->rx = wr_malloc(sizeof *d->rx)) || !(d->tx = wr_malloc(sizeof *d->tx))))
    rv = WR_ERR_NOMEM;
  wr_dht_validator pk = {.ns = "pk", .validate = pk_validate, .select = pk_select};
  if (rv == 0)
    rv = wr_dht_add_validator(d, &pk);
  if (rv == 0 && d->cfg.server)
    rv = wr_p2p_host_set_handler(host, d->protocol, kad_handler, d);
  if (rv != 0) {
    d->refs = 1;
    unref(d);
    return rv;
  }
  d->next_reprovide_ms = uv_now(loop) + d->cfg.reprovide_interval_ms;
  uv_timer_init(loop, &d->tick);
  d->tick.data = d;
  uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
  d->refs = 1; /* the tick timer, until close */
  *pd = d;
  return 0;
}

void wr_dht_close(wr_dht *d) {
  if (!d || d->closed)
    return;
  d->closed = 1;
  if (d->cfg.server)
    if (wr_p2p_host_set_handler(d->host, d->protocol, closed_handler, NULL) != 0)
      wr_log(WR_LOG_WARN, "DHT handler left in place", "protocol=%s", d->protocol);
  d->refs++; /* hold d while everything below calls back */
  /* Ending one query may end or free others: start from the head each time. */
  for (;;) {
    wr_dht_query *q = d->queries;
    while (q && q->finished)
      q = q->next;
    if (!q)
      break;
    query_end(q, WR_ERR_CLOSED);
  }
  for (rpc *r = d->rpcs, *next; r; r = next) {
    next = r->next;
    if (!r->finished)
      rpc_finish(r, WR_ERR_CLOSED, NULL);
    else if (r->st)
      wr_p2p_stream_reset(r->st);
  }
  for (sstream *s = d->sstreams; s; s = s->next)
    wr_p2p_stream_reset(s->st);
  uv_timer_stop(&d->tick);
  uv_close((uv_handle_t *)&d->tick, on_tick_closed);
  unref(d);
}

int wr_dht_is_server(const wr_dht *d) { return d->cfg.server; }
size_t wr_dht_server_buffered(const wr_dht *d, const wr_peerid *peer) {
  return wr_peerbudget_used(&d->budget, peer);
}
uint64_t wr_dht_server_refusals(const wr_dht *d) { return d->refusals; }
size_t wr_dht_server_allocated(const wr_dht *d) {
  size_t n = 0;
  for (const sstream *s = d->sstreams; s; s = s->next)
    n += s->in.cap + s->out.cap;
  return n;
}
wr_provstore *wr_dht_providers(wr_dht *d) { return d->provs; }
size_t wr_dht_routing_table_size(const wr_dht *d) { return d->rt.size; }

size_t wr_dht_routing_table_peers(wr_dht *d, wr_dht_peer *out, size_t cap) {
  size_t n = 0;
  for (size_t b = WR_RT_BUCKETS; b-- > 0 && n < cap;)
    for (size_t i = 0; i < d->rt.count[b] && n < cap; i++) {
      wr_rt_peer *p = &d->rt.bucket[b][i];
      out[n].id = p->id;
      out[n].naddrs = p->naddrs;
      memcpy(out[n].addrs, p->addrs, p->naddrs * sizeof p->addrs[0]);
      n++;
    }
  return n;
}
