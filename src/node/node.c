/* node.c: `warren daemon`'s composition (see node.h). */
#include "node/node.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "content/names.h"
#include "exchange/bitswap.h"
#include "exchange/netblocks.h"
#include "http/server.h"
#include "io/loopcall.h"
#include "p2p/host.h"
#include "p2p/identity.h"
#include "proto/ipns/ipns.h"
#include "proto/text/base64.h"
#include "routing/dht.h"
#include "rpc/api.h"
#include "rpc/apiaddr.h"
#include "store/blockstore.h"
#include "store/dhtdb.h"
#include "store/keystore.h"
#include "store/pin.h"
#include "store/provdb.h"
#include "store/repo.h"

#define SWEEP_MS 250
#define DEFAULT_GRACE_MS 10000
#define MAX_ADDRS 32
#define MAX_PROTOCOLS 64
#define REPUB_PERIOD_MS (4ull * 3600 * 1000)
#define REPUB_LIFETIME_MS (48ull * 3600 * 1000)
#define REPUB_FIRST_MS 60000ull
#define REPUB_MAX 1024

/* One record the republisher signed again, to put to the DHT. */
typedef struct repub_item {
  uint8_t key[WR_IPNS_MAX_KEY];
  size_t keylen;
  uint8_t *rec;
  size_t reclen;
} repub_item;

struct wr_node {
  uv_loop_t *loop;
  wr_node_config cfg;
  wr_repo *repo;
  int repo_owned;  /* opened here (else the caller's, cfg.repo) */
  wr_rpc_api *api; /* NULL with cfg.no_api */
  wr_http_server *server;
  wr_metrics *reg;
  wr_addr api_addr;
  uv_timer_t sweep;
  int sweep_open;
  /* The libp2p host: made after the repo is open (its key lives there),
   * before the API, so `id` reports it; closed after the last command. */
  wr_p2p_host *host;
  wr_loopcall *lc;
  wr_dht *dht; /* NULL when off */
  /* Bitswap on the host: made right after it (its protocols are in `id`),
   * closed first. */
  wr_bitswap *bitswap;
  wr_finder finder; /* the DHT as Bitswap's provider finder */
  /* Provider records waiting to be written to the repo, and the batch a
   * worker thread is writing (LMDB waits for the writer lock, which an
   * import may hold for seconds: never on the loop). */
  wr_provdb_rec *prov_pending, *prov_writing;
  size_t nprov_pending, capprov_pending, nprov_writing;
  int prov_flushing;
  uint64_t prov_next_flush_ns;
  uv_work_t prov_work;
  /* The same for the DHT's records and the keys asked to be provided. */
  wr_dhtdb_rec *rec_pending, *rec_writing;
  size_t nrec_pending, caprec_pending, nrec_writing;
  uint8_t (*keys_pending)[WR_PROV_MAX_KEY], (*keys_writing)[WR_PROV_MAX_KEY];
  size_t *keylens_pending, *keylens_writing;
  size_t nkeys_pending, capkeys_pending, nkeys_writing;
  /* The keys kept from before the start, provided with the pins. */
  uint8_t (*saved_keys)[WR_PROV_MAX_KEY];
  size_t *saved_lens;
  size_t nsaved;
  int providing_pins; /* the pins' round: not the caller's keys to keep */
  /* Records expire in the repo too: an hourly pass in the flush worker
   * deletes them (the DHT's own expiry pass only frees memory). */
  uint64_t dhtdb_next_expire_ns;
  int dhtdb_expire_due, dhtdb_expiring;
  /* The IPNS republisher: a worker signs (file I/O), the loop puts. */
  uint64_t repub_next_ns;
  int repub_running;
  uv_work_t repub_work;
  repub_item *repub;
  size_t nrepub, repub_failed;
  int host_closing, host_closed, lc_closed;
  /* Network blocks sources open outside the API (wr_node_blocks_open, on
   * other threads): the network stays up until the last one closed. */
  uv_mutex_t sources_lock;
  size_t sources;
  int sources_closed; /* set under the lock once none is open and the node stops */
  /* What `id` reports, made once the components have registered (the
   * strings outlive every command that copies them). */
  char peer_id[WR_PEERID_MAX_STR];
  char public_key[128];
  char agent[64]; /* identify's agentVersion; the host keeps the pointer */
  char *addrs[MAX_ADDRS];
  size_t naddrs;
  const char *protocols[MAX_PROTOCOLS];
  size_t nprotocols;
  int stopping, server_closing_started, server_closed;
  uint64_t stop_ns;
  void (*done)(void *arg);
  void *done_arg;
};

/* `id`'s node fields. */
static void node_identity(void *arg, wr_rpc_identity *out) {
  wr_node *n = arg;
  *out = (wr_rpc_identity){.peer_id = n->peer_id,
                           .public_key = n->public_key,
                           .addrs = (const char *const *)n->addrs,
                           .naddrs = n->naddrs,
                           .protocols = n->protocols,
                           .nprotocols = n->nprotocols};
}

/* Fills what `id` reports from the host: its peer ID and public key, its
 * listen addresses (ports resolved, wildcards expanded) with /p2p/ID, and
 * the protocols it answers. */
static int describe_host(wr_node *n, const wr_p2p_privkey *key) {
  wr_p2p_pubkey pk;
  uint8_t pb[WR_P2P_PUBKEY_ED25519_PB];
  wr_p2p_privkey_public(key, &pk);
  wr_p2p_pubkey_encode(&pk, pb);
  if (wr_peerid_format(wr_p2p_host_id(n->host), n->peer_id, sizeof n->peer_id) < 0 ||
      wr_base64_encode(pb, sizeof pb, n->public_key, sizeof n->public_key) < 0)
    return WR_ERR_LIMIT;
  wr_maddr ma[MAX_ADDRS];
  size_t na = wr_p2p_host_addrs(n->host, ma, MAX_ADDRS);
  for (size_t i = 0; i < na; i++) {
    char text[512];
    if (wr_maddr_format(&ma[i], text, sizeof text) < 0)
      continue;
    size_t len = strlen(text) + strlen(n->peer_id) + 8;
    if (!(n->addrs[n->naddrs] = wr_malloc(len)))
      return WR_ERR_NOMEM;
    snprintf(n->addrs[n->naddrs++], len, "%s/p2p/%s", text, n->peer_id);
  }
  n->nprotocols = wr_p2p_host_protocols(n->host, n->protocols, MAX_PROTOCOLS);
  return 0;
}

static void host_identified(wr_p2p_host *h, wr_p2p_conn *c) {
  wr_node *n = wr_p2p_host_user(h);
  if (n->dht)
    wr_dht_on_identified(n->dht, c);
}

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The provider store's sink: copies the record (key, peer ID bytes, the
 * addresses each behind a length byte, expiry in Unix time) for the next
 * batch. */
static void prov_on_put(void *user, const uint8_t *key, size_t keylen, const wr_prov_rec *rec) {
  wr_node *n = user;
  if (n->nprov_pending == n->capprov_pending) {
    size_t cap = n->capprov_pending ? n->capprov_pending * 2 : 64;
    if (cap > 1000000)
      return; /* a flood: kept in memory only */
    wr_provdb_rec *a = wr_realloc(n->prov_pending, cap * sizeof *a);
    if (!a)
      return;
    n->prov_pending = a;
    n->capprov_pending = cap;
  }
  uint8_t *b = wr_malloc(keylen + WR_PROVDB_MAX_PEER + WR_PROVDB_MAX_ADDRS);
  if (!b)
    return;
  wr_provdb_rec *r = &n->prov_pending[n->nprov_pending];
  memcpy(b, key, keylen);
  int pn = wr_peerid_to_bytes(&rec->id, b + keylen, WR_PROVDB_MAX_PEER);
  if (pn <= 0) {
    wr_free(b);
    return;
  }
  size_t off = keylen + (size_t)pn, al = 0;
  for (size_t i = 0; i < rec->naddrs; i++)
    if (rec->addrs[i].len < 256 && al + 1 + rec->addrs[i].len <= WR_PROVDB_MAX_ADDRS) {
      b[off + al] = (uint8_t)rec->addrs[i].len;
      memcpy(b + off + al + 1, rec->addrs[i].bytes, rec->addrs[i].len);
      al += 1 + rec->addrs[i].len;
    }
  uint64_t now = uv_now(n->loop);
  *r = (wr_provdb_rec){.key = b,
                       .keylen = keylen,
                       .peer = b + keylen,
                       .peerlen = (size_t)pn,
                       .addrs = b + off,
                       .addrslen = al,
                       .expires_unix_ms =
                           unix_ms() + (rec->expires_ms > now ? rec->expires_ms - now : 0)};
  n->nprov_pending++;
}

static void prov_free(wr_provdb_rec *r, size_t n) {
  for (size_t i = 0; i < n; i++)
    wr_free((void *)r[i].key);
  wr_free(r);
}

/* The DHT's sink: a record stored here (a peer's PUT_VALUE or ours), copied
 * for the next batch with its expiry in Unix time. */
static void rec_on_put(void *user, const uint8_t *key, size_t keylen, const uint8_t *val,
                       size_t vallen, uint64_t expires_ms) {
  wr_node *n = user;
  if (keylen > WR_DHTDB_MAX_KEY || vallen > WR_DHTDB_MAX_VALUE)
    return;
  if (n->nrec_pending == n->caprec_pending) {
    size_t cap = n->caprec_pending ? n->caprec_pending * 2 : 16;
    if (cap > 65536)
      return; /* a flood: kept in memory only */
    wr_dhtdb_rec *a = wr_realloc(n->rec_pending, cap * sizeof *a);
    if (!a)
      return;
    n->rec_pending = a;
    n->caprec_pending = cap;
  }
  uint8_t *b = wr_malloc(keylen + vallen + 1);
  if (!b)
    return;
  memcpy(b, key, keylen);
  if (vallen)
    memcpy(b + keylen, val, vallen);
  uint64_t now = uv_now(n->loop);
  n->rec_pending[n->nrec_pending++] =
      (wr_dhtdb_rec){.key = b,
                     .keylen = keylen,
                     .val = b + keylen,
                     .vallen = vallen,
                     .expires_unix_ms = unix_ms() + (expires_ms > now ? expires_ms - now : 0)};
}

/* The DHT's sink: keys a caller asked to provide (`routing provide`, add
 * and pin add through the daemon), kept so a restart provides them again. */
static void keys_on_provide(void *user, const uint8_t *const *keys, const size_t *lens, size_t nk) {
  wr_node *n = user;
  if (n->providing_pins)
    return; /* the pins are read again at every start */
  for (size_t i = 0; i < nk; i++) {
    if (!lens[i] || lens[i] > WR_PROV_MAX_KEY)
      continue;
    if (n->nkeys_pending == n->capkeys_pending) {
      size_t cap = n->capkeys_pending ? n->capkeys_pending * 2 : 64;
      if (cap > 1000000)
        return;
      void *a = wr_realloc(n->keys_pending, cap * sizeof *n->keys_pending);
      if (!a)
        return;
      n->keys_pending = a;
      size_t *l = wr_realloc(n->keylens_pending, cap * sizeof *l);
      if (!l)
        return;
      n->keylens_pending = l;
      n->capkeys_pending = cap;
    }
    memcpy(n->keys_pending[n->nkeys_pending], keys[i], lens[i]);
    n->keylens_pending[n->nkeys_pending++] = lens[i];
  }
}

static void rec_free(wr_dhtdb_rec *r, size_t n) {
  for (size_t i = 0; i < n; i++)
    wr_free((void *)r[i].key);
  wr_free(r);
}

static int keep_all(void *arg, const wr_dhtdb_rec *r) {
  (void)arg, (void)r;
  return 0;
}

static void prov_write(uv_work_t *w) {
  wr_node *n = w->data;
  int rv = n->nprov_writing ? wr_provdb_put(n->repo->bs, n->prov_writing, n->nprov_writing) : 0;
  if (rv)
    wr_log(WR_LOG_WARN, "Could not keep provider records in the repo", "records=%zu err=\"%s\"",
           n->nprov_writing, wr_strerror(rv));
  rv = n->nrec_writing ? wr_dhtdb_put(n->repo->bs, n->rec_writing, n->nrec_writing) : 0;
  if (rv)
    wr_log(WR_LOG_WARN, "Could not keep DHT records in the repo", "records=%zu err=\"%s\"",
           n->nrec_writing, wr_strerror(rv));
  if (n->dhtdb_expiring) {
    size_t expired = 0;
    rv = wr_dhtdb_load(n->repo->bs, unix_ms(), keep_all, NULL, &expired);
    if (rv)
      wr_log(WR_LOG_WARN, "Could not drop the expired DHT records in the repo", "err=\"%s\"",
             wr_strerror(rv));
    else if (expired)
      WR_DEBUG("Expired DHT records dropped from the repo", "records=%zu", expired);
  }
  if (n->nkeys_writing) {
    const uint8_t **k = wr_calloc(n->nkeys_writing, sizeof *k);
    for (size_t i = 0; k && i < n->nkeys_writing; i++)
      k[i] = n->keys_writing[i];
    rv = k ? wr_dhtdb_provide_add(n->repo->bs, k, n->keylens_writing, n->nkeys_writing, unix_ms())
           : WR_ERR_NOMEM;
    wr_free(k);
    if (rv)
      wr_log(WR_LOG_WARN, "Could not keep the keys to provide in the repo", "keys=%zu err=\"%s\"",
             n->nkeys_writing, wr_strerror(rv));
  }
}

static void prov_written(uv_work_t *w, int status) {
  (void)status;
  wr_node *n = w->data;
  prov_free(n->prov_writing, n->nprov_writing);
  n->prov_writing = NULL;
  n->nprov_writing = 0;
  rec_free(n->rec_writing, n->nrec_writing);
  n->rec_writing = NULL;
  n->nrec_writing = 0;
  wr_free(n->keys_writing);
  wr_free(n->keylens_writing);
  n->keys_writing = NULL;
  n->keylens_writing = NULL;
  n->nkeys_writing = 0;
  n->dhtdb_expiring = 0;
  n->prov_flushing = 0;
}

static int dht_pending(const wr_node *n) {
  return n->nprov_pending || n->nrec_pending || n->nkeys_pending;
}

/* Hands the pending records and keys to a worker (one batch at a time). */
static void prov_flush(wr_node *n) {
  if (n->prov_flushing || (!dht_pending(n) && !n->dhtdb_expire_due) || !n->repo)
    return;
  n->dhtdb_expiring = n->dhtdb_expire_due;
  n->dhtdb_expire_due = 0;
  n->rec_writing = n->rec_pending;
  n->nrec_writing = n->nrec_pending;
  n->rec_pending = NULL;
  n->nrec_pending = n->caprec_pending = 0;
  n->keys_writing = n->keys_pending;
  n->keylens_writing = n->keylens_pending;
  n->nkeys_writing = n->nkeys_pending;
  n->keys_pending = NULL;
  n->keylens_pending = NULL;
  n->nkeys_pending = n->capkeys_pending = 0;
  n->prov_writing = n->prov_pending;
  n->nprov_writing = n->nprov_pending;
  n->prov_pending = NULL;
  n->nprov_pending = n->capprov_pending = 0;
  n->prov_work.data = n;
  n->prov_flushing = 1;
  if (uv_queue_work(n->loop, &n->prov_work, prov_write, prov_written) != 0) {
    prov_write(&n->prov_work);
    prov_written(&n->prov_work, 0);
  }
}

typedef struct prov_load {
  wr_node *n;
  uint64_t now_unix, now_loop;
  size_t loaded;
} prov_load;

static int prov_load_one(void *arg, const wr_provdb_rec *r) {
  prov_load *pl = arg;
  wr_prov_rec rec = {.expires_ms = pl->now_loop + (r->expires_unix_ms - pl->now_unix)};
  if (wr_peerid_decode(r->peer, r->peerlen, &rec.id, NULL) != 0)
    return 0;
  for (size_t off = 0; off < r->addrslen && rec.naddrs < WR_PROV_MAX_ADDRS;) {
    size_t len = r->addrs[off];
    if (off + 1 + len > r->addrslen)
      break;
    if (wr_maddr_decode(r->addrs + off + 1, len, &rec.addrs[rec.naddrs], NULL) == 0)
      rec.naddrs++;
    off += 1 + len;
  }
  if (wr_provstore_add(wr_dht_providers(pl->n->dht), r->key, r->keylen, &rec) == 0)
    pl->loaded++;
  return 0;
}

/* Reads the records kept in the repo (dropping expired ones), then keeps
 * every new one there too. */
static void prov_restore(wr_node *n) {
  prov_load pl = {.n = n, .now_unix = unix_ms(), .now_loop = uv_now(n->loop)};
  size_t expired = 0;
  int rv = wr_provdb_load(n->repo->bs, pl.now_unix, prov_load_one, &pl, &expired);
  if (rv)
    wr_log(WR_LOG_WARN, "Could not read the provider records in the repo", "err=\"%s\"",
           wr_strerror(rv));
  else if (pl.loaded || expired)
    wr_log(WR_LOG_INFO, "Provider records restored", "records=%zu expired=%zu", pl.loaded, expired);
  wr_provstore_sink sink = {.on_put = prov_on_put, .user = n};
  wr_provstore_set_sink(wr_dht_providers(n->dht), &sink);
}

typedef struct rec_load {
  wr_node *n;
  uint64_t now_unix, now_loop;
  size_t loaded, refused;
} rec_load;

static int rec_load_one(void *arg, const wr_dhtdb_rec *r) {
  rec_load *rl = arg;
  if (wr_dht_restore_record(rl->n->dht, r->key, r->keylen, r->val, r->vallen,
                            rl->now_loop + (r->expires_unix_ms - rl->now_unix)) == 0)
    rl->loaded++;
  else
    rl->refused++; /* e.g. an IPNS record whose EOL passed while we were down */
  return 0;
}

typedef struct key_load {
  wr_node *n;
  wr_bs_txn *txn;
  size_t cap;
  uint8_t (*gone)[WR_PROV_MAX_KEY];
  size_t *gonelens, ngone;
} key_load;

static int key_load_one(void *arg, const uint8_t *key, size_t len, uint64_t since) {
  (void)since;
  key_load *kl = arg;
  wr_node *n = kl->n;
  if (len > WR_PROV_MAX_KEY)
    return 0;
  /* kubo provides only what it holds: a key whose block went (gc) is
   * forgotten. */
  if (wr_bs_txn_has(kl->txn, key, len) == 0) {
    if (kl->ngone < 4096 && (kl->gone || (kl->gone = wr_calloc(4096, sizeof *kl->gone))) &&
        (kl->gonelens || (kl->gonelens = wr_calloc(4096, sizeof *kl->gonelens)))) {
      memcpy(kl->gone[kl->ngone], key, len);
      kl->gonelens[kl->ngone++] = len;
    }
    return 0;
  }
  if (n->nsaved == kl->cap) {
    size_t cap = kl->cap ? kl->cap * 2 : 64;
    void *a = wr_realloc(n->saved_keys, cap * sizeof *n->saved_keys);
    if (!a)
      return WR_ERR_NOMEM;
    n->saved_keys = a;
    size_t *l = wr_realloc(n->saved_lens, cap * sizeof *l);
    if (!l)
      return WR_ERR_NOMEM;
    n->saved_lens = l;
    kl->cap = cap;
  }
  memcpy(n->saved_keys[n->nsaved], key, len);
  n->saved_lens[n->nsaved++] = len;
  return 0;
}

/* Reads the DHT records and the keys to provide kept in the repo, then keeps
 * every new one there too. At start only: the reads open write transactions
 * (the tables are created on first use) and no worker writes yet. */
static void dht_restore(wr_node *n) {
  rec_load rl = {.n = n, .now_unix = unix_ms(), .now_loop = uv_now(n->loop)};
  size_t expired = 0;
  int rv = wr_dhtdb_load(n->repo->bs, rl.now_unix, rec_load_one, &rl, &expired);
  if (rv)
    wr_log(WR_LOG_WARN, "Could not read the DHT records in the repo", "err=\"%s\"",
           wr_strerror(rv));
  else if (rl.loaded || rl.refused || expired)
    wr_log(WR_LOG_INFO, "DHT records restored", "records=%zu refused=%zu expired=%zu", rl.loaded,
           rl.refused, expired);
  key_load kl = {.n = n};
  if (wr_bs_txn_begin(n->repo->bs, WR_BS_READ, &kl.txn) == 0) {
    rv = wr_dhtdb_provide_load(n->repo->bs, key_load_one, &kl);
    wr_bs_txn_abort(kl.txn);
    for (size_t i = 0; i < kl.ngone; i++)
      if (wr_dhtdb_provide_rm(n->repo->bs, kl.gone[i], kl.gonelens[i]) != 0)
        break;
    if (rv)
      wr_log(WR_LOG_WARN, "Could not read the keys to provide in the repo", "err=\"%s\"",
             wr_strerror(rv));
    else if (n->nsaved || kl.ngone)
      wr_log(WR_LOG_INFO, "Keys to provide restored", "keys=%zu dropped=%zu", n->nsaved, kl.ngone);
  }
  wr_free(kl.gone);
  wr_free(kl.gonelens);
  wr_dht_sink sink = {.on_record = rec_on_put, .on_provide = keys_on_provide, .user = n};
  wr_dht_set_sink(n->dht, &sink);
}

typedef struct pin_keys {
  uint8_t (*mh)[WR_MH_MAX_BYTES];
  const uint8_t **keys;
  size_t *lens;
  size_t n, cap;
} pin_keys;

static int collect_pin(void *arg, const uint8_t *cid, size_t cidlen, wr_pin_type type) {
  (void)type;
  pin_keys *pk = arg;
  wr_cid c;
  if (wr_cid_from_bytes(cid, cidlen, &c, NULL) != 0)
    return 0;
  if (pk->n == pk->cap) {
    size_t cap = pk->cap ? pk->cap * 2 : 256;
    void *a = wr_realloc(pk->mh, cap * WR_MH_MAX_BYTES);
    if (!a)
      return WR_ERR_NOMEM;
    pk->mh = a;
    pk->cap = cap;
  }
  int m = wr_mh_encode(&c.mh, pk->mh[pk->n], WR_MH_MAX_BYTES);
  if (m > 0 && (size_t)m <= WR_PROV_MAX_KEY)
    pk->n++;
  return 0;
}

/* Announces the pinned roots (the content this node keeps available); the
 * DHT then provides them again before their records expire. */
static void provide_pins(wr_node *n) {
  pin_keys pk = {0};
  wr_bs_txn *txn;
  if (wr_bs_txn_begin(n->repo->bs, WR_BS_READ, &txn) != 0)
    return;
  int rv = wr_pin_iter(txn, collect_pin, &pk);
  wr_bs_txn_abort(txn);
  /* and the keys callers asked to provide before the last stop */
  size_t total = pk.n + n->nsaved;
  if (rv == 0 && total && (pk.keys = wr_calloc(total, sizeof *pk.keys)) &&
      (pk.lens = wr_calloc(total, sizeof *pk.lens))) {
    for (size_t i = 0; i < pk.n; i++) {
      pk.keys[i] = pk.mh[i];
      wr_cursor cur;
      wr_cursor_init(&cur, pk.mh[i], WR_MH_MAX_BYTES);
      wr_mh mh;
      pk.lens[i] = wr_mh_decode(&cur, &mh, NULL) == 0 ? wr_mh_encoded_size(&mh) : 0;
    }
    for (size_t i = 0; i < n->nsaved; i++) {
      pk.keys[pk.n + i] = n->saved_keys[i];
      pk.lens[pk.n + i] = n->saved_lens[i];
    }
    n->providing_pins = 1;
    if (wr_dht_provide(n->dht, pk.keys, pk.lens, total, NULL, NULL) != 0)
      wr_log(WR_LOG_WARN, "Could not announce the pinned content", "pins=%zu keys=%zu", pk.n,
             n->nsaved);
    n->providing_pins = 0;
  }
  wr_free(pk.mh);
  wr_free(pk.keys);
  wr_free(pk.lens);
}

static void on_bootstrapped(void *arg, int err) {
  wr_node *n = arg;
  wr_log(err ? WR_LOG_WARN : WR_LOG_INFO, "DHT bootstrap done", "peers=%zu err=\"%s\"",
         n->dht ? wr_dht_routing_table_size(n->dht) : 0, err ? wr_strerror(err) : "");
  if (!err && n->dht && n->repo)
    provide_pins(n);
}

/* ---- the IPNS republisher (kubo's namesys/republisher) ---- */

static int64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Signs the stored record of one key again and queues it for the DHT. A key
 * that never published is skipped. */
static void repub_key(wr_node *n, const wr_p2p_privkey *sk) {
  if (n->nrepub == REPUB_MAX)
    return;
  wr_buf rec;
  wr_buf_init(&rec, WR_IPNS_MAX_RECORD);
  char err[512];
  uint64_t life = n->cfg.ipns_lifetime_ms ? n->cfg.ipns_lifetime_ms : REPUB_LIFETIME_MS;
  int rv = wr_names_republish(n->cfg.repo_path, sk, (int64_t)(life * WR_NS_PER_MS), wall_ns(), &rec,
                              err, sizeof err);
  if (rv == WR_ERR_NOTFOUND) {
    wr_buf_free(&rec);
    return;
  }
  wr_p2p_pubkey pk;
  wr_peerid id;
  wr_p2p_privkey_public(sk, &pk);
  wr_peerid_from_pubkey(&id, &pk);
  repub_item *it = &n->repub[n->nrepub];
  int kl = rv ? rv : wr_ipns_routing_key(&id, it->key, sizeof it->key);
  if (kl < 0 || !(it->rec = wr_malloc(rec.len))) {
    char s[WR_PEERID_MAX_STR];
    if (wr_peerid_format(&id, s, sizeof s) < 0)
      s[0] = '\0';
    wr_log(WR_LOG_WARN, "Could not republish an IPNS record", "name=%s err=\"%s\"", s,
           rv ? err : wr_strerror(kl));
    n->repub_failed++;
    wr_buf_free(&rec);
    return;
  }
  it->keylen = (size_t)kl;
  memcpy(it->rec, rec.data, rec.len);
  it->reclen = rec.len;
  n->nrepub++;
  wr_buf_free(&rec);
}

static int repub_listed(void *arg, const char *name, const wr_p2p_privkey *sk) {
  (void)name;
  repub_key(arg, sk);
  return 0;
}

static void repub_sign(uv_work_t *w) {
  wr_node *n = w->data;
  n->nrepub = n->repub_failed = 0;
  if (!(n->repub = wr_calloc(REPUB_MAX, sizeof *n->repub)))
    return;
  char path[4200], err[512];
  wr_p2p_privkey sk;
  snprintf(path, sizeof path, "%s/%s", n->cfg.repo_path, WR_P2P_IDENTITY_FILE);
  if (wr_p2p_identity_load(path, 0, &sk, NULL, err, sizeof err) == 0)
    repub_key(n, &sk);
  memset(&sk, 0, sizeof sk);
  if (wr_keystore_list(n->cfg.repo_path, repub_listed, n, err, sizeof err) != 0)
    wr_log(WR_LOG_WARN, "Could not list the keystore to republish", "err=\"%s\"", err);
}

static void repub_put_done(void *data, int err) {
  (void)data;
  if (err)
    WR_DEBUG("IPNS record not put to the DHT", "err=\"%s\"", wr_strerror(err));
}

static void repub_signed(uv_work_t *w, int status) {
  (void)status;
  wr_node *n = w->data;
  size_t put = 0;
  for (size_t i = 0; i < n->nrepub; i++) {
    if (n->dht && !n->stopping &&
        wr_dht_put_value(n->dht, n->repub[i].key, n->repub[i].keylen, n->repub[i].rec,
                         n->repub[i].reclen, repub_put_done, n) == 0)
      put++;
    wr_free(n->repub[i].rec);
  }
  if (n->nrepub || n->repub_failed)
    wr_log(n->repub_failed ? WR_LOG_WARN : WR_LOG_INFO, "IPNS records republished",
           "records=%zu put=%zu failed=%zu", n->nrepub, put, n->repub_failed);
  wr_free(n->repub);
  n->repub = NULL;
  n->nrepub = 0;
  n->repub_running = 0;
}

/* Starts a round on a worker when one is due (from the sweep timer). */
static void repub_tick(wr_node *n) {
  uint64_t now = wr_now_ns();
  if (n->stopping || n->repub_running || !n->dht || now < n->repub_next_ns)
    return;
  uint64_t period = n->cfg.ipns_republish_ms ? n->cfg.ipns_republish_ms : REPUB_PERIOD_MS;
  n->repub_next_ns = now + period * WR_NS_PER_MS;
  n->repub_work.data = n;
  n->repub_running = 1;
  if (uv_queue_work(n->loop, &n->repub_work, repub_sign, repub_signed) != 0)
    n->repub_running = 0;
}

/* The /ipns/ namespace's rules for the DHT (src/proto/ipns): a record is
 * stored or accepted only when it validates for the key's name at the wall
 * clock's now; the best of several is the highest sequence, then the
 * latest EOL. */
static int ipns_validate(void *user, const uint8_t *key, size_t keylen, const uint8_t *val,
                         size_t vallen, const char **preason) {
  (void)user;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return wr_ipns_dht_validate(key, keylen, val, vallen,
                              (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, preason);
}

static size_t ipns_select(void *user, const uint8_t *key, size_t keylen, const uint8_t *const *vals,
                          const size_t *lens, size_t nvals) {
  (void)user, (void)key, (void)keylen;
  size_t best = 0;
  if (wr_ipns_dht_select(vals, lens, nvals, &best) != 0)
    best = 0;
  return best;
}

/* The DHT on the host: a server when the node listens (or is told so), a
 * client otherwise; bootstrap from the configured peers. */
static int start_dht(wr_node *n, char *err, size_t errlen) {
  int mode = n->cfg.dht_mode;
  if (mode == WR_NODE_DHT_OFF)
    return 0;
  wr_dht_config dc = {.metrics = n->reg,
                      .server = mode == WR_NODE_DHT_SERVER ||
                                (mode == WR_NODE_DHT_AUTO && n->cfg.nswarm > 0)};
  int rv = wr_dht_new(&n->dht, n->host, n->loop, &dc);
  wr_dht_validator ipns = {.ns = "ipns", .validate = ipns_validate, .select = ipns_select};
  if (rv == 0)
    rv = wr_dht_add_validator(n->dht, &ipns);
  if (rv) {
    snprintf(err, errlen, "cannot start the DHT: %s", wr_strerror(rv));
    return rv;
  }
  wr_maddr *boot = n->cfg.nbootstrap ? wr_calloc(n->cfg.nbootstrap, sizeof *boot) : NULL;
  if (n->cfg.nbootstrap && !boot) {
    snprintf(err, errlen, "out of memory");
    return WR_ERR_NOMEM;
  }
  for (size_t i = 0; i < n->cfg.nbootstrap; i++) {
    const char *s = n->cfg.bootstrap[i], *reason = NULL;
    int fam, has;
    uint8_t ip[16];
    uint16_t port;
    wr_peerid id;
    if ((rv = wr_maddr_parse(s, strlen(s), &boot[i], &reason)) != 0 ||
        (rv = wr_maddr_to_ip_tcp(&boot[i], &fam, ip, &port, &id, &has)) != 0 || !has) {
      snprintf(err, errlen, "the bootstrap address %s: %s", s,
               reason ? reason : "must be /ip4|ip6/ADDR/tcp/PORT/p2p/PEERID");
      wr_free(boot);
      return rv ? rv : WR_ERR_INVAL;
    }
  }
  prov_restore(n);
  dht_restore(n);
  if (!n->cfg.nbootstrap)
    provide_pins(n); /* to whoever joins: retried each minute until someone has */
  if (n->cfg.nbootstrap)
    rv = wr_dht_bootstrap(n->dht, boot, n->cfg.nbootstrap, on_bootstrapped, n);
  wr_free(boot);
  if (rv)
    snprintf(err, errlen, "cannot bootstrap the DHT: %s", wr_strerror(rv));
  else
    wr_log(WR_LOG_INFO, "DHT started", "mode=%s bootstrap=%zu",
           wr_dht_is_server(n->dht) ? "server" : "client", n->cfg.nbootstrap);
  return rv;
}

static void host_conn_closed(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason) {
  (void)err;
  (void)reason;
  wr_node *n = wr_p2p_host_user(h);
  if (n->bitswap)
    wr_bitswap_conn_closed(n->bitswap, c);
}

/* The DHT as Bitswap's provider finder (exchange/finder.h). The DHT's
 * cancel runs on_done at once; the finder's promises no callback after a
 * cancel: the query remembers it was cancelled. */
struct wr_finder_query {
  wr_dht_query *q;
  wr_finder_found_fn found;
  wr_finder_done_fn done;
  void *arg;
  int cancelled;
  int in_find, finished; /* the lookup ended inside wr_dht_find_providers_cid */
};

static void dht_found(void *data, const wr_dht_peer *peer) {
  wr_finder_query *fq = data;
  if (fq->cancelled)
    return;
  wr_provider pv = {.id = peer->id, .addrs = peer->addrs, .naddrs = peer->naddrs};
  fq->found(fq->arg, &pv);
}

static void dht_done(void *data, int err) {
  wr_finder_query *fq = data;
  if (fq->in_find) {
    /* With nobody to ask the lookup ends at once: finder_find reports it,
     * since done must not run before find returned. */
    fq->finished = 1;
    return;
  }
  if (!fq->cancelled)
    fq->done(fq->arg, err);
  wr_free(fq);
}

static wr_node *finder_node(wr_finder *f) {
  return (wr_node *)((char *)f - offsetof(wr_node, finder));
}

static int finder_find(wr_finder *f, const wr_cid *cid, size_t max, wr_finder_found_fn found,
                       wr_finder_done_fn done, void *arg, wr_finder_query **pq) {
  wr_node *n = finder_node(f);
  if (!n->dht)
    return WR_ERR_UNSUPPORTED;
  wr_finder_query *fq = wr_calloc(1, sizeof *fq);
  if (!fq)
    return WR_ERR_NOMEM;
  *fq = (wr_finder_query){.found = found, .done = done, .arg = arg};
  fq->in_find = 1;
  int rv = wr_dht_find_providers_cid(n->dht, cid, max, dht_found, dht_done, fq, &fq->q);
  fq->in_find = 0;
  if (rv || fq->finished) {
    wr_free(fq);
    return rv ? rv : WR_ERR_NOTFOUND;
  }
  *pq = fq;
  return 0;
}

static void finder_cancel(wr_finder *f, wr_finder_query *fq) {
  (void)f;
  fq->cancelled = 1;
  wr_dht_query_cancel(fq->q); /* dht_done frees fq */
}

/* The network blocks source for commands (rpc/api.h's fetcher). */
static int fetch_open(void *arg, wr_bs *bs, wr_blocks *local, uint64_t timeout_ms,
                      wr_blocks **pnet) {
  wr_node *n = arg;
  wr_netblocks *nb;
  int rv = wr_netblocks_new(n->bitswap, bs, local, timeout_ms, &nb);
  if (rv)
    return rv;
  *pnet = wr_netblocks_blocks(nb);
  return 0;
}

static const char *fetch_error(void *arg, wr_blocks *net) {
  (void)arg;
  return wr_netblocks_error((wr_netblocks *)net);
}

static void fetch_close(void *arg, wr_blocks *net) {
  (void)arg;
  wr_netblocks_del((wr_netblocks *)net);
}

/* Makes the host with the repo's key and listens on the swarm addresses.
 * Returns 0 or an error with a sentence in err. */
static int start_host(wr_node *n, char *err, size_t errlen) {
  char path[4200], why[256];
  wr_p2p_privkey key;
  int created = 0;
  snprintf(path, sizeof path, "%s/%s", n->cfg.repo_path, WR_P2P_IDENTITY_FILE);
  int rv = wr_p2p_identity_load(path, 1, &key, &created, why, sizeof why);
  if (rv) {
    snprintf(err, errlen, "cannot load the peer identity %s: %s", path, why);
    return rv;
  }
  snprintf(n->agent, sizeof n->agent, "warren/%s", n->cfg.version ? n->cfg.version : "0");
  wr_p2p_host_config hc = {.agent_version = n->agent};
  static const wr_p2p_host_events hev = {.on_identified = host_identified,
                                         .on_conn_closed = host_conn_closed};
  if ((rv = wr_p2p_host_new(&n->host, n->loop, &hc, &key, &hev, n)) != 0 ||
      (rv = wr_loopcall_new(n->loop, &n->lc)) != 0) {
    snprintf(err, errlen, "out of memory");
    return rv;
  }
  for (size_t i = 0; i < n->cfg.nswarm; i++) {
    const char *s = n->cfg.swarm[i], *reason = NULL;
    wr_maddr ma;
    if ((rv = wr_maddr_parse(s, strlen(s), &ma, &reason)) != 0) {
      snprintf(err, errlen, "the swarm address %s: %s", s, reason ? reason : wr_strerror(rv));
      return rv;
    }
    if ((rv = wr_p2p_host_listen(n->host, &ma)) != 0) {
      snprintf(err, errlen, "cannot listen on the swarm address %s: %s", s,
               rv == WR_ERR_UNSUPPORTED ? "only /ip4 and /ip6 with /tcp are served so far"
                                        : wr_strerror(rv));
      return rv;
    }
  }
  if ((rv = start_dht(n, err, errlen)) != 0)
    return rv;
  n->finder = (wr_finder){.find = finder_find, .cancel = finder_cancel};
  wr_bitswap_config bc = {.metrics = n->reg, .finder = n->dht ? &n->finder : NULL};
  if ((rv = wr_bitswap_new(n->loop, n->host, n->repo->bs, &bc, &n->bitswap)) != 0) {
    snprintf(err, errlen, "cannot start Bitswap: %s", wr_strerror(rv));
    return rv;
  }
  if ((rv = describe_host(n, &key)) != 0) {
    snprintf(err, errlen, "cannot describe the host: %s", wr_strerror(rv));
    return rv;
  }
  if (created)
    wr_log(WR_LOG_INFO, "Generated the peer identity", "path=%s", path);
  for (size_t i = 0; i < n->naddrs; i++)
    wr_log(WR_LOG_INFO, "Swarm listening", "address=%s", n->addrs[i]);
  return 0;
}

static void on_host_closed(wr_p2p_host *h, void *arg) {
  (void)h;
  wr_node *n = arg;
  n->host = NULL;
  n->host_closed = 1;
}

static void on_lc_closed(void *arg) {
  wr_node *n = arg;
  n->lc = NULL;
  n->lc_closed = 1;
}

static void close_host(wr_node *n) {
  /* The DHT goes first: it holds streams and dials on the host. */
  wr_dht_close(n->dht);
  n->dht = NULL;
  if (n->lc)
    wr_loopcall_close(n->lc, on_lc_closed, n);
  else
    n->lc_closed = 1;
  if (n->host)
    wr_p2p_host_close(n->host, on_host_closed, n);
  else
    n->host_closed = 1;
}

static void on_bitswap_closed(void *arg) {
  wr_node *n = arg;
  n->bitswap = NULL;
  close_host(n);
}

/* Closes Bitswap, then the DHT, the bridge and the host (when there are),
 * once. */
static void close_network(wr_node *n) {
  if (n->host_closing)
    return;
  n->host_closing = 1;
  if (n->bitswap)
    wr_bitswap_close(n->bitswap, on_bitswap_closed, n);
  else
    close_host(n);
}

static void free_addrs(wr_node *n) {
  for (size_t i = 0; i < n->naddrs; i++)
    wr_free(n->addrs[i]);
  n->naddrs = 0;
}

static int addr_is_loopback(const wr_addr *a) {
  wr_addr u;
  wr_addr_unmap(a, &u);
  if (u.sa.sa_family == AF_INET)
    return (ntohl(u.in.sin_addr.s_addr) >> 24) == 127;
  return u.sa.sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&u.in6.sin6_addr);
}

static void server_closed(wr_http_server *s, void *arg) {
  (void)s;
  wr_node *n = arg;
  n->server_closed = 1;
}

static void sweep_closed(uv_handle_t *h) {
  wr_node *n = h->data;
  n->sweep_open = 0;
  if (!n->cfg.no_api)
    wr_api_file_remove(n->cfg.repo_path);
  if (n->repo_owned)
    wr_repo_close(n->repo);
  n->repo = NULL;
  wr_log(WR_LOG_INFO, n->cfg.no_api ? "Node stopped" : "Daemon stopped", "repo=%s",
         n->cfg.repo_path);
  if (n->done)
    n->done(n->done_arg);
}

/* While stopping: 1 once no network blocks source is open (and none may
 * open from now on). */
static int sources_done(wr_node *n) {
  uv_mutex_lock(&n->sources_lock);
  if (n->sources == 0)
    n->sources_closed = 1;
  int done = n->sources_closed;
  uv_mutex_unlock(&n->sources_lock);
  return done;
}

static void on_sweep(uv_timer_t *t) {
  wr_node *n = t->data;
  uint64_t now = wr_now_ns();
  if (n->server && !n->server_closed)
    wr_http_server_sweep(n->server, now);
  if (!n->stopping) {
    /* (The periodic flush sat below this return, so provider records
     * reached the repo only at a clean stop.) */
    if (n->dht && now >= n->prov_next_flush_ns) {
      n->prov_next_flush_ns = now + 2 * WR_NS_PER_S;
      if (now >= n->dhtdb_next_expire_ns) {
        n->dhtdb_next_expire_ns = now + 3600 * WR_NS_PER_S;
        n->dhtdb_expire_due = 1;
      }
      prov_flush(n);
    }
    repub_tick(n);
    return;
  }
  uint64_t grace = (n->cfg.grace_ms ? n->cfg.grace_ms : DEFAULT_GRACE_MS) * WR_NS_PER_MS;
  size_t running = n->api ? wr_rpc_api_running(n->api) : 0;
  if (n->server && !n->server_closed && n->server_closing_started == 0 &&
      ((running == 0 && wr_http_server_conns(n->server) == 0) || now - n->stop_ns >= grace)) {
    n->server_closing_started = 1;
    wr_http_server_close(n->server, server_closed, n);
  }
  /* Every command thread must be done before the bridge, the host and
   * then the repo close. */
  if (n->server_closed && running == 0 && sources_done(n))
    close_network(n);
  if (n->host_closed && !n->prov_flushing && dht_pending(n))
    prov_flush(n); /* what the DHT took until it closed */
  if (n->host_closed && n->lc_closed && !n->prov_flushing && !dht_pending(n) && !n->repub_running &&
      n->sweep_open && !uv_is_closing((uv_handle_t *)&n->sweep)) {
    uv_timer_stop(&n->sweep);
    uv_close((uv_handle_t *)&n->sweep, sweep_closed);
  }
}

static int make_metrics(wr_node *n, wr_http_metrics *m) {
  wr_metrics *r = n->reg;
  m->responses = wr_metrics_family(r, WR_METRIC_COUNTER, "warren_api_responses_total",
                                   "RPC API responses, by status code.", "code");
  m->errors =
      wr_metrics_family(r, WR_METRIC_COUNTER, "warren_api_errors_total",
                        "RPC API requests refused by the HTTP server, by reason.", "reason");
  m->bytes_in = wr_metrics_counter(r, "warren_api_request_body_bytes_total",
                                   "Request body bytes received by the RPC API.");
  m->bytes_out = wr_metrics_counter(r, "warren_api_response_body_bytes_total",
                                    "Response body bytes sent by the RPC API.");
  m->conns_open = wr_metrics_gauge(r, "warren_api_connections", "Open RPC API connections.");
  m->conns_total =
      wr_metrics_counter(r, "warren_api_connections_total", "RPC API connections accepted.");
  return m->responses && m->errors && m->bytes_in && m->bytes_out && m->conns_open && m->conns_total
             ? 0
             : WR_ERR_NOMEM;
}

int wr_node_start(uv_loop_t *loop, const wr_node_config *cfg, wr_node **pnode, char *err,
                  size_t errlen) {
  *pnode = NULL;
  wr_node *n = wr_calloc(1, sizeof *n);
  if (!n) {
    snprintf(err, errlen, "out of memory");
    return WR_ERR_NOMEM;
  }
  n->loop = loop;
  n->cfg = *cfg;
  if (uv_mutex_init(&n->sources_lock) != 0) {
    wr_free(n);
    snprintf(err, errlen, "cannot make a mutex");
    return WR_ERR_NOMEM;
  }
  int rv = 0;
  if (cfg->repo) {
    n->repo = cfg->repo;
  } else if ((rv = wr_repo_open(cfg->repo_path, WR_REPO_SHARED, &n->repo)) != 0) {
    snprintf(err, errlen, "cannot open the repo %s: %s", cfg->repo_path, wr_strerror(rv));
    goto fail;
  } else {
    n->repo_owned = 1;
  }
  /* An embedding edge's registry (its /metrics shows Bitswap's counters),
   * else the node's own. */
  n->reg = cfg->metrics ? cfg->metrics : wr_metrics_new();
  wr_http_metrics hm;
  if (!n->reg || (!cfg->no_api && (rv = make_metrics(n, &hm)) != 0)) {
    rv = WR_ERR_NOMEM;
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if ((rv = start_host(n, err, errlen)) != 0)
    goto fail;
  if (cfg->no_api) {
    n->server_closed = 1; /* nothing to drain or close */
    uv_timer_init(loop, &n->sweep);
    n->sweep.data = n;
    n->sweep_open = 1;
    uv_timer_start(&n->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    wr_log(WR_LOG_INFO, "Node is ready", "peer=%s repo=%s", n->peer_id, cfg->repo_path);
    *pnode = n;
    return 0;
  }
  wr_rpc_config rc = {
      .repo = n->repo,
      .host = n->host,
      .loopcall = n->lc,
      .dht = n->dht,
      .api_port = wr_addr_port(&cfg->api),
      .allowed_origins = cfg->allowed_origins,
      .nallowed = cfg->nallowed,
      .version = cfg->version,
      .identity = node_identity,
      .identity_arg = n,
      .fetcher = {.open = fetch_open, .error = fetch_error, .close = fetch_close, .arg = n},
      .metrics = n->reg,
  };
  if ((rv = wr_rpc_api_new(loop, &rc, &n->api)) != 0) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  wr_http_server_config sc = {
      .handler = wr_rpc_api_handler(n->api),
      .metrics = hm,
      .header_timeout_ms = 10000,
      .idle_timeout_ms = 60000,
      .max_conns = 256,
  };
  if ((rv = wr_http_server_new(&n->server, loop, &sc)) != 0) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  char why[256];
  if ((rv = wr_http_server_listen(n->server, &cfg->api.sa, why, sizeof why)) != 0) {
    char a[WR_ADDR_STRLEN];
    snprintf(err, errlen, "cannot serve the RPC API on %s: %s",
             wr_addr_format(&cfg->api, a, sizeof a), why);
    goto fail;
  }
  struct sockaddr_storage bound;
  if (wr_http_server_local_addr(n->server, 0, &bound) == 0)
    wr_addr_from_sockaddr((struct sockaddr *)&bound, &n->api_addr);
  else
    n->api_addr = cfg->api;
  /* A port of 0 is resolved now: kubo's default allowed origins name it. */
  wr_rpc_api_set_port(n->api, wr_addr_port(&n->api_addr));
  if ((rv = wr_api_file_write(cfg->repo_path, &n->api_addr, why, sizeof why)) != 0) {
    snprintf(err, errlen, "cannot write the API file in the repo: %s", why);
    goto fail;
  }
  n->dhtdb_next_expire_ns = wr_now_ns() + 3600 * WR_NS_PER_S; /* the start dropped them */
  uint64_t period = cfg->ipns_republish_ms ? cfg->ipns_republish_ms : REPUB_PERIOD_MS;
  n->repub_next_ns =
      wr_now_ns() + (period < REPUB_FIRST_MS ? period : REPUB_FIRST_MS) * WR_NS_PER_MS;
  uv_timer_init(loop, &n->sweep);
  n->sweep.data = n;
  n->sweep_open = 1;
  uv_timer_start(&n->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  char m[WR_API_MADDR_MAX];
  wr_api_maddr_format(&n->api_addr, m);
  wr_log(WR_LOG_INFO, "RPC API server listening", "address=%s repo=%s", m, cfg->repo_path);
  if (!addr_is_loopback(&n->api_addr))
    /* kubo's API has no authentication: whoever reaches it runs the node. */
    wr_log(WR_LOG_WARN,
           "The RPC API listens beyond loopback: anyone who can reach it controls "
           "this node",
           "address=%s", m);
  wr_log(WR_LOG_INFO, "Daemon is ready", "api=%s", m);
  *pnode = n;
  return 0;
fail:
  if (n->server) {
    /* Nothing listens or is connected yet: closing finishes on the loop's
     * next turn; run it so the handles are gone before we free. */
    wr_http_server_close(n->server, server_closed, n);
    while (!n->server_closed)
      uv_run(loop, UV_RUN_ONCE);
    wr_http_server_free(n->server);
  }
  close_network(n);
  while (!n->host_closed || !n->lc_closed)
    uv_run(loop, UV_RUN_ONCE);
  free_addrs(n);
  prov_free(n->prov_pending, n->nprov_pending);
  rec_free(n->rec_pending, n->nrec_pending);
  wr_free(n->keys_pending);
  wr_free(n->keylens_pending);
  wr_free(n->saved_keys);
  wr_free(n->saved_lens);
  wr_rpc_api_free(n->api);
  if (!n->cfg.metrics)
    wr_metrics_del(n->reg);
  if (n->repo_owned)
    wr_repo_close(n->repo);
  uv_mutex_destroy(&n->sources_lock);
  wr_free(n);
  return rv;
}

void wr_node_api_addr(const wr_node *n, wr_addr *pa) { *pa = n->api_addr; }

int wr_node_blocks_open(wr_node *n, wr_bs *bs, wr_blocks *local, uint64_t idle_ms,
                        wr_blocks **pnet) {
  /* The sweep closes the network only after it marked sources closed
   * with none open, under this lock: a source is either counted before
   * that, or refused. */
  uv_mutex_lock(&n->sources_lock);
  int closed = n->sources_closed;
  if (!closed)
    n->sources++;
  uv_mutex_unlock(&n->sources_lock);
  if (closed)
    return WR_ERR_CLOSED;
  wr_netblocks *nb = NULL;
  int rv = n->bitswap ? wr_netblocks_new(n->bitswap, bs, local, 0, &nb) : WR_ERR_CLOSED;
  if (rv == 0) {
    wr_netblocks_set_idle(nb, idle_ms);
    *pnet = wr_netblocks_blocks(nb);
  } else {
    uv_mutex_lock(&n->sources_lock);
    n->sources--;
    uv_mutex_unlock(&n->sources_lock);
  }
  return rv;
}

const char *wr_node_blocks_error(wr_node *n, wr_blocks *net) { return fetch_error(n, net); }

void wr_node_blocks_close(wr_node *n, wr_blocks *net) {
  fetch_close(n, net);
  uv_mutex_lock(&n->sources_lock);
  n->sources--;
  uv_mutex_unlock(&n->sources_lock);
}

void wr_node_stop(wr_node *n, void (*done)(void *arg), void *arg) {
  if (n->stopping) {
    /* A second signal: no more grace. */
    n->stop_ns = 0;
    n->cfg.grace_ms = 1;
    return;
  }
  n->stopping = 1;
  n->stop_ns = wr_now_ns();
  n->done = done;
  n->done_arg = arg;
  wr_log(WR_LOG_INFO, n->cfg.no_api ? "Node is stopping" : "Daemon is stopping",
         "commands_running=%zu", n->api ? wr_rpc_api_running(n->api) : 0);
  /* Commands waiting on the network end now instead of at their timeout. */
  if (n->bitswap)
    wr_bitswap_shutdown(n->bitswap);
  if (n->server)
    wr_http_server_drain(n->server);
}

void wr_node_free(wr_node *n) {
  if (!n)
    return;
  free_addrs(n);
  prov_free(n->prov_pending, n->nprov_pending);
  rec_free(n->rec_pending, n->nrec_pending);
  wr_free(n->keys_pending);
  wr_free(n->keylens_pending);
  wr_free(n->saved_keys);
  wr_free(n->saved_lens);
  wr_http_server_free(n->server);
  wr_rpc_api_free(n->api);
  if (!n->cfg.metrics)
    wr_metrics_del(n->reg);
  if (n->repo_owned)
    wr_repo_close(n->repo);
  uv_mutex_destroy(&n->sources_lock);
  wr_free(n);
}
