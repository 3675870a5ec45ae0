/* bitswap.c: the Bitswap engine (see bitswap.h). */
#include "exchange/bitswap.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "proto/p2p/bitswap.h"

#define TICK_MS 100
#define MAX_SLOTS 64          /* peers a want keeps state about (bit masks) */
#define NOUT 4                /* streams we send a peer messages on */
#define OUT_HIGH (1u << 20)   /* bytes queued on one stream before serving pauses */
#define MSG_BLOCKS (1u << 20) /* block bytes per message we send */
#define WRITE_CHUNK (64u * 1024)
#define IN_WINDOW (4u << 20) /* the yamux receive window of streams peers send us blocks on */
#define PEER_WANTLIST_MAX 8192
#define RECENT 4096 /* wants just satisfied or cancelled: their late blocks are no offence */
#define FINDER_EVERY_NS (10ull * 1000000000ull)
#define FINDER_MAX_QUERIES 8
#define FINDER_AFTER_NS (1000ull * 1000000ull)
/* A want-block a peer that keeps sending us other blocks has not answered
 * in this many block timeouts is asked of it again: the peer lost it (a
 * message that failed on its side, a stream it reset). Later re-asks wait
 * twice as long each, up to REASK_MAX block timeouts. A silent peer's wants,
 * and those of a peer that has answered wants we sent at least LATER_NS
 * after them (peers answer in the order asked), are re-asked after one. */
#define REASK_BUSY 4u
#define REASK_MAX 8u
#define LATER_NS (1000ull * 1000000ull)

static const char *const protocols[] = {WR_BITSWAP_PROTOCOL_120, WR_BITSWAP_PROTOCOL_110,
                                        WR_BITSWAP_PROTOCOL_100, WR_BITSWAP_PROTOCOL_OLD};
#define NPROTOCOLS 4

typedef struct arrived {
  struct arrived *next;
  wr_mh mh;
  uint8_t *data;
  size_t len;
} arrived;

struct wr_bitswap_session {
  wr_bitswap *b;
  struct wr_bitswap_session *next; /* in b->sessions, under b->qmu */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int refs; /* the worker's and the loop's */
  int closed;
  arrived *arrived;
  /* the block the worker waits for: only its arrival wakes it (blocks
   * come out of order, up to a window ahead; waking for each would cost a
   * context switch per block for nothing) */
  wr_mh awaited;
  int awaiting;
  uint64_t asked_mask, gave_mask; /* under mu, written by the loop */
  /* loop only: peers that hold this session's content (they gave it a block
   * or answered HAVE); its new wants go to the least loaded of them as
   * want-blocks, which spreads a DAG over every provider that has it */
  uint64_t good;
};

typedef struct cmd {
  struct cmd *next;
  int type; /* CMD_WANT, CMD_CLOSE */
  wr_bitswap_session *s;
  wr_cid cid;
} cmd;
enum { CMD_WANT = 1, CMD_CLOSE = 2 };

typedef struct peer peer;

typedef struct outstream {
  peer *p;
  wr_p2p_stream *st;
  int state; /* OUT_NONE, OUT_OPENING, OUT_OPEN */
  int proto; /* the protocol it was opened with */
  wr_buf q;  /* framed messages not yet taken by the stream */
  size_t off;
} outstream;

typedef struct want {
  struct want *next;
  wr_bitswap_session *s;
  wr_cid cid;
  uint64_t asked, has, dont, slow; /* by peer slot */
  peer *block_peer;                /* asked for the block, not yet answered */
  uint64_t block_sent_ns, bcast_ns, finder_ns, created_ns;
  unsigned reasks; /* times block_peer was asked again for it */
} want;

struct peer {
  peer *next;
  wr_bitswap *b;
  wr_p2p_conn *conn;
  int slot; /* -1 without one (served, never asked) */
  /* Messages go out on NOUT streams we open, each message whole on the
   * least loaded one: one yamux stream's 256 KiB window per round trip
   * would cap a fast link, several keep it full. */
  outstream out[NOUT];
  int dead;          /* it speaks no Bitswap we know, or sent a wrong block */
  int close_pending; /* sent a wrong block: its connection closes outside callbacks */
  int proto;         /* index into protocols */
  int no_have;       /* 1.1.0 or older: no want-have, no presences */
  /* its wantlist: want-blocks we have, in arrival order */
  wr_cid *wl;
  size_t wlhead, wllen, wlcap;
  /* what we will send it at the end of this loop turn */
  wr_bitswap_entry *pe;
  size_t npe, pecap;
  wr_bitswap_presence *pp;
  size_t npp, ppcap;
  int dirty;
  int inflight; /* our want-blocks it has not answered */
  /* When we last received any byte from it, and whether it owes us a
   * block and has said nothing for a block timeout: a peer that was
   * stopped, or whose connection died without a FIN (a killed host, a
   * dropped link), holds no connection error for up to the keep-alive's
   * two periods, so its wants move on by this instead; it is asked again
   * once it speaks. */
  uint64_t heard_ns;
  int silent;
  uint64_t answered_ns; /* when the latest-sent want-block it answered was sent */
};
enum { OUT_NONE, OUT_OPENING, OUT_OPEN };

typedef struct recent_key {
  uint64_t code;
  uint8_t d[32];
} recent_key;

typedef struct fquery {
  struct fquery *next;
  wr_bitswap *b;
  wr_finder_query *q;
} fquery;

typedef struct instream {
  wr_bitswap *b;
  wr_buf in;
} instream;

struct wr_bitswap {
  uv_loop_t *loop;
  wr_p2p_host *host;
  wr_bs *bs;
  wr_bitswap_config cfg;
  uv_async_t async;
  uv_timer_t tick;
  uv_check_t check;
  int nhandles;
  void (*close_cb)(void *);
  void *close_arg;
  /* shared with workers */
  pthread_mutex_t qmu;
  cmd *qhead, *qtail;
  int shut, shut_done;
  wr_bitswap_session *sessions;
  /* loop only */
  peer *peers;
  peer *slots[MAX_SLOTS];
  want *wants;
  size_t nwants;
  recent_key recent[RECENT];
  size_t recent_next;
  fquery *fqueries;
  size_t nfq;
  wr_buf scratch;
  wr_bitswap_stats st;
  wr_metric *m_blocks_in, *m_bytes_in, *m_blocks_out, *m_bytes_out, *m_bad, *m_dup, *m_timeouts,
      *m_reasks, *m_malformed, *m_wants, *m_peers;
};

static void ignore_rv(long rv) { (void)rv; }
static void close_bad_peers(wr_bitswap *b);
static void flush_peer(peer *p);
static void serve(peer *p);
static void session_unref(wr_bitswap_session *s);

static void madd(wr_metric *m, double v) {
  if (m)
    wr_metric_add(m, v);
}

static void peer_name(const peer *p, char *out, size_t cap) {
  if (wr_peerid_format(wr_p2p_conn_peer(p->conn), out, cap) < 0)
    snprintf(out, cap, "?");
}

/* ---- the recent ring ---- */

static void recent_key_of(const wr_mh *mh, recent_key *k) {
  memset(k, 0, sizeof *k);
  k->code = mh->code;
  memcpy(k->d, mh->digest, mh->size < 32 ? mh->size : 32);
}

static void recent_add(wr_bitswap *b, const wr_mh *mh) {
  recent_key_of(mh, &b->recent[b->recent_next]);
  b->recent_next = (b->recent_next + 1) % RECENT;
}

static int recent_has(wr_bitswap *b, const wr_mh *mh) {
  recent_key k;
  recent_key_of(mh, &k);
  for (size_t i = 0; i < RECENT; i++)
    if (memcmp(&b->recent[i], &k, sizeof k) == 0)
      return 1;
  return 0;
}

/* ---- peers ---- */

static peer *peer_find(wr_bitswap *b, wr_p2p_conn *c) {
  for (peer *p = b->peers; p; p = p->next)
    if (p->conn == c)
      return p;
  return NULL;
}

/* The best protocol the peer told identify it speaks, else the first to try. */
static int pick_protocol(wr_p2p_conn *c, int *pdead) {
  const wr_p2p_peer_info *info = wr_p2p_conn_info(c);
  *pdead = 0;
  if (!info || !info->identified)
    return 0;
  for (int i = 0; i < NPROTOCOLS; i++)
    for (size_t k = 0; k < info->nprotocols; k++)
      if (strcmp(info->protocols[k], protocols[i]) == 0)
        return i;
  *pdead = 1;
  return 0;
}

static peer *peer_get(wr_bitswap *b, wr_p2p_conn *c) {
  peer *p = peer_find(b, c);
  if (p)
    return p;
  p = wr_calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->b = b;
  p->conn = c;
  p->slot = -1;
  p->heard_ns = uv_hrtime();
  for (int i = 0; i < MAX_SLOTS; i++)
    if (!b->slots[i]) {
      b->slots[i] = p;
      p->slot = i;
      break;
    }
  int dead;
  p->proto = pick_protocol(c, &dead);
  p->no_have = p->proto != 0;
  for (int i = 0; i < NOUT; i++) {
    p->out[i].p = p;
    wr_buf_init(&p->out[i].q, 64u << 20);
  }
  p->next = b->peers;
  b->peers = p;
  b->st.peers++;
  madd(b->m_peers, 1);
  return p;
}

static uint64_t bit(const peer *p) { return p->slot >= 0 ? 1ull << p->slot : 0; }

/* We received bytes from p: it is alive. */
static void peer_heard(peer *p) {
  p->heard_ns = uv_hrtime();
  if (p->silent) {
    p->silent = 0;
    char name[WR_PEERID_MAX_STR];
    peer_name(p, name, sizeof name);
    wr_log(WR_LOG_INFO, "Bitswap peer answers again", "peer=%s", name);
  }
}

/* A peer we can ask: it has a slot and a stream can be had. */
static int askable(const peer *p) { return p->slot >= 0 && !p->dead; }

static void drop_want_peer(want *w, peer *p) {
  uint64_t m = ~bit(p);
  w->asked &= m;
  w->has &= m;
  w->dont &= m;
  w->slow &= m;
  if (w->block_peer == p) {
    w->block_peer = NULL;
    p->inflight--;
  }
}

static void peer_free(wr_bitswap *b, peer *p) {
  for (peer **pp = &b->peers; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  for (want *w = b->wants; w; w = w->next)
    drop_want_peer(w, p);
  if (p->slot >= 0)
    b->slots[p->slot] = NULL;
  for (int i = 0; i < NOUT; i++) {
    if (p->out[i].st)
      wr_p2p_stream_set_events(p->out[i].st, NULL, NULL);
    wr_buf_free(&p->out[i].q);
  }
  wr_free(p->wl);
  wr_free(p->pe);
  wr_free(p->pp);
  wr_free(p);
  madd(b->m_peers, -1);
}

void wr_bitswap_conn_closed(wr_bitswap *b, wr_p2p_conn *c) {
  peer *p = peer_find(b, c);
  if (p)
    peer_free(b, p);
}

/* ---- sending ---- */

static int add_entry(peer *p, const wr_cid *cid, int type, int cancel) {
  if (p->npe == p->pecap) {
    size_t nc = p->pecap ? p->pecap * 2 : 32;
    wr_bitswap_entry *n = wr_realloc(p->pe, nc * sizeof *n);
    if (!n)
      return WR_ERR_NOMEM;
    p->pe = n;
    p->pecap = nc;
  }
  wr_bitswap_entry *e = &p->pe[p->npe++];
  memset(e, 0, sizeof *e);
  e->cid = *cid;
  e->cancel = (uint8_t)cancel;
  e->want_type = (uint8_t)type;
  e->send_dont_have = !cancel;
  e->priority = 1;
  p->dirty = 1;
  return 0;
}

static int add_presence(peer *p, const wr_cid *cid, int type) {
  if (p->no_have)
    return 0;
  if (p->npp == p->ppcap) {
    size_t nc = p->ppcap ? p->ppcap * 2 : 32;
    wr_bitswap_presence *n = wr_realloc(p->pp, nc * sizeof *n);
    if (!n)
      return WR_ERR_NOMEM;
    p->pp = n;
    p->ppcap = nc;
  }
  p->pp[p->npp].cid = *cid;
  p->pp[p->npp].type = (uint8_t)type;
  p->npp++;
  p->dirty = 1;
  return 0;
}

static size_t pending(const outstream *o) { return o->q.len - o->off; }

/* The stream with the least queued. */
static outstream *least_queued(peer *p) {
  outstream *best = &p->out[0];
  for (int i = 1; i < NOUT; i++)
    if (pending(&p->out[i]) < pending(best))
      best = &p->out[i];
  return best;
}

/* Frames msg into the queue of p's least loaded stream. */
static int queue_msg(peer *p, const wr_bitswap_msg *m) {
  wr_bitswap *b = p->b;
  outstream *o = least_queued(p);
  wr_buf_reset(&b->scratch);
  int rv = wr_bitswap_encode(m, p->proto >= 2 ? WR_BITSWAP_ENC_V100 : 0, &b->scratch);
  if (!rv)
    rv = wr_bitswap_put_frame_len(&o->q, b->scratch.len);
  if (!rv)
    rv = wr_buf_append(&o->q, b->scratch.data, b->scratch.len);
  return rv;
}

static void flush_out(outstream *o);

static void out_on_open(wr_p2p_stream *st) {
  outstream *o = wr_p2p_stream_user(st);
  o->state = OUT_OPEN;
  flush_out(o);
  serve(o->p);
}

static void out_on_writable(wr_p2p_stream *st) {
  outstream *o = wr_p2p_stream_user(st);
  flush_out(o);
  serve(o->p);
}

static void out_on_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)reason;
  outstream *o = wr_p2p_stream_user(st);
  if (!o)
    return;
  peer *p = o->p;
  int refused = o->state == OUT_OPENING && err == WR_ERR_NOTFOUND;
  o->st = NULL;
  o->state = OUT_NONE;
  if (refused && o->proto == p->proto) {
    /* The peer refused this version: offer the next older one. */
    if (p->proto + 1 < NPROTOCOLS) {
      p->proto++;
      p->no_have = 1;
    } else {
      p->dead = 1;
    }
  }
  if (refused && !p->dead) {
    flush_out(o);
    return;
  }
  /* A frame may have been cut: what was queued is dropped; wants are asked
   * again by the tick and the peer asks again for what it wants. */
  wr_buf_reset(&o->q);
  o->off = 0;
}

static const wr_p2p_stream_events out_events = {
    .on_open = out_on_open,
    .on_writable = out_on_writable,
    .on_closed = out_on_closed,
};

static void flush_out(outstream *o) {
  if (o->q.len == o->off || o->p->dead)
    return;
  if (o->state == OUT_NONE) {
    o->state = OUT_OPENING;
    o->proto = o->p->proto;
    if (wr_p2p_conn_open_stream(o->p->conn, protocols[o->proto], &out_events, o, &o->st) != 0) {
      o->state = OUT_NONE;
      o->st = NULL;
    }
    return;
  }
  if (o->state != OUT_OPEN)
    return;
  while (o->off < o->q.len) {
    size_t n = o->q.len - o->off;
    if (n > WRITE_CHUNK)
      n = WRITE_CHUNK;
    ssize_t w = wr_p2p_stream_write(o->st, o->q.data + o->off, n);
    if (w == WR_ERR_AGAIN)
      break;
    if (w < 0) {
      wr_p2p_stream_reset(o->st);
      return;
    }
    o->off += (size_t)w;
  }
  if (o->off == o->q.len) {
    wr_buf_reset(&o->q);
    o->off = 0;
  } else if (o->off > o->q.len / 2) {
    memmove(o->q.data, o->q.data + o->off, o->q.len - o->off);
    o->q.len -= o->off;
    o->off = 0;
  }
}

static void flush_peer(peer *p) {
  for (int i = 0; i < NOUT; i++)
    flush_out(&p->out[i]);
}

/* Sends what was gathered for each peer this turn. */
static void flush_all(wr_bitswap *b) {
  for (peer *p = b->peers; p; p = p->next) {
    if (!p->dirty)
      continue;
    p->dirty = 0;
    if (p->dead) {
      p->npe = p->npp = 0;
      continue;
    }
    for (size_t off = 0; off < p->npe || off == 0;) {
      /* Keep each message well under the 4 MiB cap. */
      size_t n = p->npe - off;
      if (n > 4096)
        n = 4096;
      wr_bitswap_msg m = {.entries = p->pe + off, .nentries = n};
      if (off == 0) {
        m.presences = p->pp;
        m.npresences = p->npp;
      }
      if ((n || m.npresences) && queue_msg(p, &m) != 0)
        break;
      off += n;
      if (off >= p->npe)
        break;
    }
    p->npe = p->npp = 0;
    flush_peer(p);
  }
}

/* ---- server ---- */

/* Queues one message of blocks from p's wantlist; 1 when it queued any. */
static int serve_one(peer *p) {
  wr_bitswap *b = p->b;
  outstream *o = least_queued(p);
  if (p->wlhead == p->wllen || p->dead || pending(o) >= OUT_HIGH)
    return 0;
  wr_bs_txn *t = NULL;
  if (wr_bs_txn_begin(b->bs, WR_BS_READ, &t) != 0)
    return 0;
  wr_bitswap_block blocks[64];
  wr_bitswap_presence dh[64];
  size_t nb = 0, nd = 0, bytes = 0;
  while (p->wlhead < p->wllen && pending(o) + bytes < OUT_HIGH) {
    wr_cid *cid = &p->wl[p->wlhead];
    const uint8_t *data;
    size_t len;
    /* The size first: a block that does not fit this message waits for the
     * next one unread, since reading verifies (hashes) it. */
    int rv = wr_bs_txn_size_cid(t, cid, &len);
    if (rv == 0 && nb > 0 && (bytes + len > MSG_BLOCKS || nb == 64))
      break;
    if (rv == 0)
      rv = wr_bs_txn_get_cid(t, cid, &data, &len);
    if (rv != 0 && nd == 64)
      break;
    p->wlhead++;
    if (rv == 0) {
      wr_bitswap_prefix_of(cid, &blocks[nb].prefix);
      blocks[nb].data = data;
      blocks[nb].len = len;
      nb++;
      bytes += len;
    } else {
      /* Gone since it was asked for (gc): say so. */
      dh[nd].cid = *cid;
      dh[nd].type = WR_BITSWAP_DONT_HAVE;
      nd++;
    }
  }
  if (p->wlhead == p->wllen)
    p->wlhead = p->wllen = 0;
  if (nb || nd) {
    wr_bitswap_msg m = {.blocks = blocks, .nblocks = nb};
    if (!p->no_have) {
      m.presences = dh;
      m.npresences = nd;
    }
    if (queue_msg(p, &m) == 0) {
      b->st.blocks_sent += nb;
      b->st.bytes_sent += bytes;
      madd(b->m_blocks_out, (double)nb);
      madd(b->m_bytes_out, (double)bytes);
    }
  }
  wr_bs_txn_abort(t);
  return nb || nd;
}

/* Serves p's wantlist while its queue has room: the stream takes what it
 * can now and on_writable brings us back for the rest. */
static void serve(peer *p) {
  while (serve_one(p))
    flush_peer(p);
  flush_peer(p);
}

static int wl_push(peer *p, const wr_cid *cid) {
  if (p->wllen - p->wlhead >= PEER_WANTLIST_MAX)
    return WR_ERR_LIMIT;
  if (p->wllen == p->wlcap) {
    if (p->wlhead > 0) {
      memmove(p->wl, p->wl + p->wlhead, (p->wllen - p->wlhead) * sizeof *p->wl);
      p->wllen -= p->wlhead;
      p->wlhead = 0;
    }
    if (p->wllen == p->wlcap) {
      size_t nc = p->wlcap ? p->wlcap * 2 : 64;
      wr_cid *n = wr_realloc(p->wl, nc * sizeof *n);
      if (!n)
        return WR_ERR_NOMEM;
      p->wl = n;
      p->wlcap = nc;
    }
  }
  p->wl[p->wllen++] = *cid;
  return 0;
}

static void wl_cancel(peer *p, const wr_cid *cid) {
  for (size_t i = p->wlhead; i < p->wllen; i++)
    if (wr_mh_equal(&p->wl[i].mh, &cid->mh)) {
      memmove(&p->wl[i], &p->wl[i + 1], (p->wllen - i - 1) * sizeof *p->wl);
      p->wllen--;
      return;
    }
}

static void handle_wantlist(peer *p, const wr_bitswap_msg *m) {
  wr_bitswap *b = p->b;
  if (m->full)
    p->wlhead = p->wllen = 0;
  if (!m->nentries)
    return;
  wr_bs_txn *t = NULL;
  if (wr_bs_txn_begin(b->bs, WR_BS_READ, &t) != 0)
    return;
  for (size_t i = 0; i < m->nentries; i++) {
    const wr_bitswap_entry *e = &m->entries[i];
    if (e->cancel) {
      wl_cancel(p, &e->cid);
      continue;
    }
    int have = wr_bs_txn_has_cid(t, &e->cid) == 1;
    if (e->want_type == WR_BITSWAP_WANT_HAVE && !p->no_have) {
      if (have)
        ignore_rv(add_presence(p, &e->cid, WR_BITSWAP_HAVE));
      else if (e->send_dont_have)
        ignore_rv(add_presence(p, &e->cid, WR_BITSWAP_DONT_HAVE));
    } else if (have) {
      ignore_rv(wl_push(p, &e->cid));
    } else if (e->send_dont_have) {
      ignore_rv(add_presence(p, &e->cid, WR_BITSWAP_DONT_HAVE));
    }
  }
  wr_bs_txn_abort(t);
}

/* ---- client ---- */

static size_t popcount(uint64_t v) { return (size_t)__builtin_popcountll(v); }

static void session_note(wr_bitswap_session *s, uint64_t asked, uint64_t gave) {
  pthread_mutex_lock(&s->mu);
  s->asked_mask |= asked;
  s->gave_mask |= gave;
  pthread_mutex_unlock(&s->mu);
}

static void send_block_want(want *w, peer *p) {
  if (add_entry(p, &w->cid, WR_BITSWAP_WANT_BLOCK, 0) != 0)
    return;
  w->block_peer = p;
  w->block_sent_ns = uv_hrtime();
  w->reasks = 0;
  w->asked |= bit(p);
  p->inflight++;
  session_note(w->s, bit(p), 0);
}

/* Moves w's want-block from its peer to q (which has the block): the old
 * peer gets a cancel and is not asked for this block again while others
 * have it. */
static void move_want(wr_bitswap *b, want *w, peer *q) {
  peer *p = w->block_peer;
  w->slow |= bit(p);
  w->block_peer = NULL;
  p->inflight--;
  ignore_rv(add_entry(p, &w->cid, WR_BITSWAP_WANT_BLOCK, 1));
  b->st.want_timeouts++;
  madd(b->m_timeouts, 1);
  send_block_want(w, q);
}

static void send_have_want(want *w, peer *p) {
  if (p->no_have) {
    /* Older peers know only want-block: ask one of them for the block. */
    if (!w->block_peer)
      send_block_want(w, p);
    return;
  }
  if (add_entry(p, &w->cid, WR_BITSWAP_WANT_HAVE, 0) != 0)
    return;
  w->asked |= bit(p);
  session_note(w->s, bit(p), 0);
}

/* The least loaded askable peer in mask, or NULL; a silent one only when
 * no other is in mask. */
static peer *least_loaded(wr_bitswap *b, uint64_t mask) {
  peer *best = NULL;
  for (int silent = 0; silent < 2 && !best; silent++)
    for (int i = 0; i < MAX_SLOTS; i++) {
      peer *p = b->slots[i];
      if (p && (mask & (1ull << i)) && askable(p) && p->silent == silent &&
          (!best || p->inflight < best->inflight))
        best = p;
    }
  return best;
}

static uint64_t live_mask(wr_bitswap *b) {
  uint64_t m = 0;
  for (int i = 0; i < MAX_SLOTS; i++)
    if (b->slots[i] && askable(b->slots[i]))
      m |= 1ull << i;
  return m;
}

static void broadcast(wr_bitswap *b, want *w, uint64_t to) {
  for (int i = 0; i < MAX_SLOTS; i++)
    if ((to & (1ull << i)) && b->slots[i])
      send_have_want(w, b->slots[i]);
  w->bcast_ns = uv_hrtime();
}

static void want_start(wr_bitswap *b, want *w) {
  uint64_t live = live_mask(b);
  peer *p = least_loaded(b, w->s->good & live);
  if (p) {
    /* This peer holds the session's content: ask it for this one outright
     * (most of a DAG sits with whoever had its root; the least loaded such
     * peer, so several providers share the work), and the others whether
     * they have it, in case it does not. */
    send_block_want(w, p);
    broadcast(b, w, live & ~bit(p));
  } else {
    broadcast(b, w, live);
  }
}

static void want_free(wr_bitswap *b, want *w, const peer *except) {
  for (want **pp = &b->wants; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  b->nwants--;
  madd(b->m_wants, -1);
  /* Cancel where it was asked, unless another session still wants it. */
  int still = 0;
  for (want *o = b->wants; o; o = o->next)
    if (wr_mh_equal(&o->cid.mh, &w->cid.mh))
      still = 1;
  if (w->block_peer)
    w->block_peer->inflight--;
  if (!still)
    for (int i = 0; i < MAX_SLOTS; i++) {
      peer *p = b->slots[i];
      if (p && p != except && (w->asked & (1ull << i)) && askable(p))
        ignore_rv(add_entry(p, &w->cid, WR_BITSWAP_WANT_BLOCK, 1));
    }
  recent_add(b, &w->cid.mh);
  wr_free(w);
}

static void deliver(wr_bitswap_session *s, const wr_mh *mh, const uint8_t *data, size_t len,
                    uint64_t from) {
  arrived *a = wr_malloc(sizeof *a);
  uint8_t *copy = wr_malloc(len ? len : 1);
  if (!a || !copy) {
    wr_free(a);
    wr_free(copy);
    return; /* the session times out on it; nothing else to do without memory */
  }
  memcpy(copy, data, len);
  a->mh = *mh;
  a->data = copy;
  a->len = len;
  pthread_mutex_lock(&s->mu);
  s->gave_mask |= from;
  if (s->closed) {
    pthread_mutex_unlock(&s->mu);
    wr_free(copy);
    wr_free(a);
    return;
  }
  a->next = s->arrived;
  s->arrived = a;
  if (s->awaiting && wr_mh_equal(&s->awaited, mh))
    pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void handle_block(peer *p, const wr_bitswap_block *blk) {
  wr_bitswap *b = p->b;
  wr_cid cid;
  int rv = wr_bitswap_block_cid(blk, &cid);
  int matched = 0;
  if (rv == 0) {
    for (want *w = b->wants, *next; w; w = next) {
      next = w->next;
      if (!wr_mh_equal(&w->cid.mh, &cid.mh))
        continue;
      deliver(w->s, &cid.mh, blk->data, blk->len, bit(p));
      w->s->good |= bit(p);
      if (w->block_peer == p && w->block_sent_ns > p->answered_ns)
        p->answered_ns = w->block_sent_ns;
      matched++;
      want_free(b, w, p);
    }
  }
  if (matched) {
    b->st.blocks_received++;
    b->st.bytes_received += blk->len;
    madd(b->m_blocks_in, 1);
    madd(b->m_bytes_in, (double)blk->len);
    return;
  }
  if (rv == 0 && recent_has(b, &cid.mh)) {
    b->st.duplicate_blocks++;
    madd(b->m_dup, 1);
    return;
  }
  /* Its bytes hash to nothing we asked for: corrupted, or made up. */
  char name[WR_PEERID_MAX_STR];
  peer_name(p, name, sizeof name);
  b->st.bad_blocks++;
  madd(b->m_bad, 1);
  wr_log(WR_LOG_WARN, "Bitswap peer sent a block nobody wanted; disconnecting it",
         "peer=%s bytes=%zu reason=%s", name, blk->len,
         rv ? wr_strerror(rv) : "its hash matches no wanted CID");
  /* Closed from the next tick or check, not here: closing may free this
   * stream's state and the peer while the message is still being read. */
  p->dead = 1;
  p->close_pending = 1;
  /* Its block wants move on now rather than when the close completes. */
  for (want *w = b->wants; w; w = w->next)
    drop_want_peer(w, p);
}

static void handle_presence(peer *p, const wr_bitswap_presence *pr) {
  wr_bitswap *b = p->b;
  for (want *w = b->wants; w; w = w->next) {
    if (!wr_mh_equal(&w->cid.mh, &pr->cid.mh))
      continue;
    if (pr->type == WR_BITSWAP_HAVE) {
      w->has |= bit(p);
      w->dont &= ~bit(p);
      w->s->good |= bit(p);
      if (!w->block_peer && !(w->slow & bit(p)))
        send_block_want(w, p);
      else if (w->block_peer && w->block_peer->silent && !p->silent)
        move_want(b, w, p); /* a peer that answers beats one that does not */
    } else {
      w->dont |= bit(p);
      w->has &= ~bit(p);
      if (w->block_peer == p) {
        w->block_peer = NULL;
        p->inflight--;
        peer *q = least_loaded(b, w->has & ~w->slow & ~w->dont);
        if (q)
          send_block_want(w, q);
      }
    }
  }
}

static void handle_msg(peer *p, const wr_bitswap_msg *m) {
  handle_wantlist(p, m);
  for (size_t i = 0; i < m->nblocks && !p->dead; i++)
    handle_block(p, &m->blocks[i]);
  for (size_t i = 0; i < m->npresences && !p->dead; i++)
    handle_presence(p, &m->presences[i]);
  serve(p);
}

/* ---- inbound streams ---- */

static void in_on_data(wr_p2p_stream *st, const uint8_t *d, size_t n) {
  instream *in = wr_p2p_stream_user(st);
  wr_bitswap *b = in->b;
  /* Any byte counts as a sign of life: a large message of blocks takes a
   * while to arrive whole on a slow link. */
  peer *from = peer_find(b, wr_p2p_stream_conn(st));
  if (from)
    peer_heard(from);
  if (wr_buf_append(&in->in, d, n) != 0) {
    wr_p2p_stream_reset(st);
    return;
  }
  size_t off = 0;
  for (;;) {
    size_t hdr, body;
    const char *why = NULL;
    int rv = wr_bitswap_frame(in->in.data + off, in->in.len - off, &hdr, &body, &why);
    if (rv == WR_ERR_AGAIN)
      break;
    wr_bitswap_msg m;
    if (rv == 0)
      rv = wr_bitswap_decode(in->in.data + off + hdr, body, &m, &why);
    if (rv) {
      char name[WR_PEERID_MAX_STR];
      if (wr_peerid_format(wr_p2p_conn_peer(wr_p2p_stream_conn(st)), name, sizeof name) < 0)
        snprintf(name, sizeof name, "?");
      wr_log(WR_LOG_WARN, "Bitswap message refused", "peer=%s reason=%s", name,
             why ? why : wr_strerror(rv));
      madd(b->m_malformed, 1);
      wr_p2p_stream_reset(st);
      return;
    }
    peer *p = peer_get(b, wr_p2p_stream_conn(st));
    if (p && !p->dead)
      handle_msg(p, &m);
    wr_bitswap_msg_free(&m);
    off += hdr + body;
  }
  if (off) {
    memmove(in->in.data, in->in.data + off, in->in.len - off);
    in->in.len -= off;
  }
  flush_all(b);
}

static void in_on_fin(wr_p2p_stream *st) { ignore_rv(wr_p2p_stream_end(st)); }

static void in_on_closed(wr_p2p_stream *st, int err, const char *reason) {
  (void)err;
  (void)reason;
  instream *in = wr_p2p_stream_user(st);
  wr_buf_free(&in->in);
  wr_free(in);
}

static const wr_p2p_stream_events in_events = {
    .on_data = in_on_data,
    .on_fin = in_on_fin,
    .on_closed = in_on_closed,
};

static void on_stream(wr_p2p_stream *st, void *data) {
  wr_bitswap *b = data;
  instream *in = wr_calloc(1, sizeof *in);
  if (!in) {
    wr_p2p_stream_reset(st);
    return;
  }
  in->b = b;
  wr_buf_init(&in->in, WR_BITSWAP_MAX_MSG + 16);
  wr_p2p_stream_set_events(st, &in_events, in);
  /* Blocks come on streams the peer opens; every byte is taken as it
   * arrives (into in, at most one message), so a wider window costs no
   * memory and keeps a provider's link full across queues and a loaded
   * machine's scheduling delays. */
  ignore_rv(wr_p2p_stream_set_window(st, IN_WINDOW));
}

/* ---- the finder ---- */

static void fq_found(void *arg, const wr_provider *pv) {
  fquery *f = arg;
  wr_bitswap *b = f->b;
  for (wr_p2p_conn *c = wr_p2p_host_conns(b->host); c; c = wr_p2p_conn_next(c))
    if (memcmp(wr_p2p_conn_peer(c), &pv->id, sizeof pv->id) == 0)
      return; /* connected already: the tick asks it */
  for (size_t i = 0; i < pv->naddrs; i++)
    if (wr_p2p_host_dial(b->host, &pv->addrs[i], NULL, NULL) == 0)
      return; /* once connected, the next tick asks it */
}

static void fq_done(void *arg, int err) {
  (void)err;
  fquery *f = arg;
  wr_bitswap *b = f->b;
  for (fquery **pp = &b->fqueries; *pp; pp = &(*pp)->next)
    if (*pp == f) {
      *pp = f->next;
      break;
    }
  b->nfq--;
  wr_free(f);
}

static void ask_finder(wr_bitswap *b, want *w) {
  wr_finder *fd = b->cfg.finder;
  if (!fd || b->nfq >= FINDER_MAX_QUERIES)
    return;
  fquery *f = wr_calloc(1, sizeof *f);
  if (!f)
    return;
  f->b = b;
  if (fd->find(fd, &w->cid, 8, fq_found, fq_done, f, &f->q) != 0) {
    wr_free(f);
    return;
  }
  f->next = b->fqueries;
  b->fqueries = f;
  b->nfq++;
}

/* ---- the tick ---- */

static void sync_peers(wr_bitswap *b) {
  for (wr_p2p_conn *c = wr_p2p_host_conns(b->host); c; c = wr_p2p_conn_next(c)) {
    const wr_p2p_peer_info *info = wr_p2p_conn_info(c);
    /* Ask peers once identify told what they speak (a peer without
     * Bitswap is never asked). */
    if (!info || !info->identified || peer_find(b, c))
      continue;
    int dead;
    pick_protocol(c, &dead);
    if (!dead)
      ignore_rv(peer_get(b, c) ? 0 : WR_ERR_NOMEM);
  }
}

static uint64_t silent_mask(wr_bitswap *b) {
  uint64_t m = 0;
  for (int i = 0; i < MAX_SLOTS; i++)
    if (b->slots[i] && b->slots[i]->silent)
      m |= 1ull << i;
  return m;
}

/* w's want-block has been unanswered for a block timeout. It moves to
 * another peer that has the block; with none, the same peer is asked
 * again once it seems to have lost the want (a cancel first, so a peer
 * that still holds it queued does not queue a second copy), and everyone
 * else and the finder are asked who has it now. Waiting on alone is what
 * stalled fetches: Helia, for one, drops the blocks of a message it could
 * not send within 10 s and forgets the wants they answered. */
static void want_overdue(wr_bitswap *b, want *w, uint64_t now, uint64_t live) {
  uint64_t bto = b->cfg.block_timeout_ms * 1000000ull;
  peer *p = w->block_peer;
  char name[WR_PEERID_MAX_STR];
  if (!p->silent && now - p->heard_ns > bto) {
    p->silent = 1;
    peer_name(p, name, sizeof name);
    wr_log(WR_LOG_INFO, "Bitswap peer is silent; its wants move on", "peer=%s owed=%d", name,
           p->inflight);
  }
  peer *q = least_loaded(b, w->has & ~w->slow & ~w->dont & live & ~bit(p));
  if (!q && p->silent)
    q = least_loaded(b, w->has & ~w->dont & live & ~bit(p)); /* a slow one beats a silent one */
  if (q && (p->silent || !q->silent)) {
    move_want(b, w, q);
    return;
  }
  int skipped = p->answered_ns > w->block_sent_ns + LATER_NS;
  unsigned k = p->silent || skipped ? 1u : REASK_BUSY;
  for (unsigned i = 0; i < w->reasks && k < REASK_MAX; i++)
    k *= 2;
  if (k > REASK_MAX)
    k = REASK_MAX;
  if (now - w->block_sent_ns <= k * bto)
    return;
  ignore_rv(add_entry(p, &w->cid, WR_BITSWAP_WANT_BLOCK, 1));
  ignore_rv(add_entry(p, &w->cid, WR_BITSWAP_WANT_BLOCK, 0));
  w->block_sent_ns = now;
  w->reasks++;
  b->st.want_reasks++;
  madd(b->m_reasks, 1);
  w->dont = 0;
  broadcast(b, w, live & ~bit(p));
  if (now - w->finder_ns > FINDER_EVERY_NS) {
    w->finder_ns = now;
    ask_finder(b, w);
  }
}

static void on_tick(uv_timer_t *t) {
  wr_bitswap *b = t->data;
  close_bad_peers(b);
  if (!b->wants) {
    flush_all(b);
    return;
  }
  sync_peers(b);
  uint64_t now = uv_hrtime();
  uint64_t live = live_mask(b);
  uint64_t bto = b->cfg.block_timeout_ms * 1000000ull;
  uint64_t rbc = b->cfg.rebroadcast_ms * 1000000ull;
  for (want *w = b->wants; w; w = w->next) {
    if (w->block_peer && now - w->block_sent_ns > bto)
      want_overdue(b, w, now, live);
    if (w->block_peer)
      continue;
    peer *q = least_loaded(b, w->has & ~w->slow & ~w->dont & live);
    if (!q && (w->has & live & ~w->dont))
      q = least_loaded(b, w->has & ~w->dont & live); /* only slow ones: better than none */
    if (q) {
      send_block_want(w, q);
      continue;
    }
    uint64_t fresh = live & ~w->asked;
    if (fresh)
      broadcast(b, w, fresh);
    else if (now - w->bcast_ns > rbc) {
      /* Nobody has it: ask again (they may have got it since). */
      w->dont = w->slow = 0;
      broadcast(b, w, live);
    }
    /* Nobody connected (and answering) has it a second on: ask who
     * provides it. */
    if (!(w->has & live & ~silent_mask(b)) && now - w->created_ns > FINDER_AFTER_NS &&
        now - w->finder_ns > FINDER_EVERY_NS) {
      w->finder_ns = now;
      ask_finder(b, w);
    }
  }
  flush_all(b);
}

/* Closes the connections of peers that sent wrong blocks. Closing may free
 * the peer (on_conn_closed), so the list is searched again after each. */
static void close_bad_peers(wr_bitswap *b) {
  for (;;) {
    peer *p = b->peers;
    while (p && !p->close_pending)
      p = p->next;
    if (!p)
      return;
    p->close_pending = 0;
    wr_p2p_conn_close(p->conn);
  }
}

static void on_check(uv_check_t *c) {
  close_bad_peers(c->data);
  flush_all(c->data);
}

/* ---- commands from workers ---- */

static void session_unref(wr_bitswap_session *s) {
  pthread_mutex_lock(&s->mu);
  int left = --s->refs;
  pthread_mutex_unlock(&s->mu);
  if (left)
    return;
  for (arrived *a = s->arrived, *n; a; a = n) {
    n = a->next;
    wr_free(a->data);
    wr_free(a);
  }
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  wr_free(s);
}

static void drop_session_wants(wr_bitswap *b, wr_bitswap_session *s) {
  for (want *w = b->wants, *n; w; w = n) {
    n = w->next;
    if (w->s == s)
      want_free(b, w, NULL);
  }
}

/* Takes s off the engine's list; 1 when it was there (the loop's reference
 * is then still to drop), 0 when shutdown took it already. */
static int unlink_session(wr_bitswap *b, wr_bitswap_session *s) {
  int found = 0;
  pthread_mutex_lock(&b->qmu);
  for (wr_bitswap_session **pp = &b->sessions; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      found = 1;
      break;
    }
  pthread_mutex_unlock(&b->qmu);
  return found;
}

static void on_async(uv_async_t *a) {
  wr_bitswap *b = a->data;
  pthread_mutex_lock(&b->qmu);
  cmd *q = b->qhead;
  b->qhead = b->qtail = NULL;
  int shut = b->shut && !b->shut_done;
  pthread_mutex_unlock(&b->qmu);
  for (cmd *c = q, *n; c; c = n) {
    n = c->next;
    if (c->type == CMD_WANT && !shut) {
      int dup = 0;
      for (want *w = b->wants; w && !dup; w = w->next)
        dup = w->s == c->s && wr_mh_equal(&w->cid.mh, &c->cid.mh);
      want *w = dup ? NULL : wr_calloc(1, sizeof *w);
      if (w) {
        w->s = c->s;
        w->cid = c->cid;
        w->created_ns = uv_hrtime();
        w->next = b->wants;
        b->wants = w;
        b->nwants++;
        madd(b->m_wants, 1);
        sync_peers(b);
        want_start(b, w);
      }
    } else if (c->type == CMD_CLOSE) {
      /* s may be freed already when shutdown dropped the loop's reference
       * first: it is only compared here, never read. */
      drop_session_wants(b, c->s);
      if (unlink_session(b, c->s))
        session_unref(c->s); /* the loop's reference */
    }
    wr_free(c);
  }
  if (shut) {
    /* Every session still open loses the loop's reference here; their
     * workers were woken by wr_bitswap_shutdown. */
    pthread_mutex_lock(&b->qmu);
    b->shut_done = 1;
    wr_bitswap_session *list = b->sessions;
    b->sessions = NULL;
    pthread_mutex_unlock(&b->qmu);
    for (wr_bitswap_session *s = list, *n; s; s = n) {
      n = s->next;
      drop_session_wants(b, s);
      session_unref(s);
    }
  }
  flush_all(b);
}

int wr_bitswap_session_new(wr_bitswap *b, wr_bitswap_session **ps) {
  *ps = NULL;
  wr_bitswap_session *s = wr_calloc(1, sizeof *s);
  if (!s)
    return WR_ERR_NOMEM;
  s->b = b;
  s->refs = 2;
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_lock(&b->qmu);
  if (b->shut) {
    pthread_mutex_unlock(&b->qmu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    wr_free(s);
    return WR_ERR_CLOSED;
  }
  s->next = b->sessions;
  b->sessions = s;
  pthread_mutex_unlock(&b->qmu);
  *ps = s;
  return 0;
}

static void post(wr_bitswap *b, cmd *head, cmd *tail) {
  if (b->qtail)
    b->qtail->next = head;
  else
    b->qhead = head;
  b->qtail = tail;
}

int wr_bitswap_session_want(wr_bitswap_session *s, const wr_cid *cids, size_t n) {
  wr_bitswap *b = s->b;
  cmd *head = NULL, *tail = NULL;
  for (size_t i = 0; i < n; i++) {
    cmd *c = wr_calloc(1, sizeof *c);
    if (!c) {
      for (cmd *x = head, *y; x; x = y) {
        y = x->next;
        wr_free(x);
      }
      return WR_ERR_NOMEM;
    }
    c->type = CMD_WANT;
    c->s = s;
    c->cid = cids[i];
    if (tail)
      tail->next = c;
    else
      head = c;
    tail = c;
  }
  pthread_mutex_lock(&b->qmu);
  if (b->shut) {
    pthread_mutex_unlock(&b->qmu);
    for (cmd *x = head, *y; x; x = y) {
      y = x->next;
      wr_free(x);
    }
    return WR_ERR_CLOSED;
  }
  if (head)
    post(b, head, tail);
  pthread_mutex_unlock(&b->qmu);
  uv_async_send(&b->async);
  return 0;
}

int wr_bitswap_session_take(wr_bitswap_session *s, const wr_cid *cid, uint64_t deadline_ns,
                            uint8_t **pdata, size_t *plen) {
  struct timespec ts = {(time_t)(deadline_ns / 1000000000ull), (long)(deadline_ns % 1000000000ull)};
  int rv = WR_ERR_TIMEOUT;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    arrived **pa = &s->arrived;
    for (; *pa; pa = &(*pa)->next)
      if (wr_mh_equal(&(*pa)->mh, &cid->mh))
        break;
    if (*pa) {
      arrived *a = *pa;
      *pa = a->next;
      *pdata = a->data;
      *plen = a->len;
      wr_free(a);
      rv = 0;
      break;
    }
    if (s->closed) {
      rv = WR_ERR_CLOSED;
      break;
    }
    s->awaited = cid->mh;
    s->awaiting = 1;
    if (uv_hrtime() >= deadline_ns || pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT) {
      if (uv_hrtime() >= deadline_ns) {
        rv = WR_ERR_TIMEOUT;
        break;
      }
    }
  }
  s->awaiting = 0;
  pthread_mutex_unlock(&s->mu);
  return rv;
}

void wr_bitswap_session_peers(wr_bitswap_session *s, size_t *pasked, size_t *pgave) {
  pthread_mutex_lock(&s->mu);
  *pasked = popcount(s->asked_mask);
  *pgave = popcount(s->gave_mask);
  pthread_mutex_unlock(&s->mu);
}

void wr_bitswap_session_close(wr_bitswap_session *s) {
  if (!s)
    return;
  wr_bitswap *b = s->b;
  pthread_mutex_lock(&s->mu);
  s->closed = 1;
  pthread_mutex_unlock(&s->mu);
  cmd *c = wr_calloc(1, sizeof *c);
  pthread_mutex_lock(&b->qmu);
  if (!b->shut_done && c) {
    c->type = CMD_CLOSE;
    c->s = s;
    post(b, c, c);
    c = NULL;
  } else if (!b->shut_done) {
    /* Without memory for the message the loop keeps its reference until
     * shutdown; the session's wants stay until then too. */
  }
  pthread_mutex_unlock(&b->qmu);
  wr_free(c);
  uv_async_send(&b->async);
  session_unref(s);
}

void wr_bitswap_shutdown(wr_bitswap *b) {
  pthread_mutex_lock(&b->qmu);
  b->shut = 1;
  for (wr_bitswap_session *s = b->sessions; s; s = s->next) {
    pthread_mutex_lock(&s->mu);
    s->closed = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&b->qmu);
  uv_async_send(&b->async);
}

/* ---- life ---- */

int wr_bitswap_new(uv_loop_t *loop, wr_p2p_host *host, wr_bs *bs, const wr_bitswap_config *cfg,
                   wr_bitswap **pb) {
  *pb = NULL;
  wr_bitswap *b = wr_calloc(1, sizeof *b);
  if (!b)
    return WR_ERR_NOMEM;
  b->loop = loop;
  b->host = host;
  b->bs = bs;
  if (cfg)
    b->cfg = *cfg;
  if (!b->cfg.block_timeout_ms)
    b->cfg.block_timeout_ms = 5000;
  if (!b->cfg.rebroadcast_ms)
    b->cfg.rebroadcast_ms = 1000;
  wr_buf_init(&b->scratch, 2 * WR_BITSWAP_MAX_MSG);
  wr_metrics *r = b->cfg.metrics;
  if (r) {
    b->m_blocks_in = wr_metrics_counter(r, "warren_bitswap_blocks_received_total",
                                        "Wanted blocks received and verified.");
    b->m_bytes_in = wr_metrics_counter(r, "warren_bitswap_bytes_received_total",
                                       "Bytes of wanted blocks received.");
    b->m_blocks_out =
        wr_metrics_counter(r, "warren_bitswap_blocks_sent_total", "Blocks sent to peers.");
    b->m_bytes_out =
        wr_metrics_counter(r, "warren_bitswap_bytes_sent_total", "Block bytes sent to peers.");
    b->m_bad = wr_metrics_counter(
        r, "warren_bitswap_bad_blocks_total",
        "Blocks that matched no wanted CID (wrong bytes); each disconnects its peer.");
    b->m_dup = wr_metrics_counter(r, "warren_bitswap_duplicate_blocks_total",
                                  "Blocks that arrived after another peer's copy.");
    b->m_timeouts = wr_metrics_counter(r, "warren_bitswap_want_timeouts_total",
                                       "Want-blocks moved to another peer after a timeout.");
    b->m_reasks = wr_metrics_counter(
        r, "warren_bitswap_want_reasks_total",
        "Want-blocks asked again of a peer that seemed to have lost them (nobody else had them).");
    b->m_malformed = wr_metrics_counter(r, "warren_bitswap_malformed_messages_total",
                                        "Bitswap messages refused as malformed.");
    b->m_wants = wr_metrics_gauge(r, "warren_bitswap_wants", "Blocks wanted now.");
    b->m_peers = wr_metrics_gauge(r, "warren_bitswap_peers", "Peers with Bitswap state.");
  }
  pthread_mutex_init(&b->qmu, NULL);
  for (int i = 0; i < NPROTOCOLS; i++) {
    int rv = wr_p2p_host_set_handler(host, protocols[i], on_stream, b);
    if (rv) {
      pthread_mutex_destroy(&b->qmu);
      wr_buf_free(&b->scratch);
      wr_free(b);
      return rv;
    }
  }
  uv_async_init(loop, &b->async, on_async);
  b->async.data = b;
  uv_timer_init(loop, &b->tick);
  b->tick.data = b;
  uv_timer_start(&b->tick, on_tick, TICK_MS, TICK_MS);
  uv_check_init(loop, &b->check);
  b->check.data = b;
  uv_check_start(&b->check, on_check);
  b->nhandles = 3;
  *pb = b;
  return 0;
}

void wr_bitswap_get_stats(wr_bitswap *b, wr_bitswap_stats *st) { *st = b->st; }

static void handle_closed(uv_handle_t *h) {
  wr_bitswap *b = h->data;
  if (--b->nhandles)
    return;
  while (b->peers)
    peer_free(b, b->peers);
  while (b->wants)
    want_free(b, b->wants, NULL);
  for (cmd *c = b->qhead, *n; c; c = n) {
    n = c->next;
    if (c->type == CMD_CLOSE && unlink_session(b, c->s))
      session_unref(c->s);
    wr_free(c);
  }
  pthread_mutex_destroy(&b->qmu);
  wr_buf_free(&b->scratch);
  void (*cb)(void *) = b->close_cb;
  void *arg = b->close_arg;
  wr_free(b);
  if (cb)
    cb(arg);
}

void wr_bitswap_close(wr_bitswap *b, void (*cb)(void *arg), void *arg) {
  b->close_cb = cb;
  b->close_arg = arg;
  for (fquery *f = b->fqueries, *n; f; f = n) {
    n = f->next;
    b->cfg.finder->cancel(b->cfg.finder, f->q);
    wr_free(f);
  }
  b->fqueries = NULL;
  uv_timer_stop(&b->tick);
  uv_check_stop(&b->check);
  uv_close((uv_handle_t *)&b->async, handle_closed);
  uv_close((uv_handle_t *)&b->tick, handle_closed);
  uv_close((uv_handle_t *)&b->check, handle_closed);
}
