/* netblocks.c: the network blocks source (see netblocks.h). */
#include "exchange/netblocks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "proto/ipld/dagpb.h"
#include "store/dag.h"

#define WINDOW 128
#define RING 8
#define IDLE_NS (120ull * 1000000000ull)
/* Fetched blocks waiting for the store writer, at most: past it get waits
 * (the disk is the bottleneck then). */
#define STORE_QUEUE_BYTES (32u * 1024 * 1024)

/* A fetched block's bytes, shared by the reader's slot and the store
 * writer: the last of them to let go frees them, so storing a block costs
 * no copy of it. */
typedef struct fetched {
  atomic_uint refs;
  size_t len;
  uint8_t *data;
} fetched;

typedef struct kept {
  struct kept *next;
  wr_mh mh;
  fetched *f;
} kept;

/* A fetched block on its way to the store. */
typedef struct stored {
  struct stored *next;
  uint8_t key[WR_MH_MAX_BYTES];
  size_t klen;
  fetched *f;
} stored;

/* Stores fetched blocks on a thread of its own, all that queued up in one
 * write transaction: the command's thread neither pays a commit per block
 * nor ever holds LMDB's writer lock (it may block for long on a slow
 * reader of its output, and every other writer would wait). */
typedef struct store_writer {
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  stored *head, *tail;
  size_t queued; /* bytes in the queue */
  int stop;
  uint64_t failed;
} store_writer;

struct wr_netblocks {
  wr_blocks base;
  wr_bitswap *b;
  wr_bitswap_session *s;
  wr_bs *bs;
  wr_blocks *local;
  uint64_t deadline_ns; /* 0: none */
  uint64_t progress_ns;
  uint64_t idle_ns;      /* a get fails after this long without any block arriving */
  wr_dag_set *requested; /* wanted from the network in this session */
  size_t outstanding;    /* wanted, not yet taken */
  wr_cid *cand;          /* links to read ahead, in order */
  size_t chead, clen, ccap;
  kept *linked;    /* blocks with links, for the session */
  kept ring[RING]; /* the last blocks without links */
  size_t ring_next;
  uint64_t blocks, bytes;
  store_writer w;
  char err[512];
};

static void fetched_unref(fetched *f) {
  if (f && atomic_fetch_sub(&f->refs, 1) == 1) {
    wr_free(f->data);
    wr_free(f);
  }
}

static void *writer_main(void *arg) {
  wr_netblocks *n = arg;
  store_writer *w = &n->w;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->head && !w->stop)
      pthread_cond_wait(&w->cv, &w->mu);
    stored *list = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    int stop = w->stop;
    pthread_cond_broadcast(&w->cv); /* room for the command's thread */
    pthread_mutex_unlock(&w->mu);
    uint64_t failed = 0;
    if (list) {
      /* Verified by the engine (its hash is what was wanted): stored
       * unpinned, trusted. A full store is not the reader's problem: it
       * still gets the bytes. */
      wr_bs_txn *t = NULL;
      int rv = wr_bs_txn_begin(n->bs, WR_BS_WRITE, &t);
      for (stored *x = list; x && !rv; x = x->next)
        rv = wr_bs_txn_put(t, x->key, x->klen, x->f->data, x->f->len);
      if (!rv)
        rv = wr_bs_txn_commit(t);
      else
        wr_bs_txn_abort(t);
      for (stored *x = list, *y; x; x = y) {
        y = x->next;
        failed += rv != 0;
        fetched_unref(x->f);
        wr_free(x);
      }
    }
    pthread_mutex_lock(&w->mu);
    w->failed += failed;
    if (stop && !w->head)
      break;
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* Queues a fetched block for the store writer (it holds f until stored);
 * waits while the queue is full. Without memory for the entry the block is
 * not stored (it is still returned; a later fetch gets it again). */
static void store_block(wr_netblocks *n, const wr_cid *cid, fetched *f) {
  store_writer *w = &n->w;
  stored *x = wr_malloc(sizeof *x);
  int k = x ? wr_mh_encode(&cid->mh, x->key, sizeof x->key) : -1;
  if (k <= 0) {
    wr_free(x);
    pthread_mutex_lock(&w->mu);
    w->failed++;
    pthread_mutex_unlock(&w->mu);
    return;
  }
  x->next = NULL;
  x->klen = (size_t)k;
  x->f = f;
  atomic_fetch_add(&f->refs, 1);
  pthread_mutex_lock(&w->mu);
  while (w->queued >= STORE_QUEUE_BYTES)
    pthread_cond_wait(&w->cv, &w->mu);
  if (w->tail)
    w->tail->next = x;
  else
    w->head = x;
  w->tail = x;
  w->queued += f->len;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static int mh_key(const wr_cid *cid, uint8_t out[WR_MH_MAX_BYTES], size_t *plen) {
  int k = wr_mh_encode(&cid->mh, out, WR_MH_MAX_BYTES);
  if (k < 0)
    return k;
  *plen = (size_t)k;
  return 0;
}

static int requested(wr_netblocks *n, const wr_cid *cid) {
  uint8_t k[WR_MH_MAX_BYTES];
  size_t kl;
  return mh_key(cid, k, &kl) == 0 && wr_dag_set_has(n->requested, k, kl);
}

static int want(wr_netblocks *n, const wr_cid *cids, size_t cnt) {
  for (size_t i = 0; i < cnt; i++) {
    uint8_t k[WR_MH_MAX_BYTES];
    size_t kl;
    int rv = mh_key(&cids[i], k, &kl);
    if (!rv)
      rv = wr_dag_set_add(n->requested, k, kl);
    if (rv < 0)
      return rv;
  }
  n->outstanding += cnt;
  return wr_bitswap_session_want(n->s, cids, cnt);
}

/* Wants the next links to read ahead, up to the window. */
static void top_up(wr_netblocks *n) {
  wr_cid batch[WINDOW];
  size_t nb = 0;
  while (n->chead < n->clen && n->outstanding + nb < WINDOW) {
    wr_cid *c = &n->cand[n->chead++];
    if (requested(n, c) || wr_blocks_has(n->local, c) != 0)
      continue;
    int dup = 0;
    for (size_t i = 0; i < nb && !dup; i++)
      dup = wr_mh_equal(&batch[i].mh, &c->mh);
    if (!dup)
      batch[nb++] = *c;
  }
  if (n->chead == n->clen)
    n->chead = n->clen = 0;
  if (nb)
    (void)want(n, batch, nb);
}

/* Queues the links of a dag-pb block as read-ahead candidates; 1 when it
 * has any (or its codec's links are unknown: keep it). */
static int queue_links(wr_netblocks *n, const wr_cid *cid, const uint8_t *data, size_t len) {
  if (cid->codec != WR_CODEC_DAG_PB)
    return cid->codec != WR_CODEC_RAW; /* other codecs: keep, links unknown */
  wr_dagpb_node node;
  if (wr_dagpb_decode(data, len, &node, NULL) != 0 || node.nlinks == 0)
    return 0;
  wr_dagpb_iter it;
  wr_dagpb_iter_init(&it, &node);
  wr_dagpb_link l;
  while (wr_dagpb_iter_next(&it, &l, NULL) == 1) {
    if (n->clen == n->ccap) {
      if (n->chead > 0) {
        memmove(n->cand, n->cand + n->chead, (n->clen - n->chead) * sizeof *n->cand);
        n->clen -= n->chead;
        n->chead = 0;
      }
      if (n->clen == n->ccap) {
        size_t nc = n->ccap ? n->ccap * 2 : 256;
        wr_cid *c = wr_realloc(n->cand, nc * sizeof *c);
        if (!c)
          break;
        n->cand = c;
        n->ccap = nc;
      }
    }
    n->cand[n->clen++] = l.cid;
  }
  return 1;
}

/* Queues the links of a dag-pb block for read-ahead and tops the window up
 * (also for a block without links: each block taken frees a place in the
 * window, and leaving it empty would fetch the rest of a wide node one block
 * at a time); 1 when the block has links. */
static int read_ahead(wr_netblocks *n, const wr_cid *cid, const uint8_t *data, size_t len) {
  int links = queue_links(n, cid, data, len);
  top_up(n);
  return links;
}

static const kept *find_kept(wr_netblocks *n, const wr_cid *cid) {
  for (kept *k = n->linked; k; k = k->next)
    if (wr_mh_equal(&k->mh, &cid->mh))
      return k;
  for (size_t i = 0; i < RING; i++)
    if (n->ring[i].f && wr_mh_equal(&n->ring[i].mh, &cid->mh))
      return &n->ring[i];
  return NULL;
}

static int fetch(wr_netblocks *n, const wr_cid *cid, const uint8_t **pdata, size_t *plen) {
  char s[WR_CID_MAX_STR];
  if (wr_cid_format(cid, 0, s, sizeof s) < 0)
    snprintf(s, sizeof s, "?");
  int rv = 0;
  if (!requested(n, cid) && (rv = want(n, cid, 1)) != 0) {
    snprintf(n->err, sizeof n->err, "cannot ask the network for block %s: %s", s, wr_strerror(rv));
    return rv;
  }
  uint8_t *data = NULL;
  size_t len = 0;
  for (;;) {
    uint64_t now = uv_hrtime();
    uint64_t dl = n->progress_ns + n->idle_ns;
    if (n->deadline_ns && n->deadline_ns < dl)
      dl = n->deadline_ns;
    rv = wr_bitswap_session_take(n->s, cid, dl, &data, &len);
    if (rv != WR_ERR_TIMEOUT || uv_hrtime() >= dl || now >= dl)
      break;
  }
  if (rv) {
    size_t asked, gave;
    wr_bitswap_session_peers(n->s, &asked, &gave);
    if (rv == WR_ERR_TIMEOUT)
      snprintf(n->err, sizeof n->err,
               "block %s was not found on the network in time (asked %zu peer%s)", s, asked,
               asked == 1 ? "" : "s");
    else
      snprintf(n->err, sizeof n->err, "block %s could not be fetched: the node is stopping", s);
    return rv;
  }
  n->outstanding--;
  n->progress_ns = uv_hrtime();
  n->blocks++;
  n->bytes += len;
  fetched *f = wr_malloc(sizeof *f);
  if (!f) {
    wr_free(data);
    return WR_ERR_NOMEM;
  }
  *f = (fetched){.len = len, .data = data};
  atomic_init(&f->refs, 1);
  store_block(n, cid, f);
  int links = read_ahead(n, cid, data, len);
  kept *slot;
  if (links) {
    slot = wr_calloc(1, sizeof *slot);
    if (!slot) {
      fetched_unref(f);
      return WR_ERR_NOMEM;
    }
    slot->next = n->linked;
    n->linked = slot;
  } else {
    slot = &n->ring[n->ring_next];
    n->ring_next = (n->ring_next + 1) % RING;
    fetched_unref(slot->f);
  }
  slot->mh = cid->mh;
  slot->f = f;
  *pdata = data;
  *plen = len;
  return 0;
}

static int nb_get(wr_blocks *bl, const wr_cid *cid, const uint8_t **pdata, size_t *plen) {
  wr_netblocks *n = (wr_netblocks *)bl;
  int rv = wr_blocks_get(n->local, cid, pdata, plen);
  if (rv == 0) {
    (void)read_ahead(n, cid, *pdata, *plen);
    return 0;
  }
  if (rv != WR_ERR_NOTFOUND)
    return rv;
  const kept *k = find_kept(n, cid);
  if (k) {
    *pdata = k->f->data;
    *plen = k->f->len;
    return 0;
  }
  return fetch(n, cid, pdata, plen);
}

static int nb_size(wr_blocks *bl, const wr_cid *cid, size_t *plen) {
  wr_netblocks *n = (wr_netblocks *)bl;
  int rv = wr_blocks_size(n->local, cid, plen);
  if (rv != WR_ERR_NOTFOUND)
    return rv;
  const uint8_t *d;
  return nb_get(bl, cid, &d, plen);
}

static const wr_blocks_ops nb_ops = {.name = "network", .get = nb_get, .size = nb_size};

/* Stores what is queued and ends the writer: afterwards every fetched
 * block is committed (pin add and dag export read the store next). */
static void stop_writer(wr_netblocks *n) {
  if (n->w.started) {
    pthread_mutex_lock(&n->w.mu);
    n->w.stop = 1;
    pthread_cond_broadcast(&n->w.cv);
    pthread_mutex_unlock(&n->w.mu);
    pthread_join(n->w.thread, NULL);
    n->w.started = 0;
    if (n->w.failed)
      wr_log(WR_LOG_WARN, "Fetched blocks could not be stored (the reader got them)", "blocks=%llu",
             (unsigned long long)n->w.failed);
  }
  pthread_cond_destroy(&n->w.cv);
  pthread_mutex_destroy(&n->w.mu);
}

int wr_netblocks_new(wr_bitswap *b, wr_bs *bs, wr_blocks *local, uint64_t timeout_ms,
                     wr_netblocks **pn) {
  *pn = NULL;
  wr_netblocks *n = wr_calloc(1, sizeof *n);
  if (!n)
    return WR_ERR_NOMEM;
  n->base.ops = &nb_ops;
  n->b = b;
  n->bs = bs;
  n->local = local;
  n->progress_ns = uv_hrtime();
  n->idle_ns = IDLE_NS;
  if (timeout_ms)
    n->deadline_ns = n->progress_ns + timeout_ms * 1000000ull;
  pthread_mutex_init(&n->w.mu, NULL);
  pthread_cond_init(&n->w.cv, NULL);
  int rv = wr_dag_set_new(&n->requested);
  if (!rv && pthread_create(&n->w.thread, NULL, writer_main, n) != 0)
    rv = WR_ERR_IO;
  n->w.started = rv == 0;
  if (!rv)
    rv = wr_bitswap_session_new(b, &n->s);
  if (rv) {
    stop_writer(n);
    wr_dag_set_del(n->requested);
    wr_free(n);
    return rv;
  }
  *pn = n;
  return 0;
}

void wr_netblocks_set_idle(wr_netblocks *n, uint64_t idle_ms) {
  n->idle_ns = idle_ms ? idle_ms * 1000000ull : IDLE_NS;
}

wr_blocks *wr_netblocks_blocks(wr_netblocks *n) { return &n->base; }

void wr_netblocks_stats(const wr_netblocks *n, uint64_t *pblocks, uint64_t *pbytes) {
  *pblocks = n->blocks;
  *pbytes = n->bytes;
}

const char *wr_netblocks_error(const wr_netblocks *n) { return n->err; }

void wr_netblocks_del(wr_netblocks *n) {
  if (!n)
    return;
  wr_bitswap_session_close(n->s);
  stop_writer(n);
  for (kept *k = n->linked, *x; k; k = x) {
    x = k->next;
    fetched_unref(k->f);
    wr_free(k);
  }
  for (size_t i = 0; i < RING; i++)
    fetched_unref(n->ring[i].f);
  wr_free(n->cand);
  wr_dag_set_del(n->requested);
  wr_free(n);
}
