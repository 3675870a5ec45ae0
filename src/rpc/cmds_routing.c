/* cmds_routing.c: kubo's routing commands over the DHT (src/routing):
 * provide, findprovs, findpeer, get and put. Answers are newline-delimited
 * routing.QueryEvent objects as kubo streams them ({"Extra","ID",
 * "Responses":[{"Addrs","ID"}],"Type"}: 2 a final peer, 4 a provider, 5 a
 * value). The commands run on their job's thread; the DHT lives on the
 * loop and is reached through the loopcall bridge only. */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/text/base64.h"
#include "proto/text/json.h"
#include "rpc/call.h"
#include "store/blockstore.h"

#define MAX_PROVIDE_ARGS 4096
#define MAX_FOUND 1000
#define MAX_KEY 512

/* QueryEventType (go-libp2p routing). */
enum { EV_FINAL_PEER = 2, EV_PROVIDER = 4, EV_VALUE = 5 };

/* --- on the loop ----------------------------------------------------------- */

typedef struct routing_req {
  wr_dht *dht;
  wr_loopcall_req *r;
  /* provide */
  const uint8_t *const *keys;
  const size_t *lens;
  size_t nkeys;
  wr_dht_provide_stats st;
  /* findprovs, findpeer */
  uint8_t key[MAX_KEY];
  size_t keylen;
  size_t max;
  wr_dht_peer *found;
  size_t nfound;
  wr_peerid peer;
  /* get, put */
  uint8_t *val;
  size_t vallen;
} routing_req;

static void provided(void *data, int err, const wr_dht_provide_stats *st) {
  routing_req *q = data;
  q->st = *st;
  /* Nobody to tell is not a failure of the command: the records are kept
   * here and the reprovider tries again (kubo answers the same). */
  wr_loopcall_done(q->r, err == WR_ERR_NOTFOUND ? 0 : err);
}

static void provide_on_loop(wr_loopcall_req *r) {
  routing_req *q = r->arg;
  q->r = r;
  int rv = wr_dht_provide(q->dht, q->keys, q->lens, q->nkeys, provided, q);
  if (rv)
    wr_loopcall_done(r, rv);
}

/* Fire and forget: the command does not wait for the round. */
static void provide_bg_on_loop(wr_loopcall_req *r) {
  routing_req *q = r->arg;
  wr_loopcall_done(r, wr_dht_provide(q->dht, q->keys, q->lens, q->nkeys, NULL, NULL));
}

static void on_provider(void *data, const wr_dht_peer *p) {
  routing_req *q = data;
  if (q->nfound < MAX_FOUND)
    q->found[q->nfound++] = *p;
}

static void on_provs_done(void *data, int err) {
  routing_req *q = data;
  wr_loopcall_done(q->r, err);
}

static void findprovs_on_loop(wr_loopcall_req *r) {
  routing_req *q = r->arg;
  q->r = r;
  int rv =
      wr_dht_find_providers(q->dht, q->key, q->keylen, q->max, on_provider, on_provs_done, q, NULL);
  if (rv)
    wr_loopcall_done(r, rv);
}

static void on_peers(void *data, int err, const wr_dht_peer *peers, size_t n) {
  routing_req *q = data;
  for (size_t i = 0; i < n && q->nfound < MAX_FOUND; i++)
    q->found[q->nfound++] = peers[i];
  wr_loopcall_done(q->r, err);
}

static void findpeer_on_loop(wr_loopcall_req *r) {
  routing_req *q = r->arg;
  q->r = r;
  int rv = wr_dht_find_peer(q->dht, &q->peer, on_peers, q);
  if (rv)
    wr_loopcall_done(r, rv);
}

static void on_value(void *data, int err, const uint8_t *val, size_t n) {
  routing_req *q = data;
  if (!err && (q->val = wr_malloc(n ? n : 1))) {
    memcpy(q->val, val, n);
    q->vallen = n;
  } else if (!err) {
    err = WR_ERR_NOMEM;
  }
  wr_loopcall_done(q->r, err);
}

static void get_on_loop(wr_loopcall_req *r) {
  routing_req *q = r->arg;
  q->r = r;
  int rv = wr_dht_get_value(q->dht, q->key, q->keylen, on_value, q);
  if (rv)
    wr_loopcall_done(r, rv);
}

static void on_put(void *data, int err) {
  routing_req *q = data;
  wr_loopcall_done(q->r, err);
}

static void put_on_loop(wr_loopcall_req *r) {
  routing_req *q = r->arg;
  q->r = r;
  int rv = wr_dht_put_value(q->dht, q->key, q->keylen, q->val, q->vallen, on_put, q);
  if (rv)
    wr_loopcall_done(r, rv);
}

/* --- on the job's thread ----------------------------------------------------- */

static int need_dht(wr_rpc_call *c) {
  if (c->dht && c->loopcall)
    return 0;
  wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "routing is off on this node (the DHT is not running)");
  return -1;
}

void wr_rpc_provide_bg(wr_rpc_call *c, const wr_cid *cids, size_t n) {
  if (!c->dht || !c->loopcall || n == 0)
    return;
  uint8_t(*mh)[WR_MH_MAX_BYTES] = wr_calloc(n, WR_MH_MAX_BYTES);
  const uint8_t **keys = wr_calloc(n, sizeof *keys);
  size_t *lens = wr_calloc(n, sizeof *lens);
  size_t k = 0;
  for (size_t i = 0; mh && keys && lens && i < n; i++) {
    int m = wr_mh_encode(&cids[i].mh, mh[k], WR_MH_MAX_BYTES);
    if (m > 0 && (size_t)m <= WR_PROV_MAX_KEY) {
      keys[k] = mh[k];
      lens[k++] = (size_t)m;
    }
  }
  routing_req q = {.dht = c->dht, .keys = keys, .lens = lens, .nkeys = k};
  if (k && wr_loopcall_run(c->loopcall, provide_bg_on_loop, &q) != 0)
    wr_log(WR_LOG_WARN, "Could not announce new content to the DHT", "cids=%zu", k);
  wr_free(mh);
  wr_free(keys);
  wr_free(lens);
}

/* {"Addrs":[..],"ID":".."} */
static int put_peer(wr_buf *b, const wr_dht_peer *p) {
  char id[WR_PEERID_MAX_STR], a[WR_MA_MAX_STR];
  if (wr_peerid_format(&p->id, id, sizeof id) < 0)
    id[0] = 0;
  int rv = wr_buf_puts(b, "{\"Addrs\":[");
  for (size_t i = 0; !rv && i < p->naddrs; i++)
    if (wr_maddr_format(&p->addrs[i], a, sizeof a) >= 0)
      rv = wr_buf_printf(b, "%s\"%s\"", i ? "," : "", a);
  if (!rv)
    rv = wr_buf_printf(b, "],\"ID\":\"%s\"}", id);
  return rv;
}

static int put_event(wr_buf *b, int type, const wr_dht_peer *p, const char *extra) {
  int rv = wr_buf_puts(b, "{\"Extra\":");
  if (!rv)
    rv = wr_json_put_string(b, extra ? extra : "", extra ? strlen(extra) : 0);
  if (!rv)
    rv = wr_buf_puts(b, ",\"ID\":\"\",\"Responses\":");
  if (!rv)
    rv = p ? wr_buf_puts(b, "[") : wr_buf_puts(b, "null");
  if (!rv && p)
    rv = put_peer(b, p);
  if (!rv && p)
    rv = wr_buf_puts(b, "]");
  if (!rv)
    rv = wr_buf_printf(b, ",\"Type\":%d}\n", type);
  return rv;
}

/* "/ns/TEXT": a peer ID in TEXT is put in binary, as kubo's routing
 * commands do for /ipns/ and /pk/ keys; other keys are taken as they are. */
static int key_arg(wr_rpc_call *c, const char *arg, uint8_t *key, size_t *plen) {
  size_t n = strlen(arg);
  const char *slash = n > 1 && arg[0] == '/' ? strchr(arg + 1, '/') : NULL;
  if (!slash || slash[1] == 0 || n > MAX_KEY) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "invalid key \"%s\": it must be /NAMESPACE/KEY", arg);
    return -1;
  }
  size_t pre = (size_t)(slash - arg) + 1;
  wr_peerid id;
  memcpy(key, arg, pre);
  int idn;
  if (wr_peerid_parse(slash + 1, strlen(slash + 1), &id, NULL) == 0 &&
      (idn = wr_peerid_to_bytes(&id, key + pre, MAX_KEY - pre)) > 0) {
    *plen = pre + (size_t)idn;
  } else {
    memcpy(key + pre, slash + 1, n - pre);
    *plen = n;
  }
  return 0;
}

static const char *dht_why(int rv) {
  switch (rv) {
  case WR_ERR_NOTFOUND:
    return "routing: not found";
  case WR_ERR_UNSUPPORTED:
    return "no validator for this key's namespace (warren validates /pk/ records; /ipns/ "
           "comes with IPNS)";
  case WR_ERR_MALFORMED:
    return "the record is not valid for its key";
  case WR_ERR_CLOSED:
    return "the node is stopping";
  default:
    return wr_strerror(rv);
  }
}

void wr_rpc_cmd_routing_provide(wr_rpc_call *c) {
  const char *args[MAX_PROVIDE_ARGS];
  size_t n = wr_rpc_args(c, args, MAX_PROVIDE_ARGS);
  if (need_dht(c))
    return;
  if (n == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"key\" is required");
    return;
  }
  uint8_t(*mh)[WR_MH_MAX_BYTES] = wr_calloc(n, WR_MH_MAX_BYTES);
  const uint8_t **keys = wr_calloc(n, sizeof *keys);
  size_t *lens = wr_calloc(n, sizeof *lens);
  if (!mh || !keys || !lens) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    wr_cid cid;
    if (wr_rpc_cid(c, args[i], &cid) != 0)
      goto out;
    /* As kubo: only what this node holds is announced. */
    int m = wr_mh_encode(&cid.mh, mh[i], WR_MH_MAX_BYTES);
    if (m <= 0 || wr_bs_has(c->repo->bs, mh[i], (size_t)m) != 1) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "block %s not found locally, cannot provide", args[i]);
      goto out;
    }
    keys[i] = mh[i];
    lens[i] = (size_t)m;
  }
  routing_req q = {.dht = c->dht, .keys = keys, .lens = lens, .nkeys = n};
  int rv = wr_loopcall_run(c->loopcall, provide_on_loop, &q);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", dht_why(rv));
    goto out;
  }
  if (wr_rpc_ok(c, "application/json", 2) == 0) {
    /* One event per round, with the sweep's numbers in Extra. */
    char extra[200];
    snprintf(extra, sizeof extra, "keys=%zu lookups=%zu messages=%zu unreachable=%zu ms=%llu",
             q.st.keys, q.st.lookups, q.st.messages, q.st.failed, (unsigned long long)q.st.ms);
    wr_buf b;
    wr_buf_init(&b, 4096);
    if (put_event(&b, 0, NULL, extra) == 0)
      (void)wr_rpc_write(c, b.data, b.len);
    wr_buf_free(&b);
  }
out:
  wr_free(mh);
  wr_free(keys);
  wr_free(lens);
}

static void answer_peers(wr_rpc_call *c, int type, const wr_dht_peer *p, size_t n) {
  if (wr_rpc_ok(c, "application/json", 2) != 0)
    return;
  wr_buf b;
  wr_buf_init(&b, 1 << 16);
  for (size_t i = 0; i < n; i++) {
    b.len = 0;
    if (put_event(&b, type, &p[i], NULL) != 0 || wr_rpc_write(c, b.data, b.len) != 0)
      break;
  }
  wr_buf_free(&b);
}

void wr_rpc_cmd_routing_findprovs(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "key");
  uint64_t max = 20;
  if (!arg || wr_rpc_uint(c, "num-providers", 20, &max) < 0 || need_dht(c))
    return;
  if (max == 0 || max > MAX_FOUND) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "num-providers must be between 1 and %d", MAX_FOUND);
    return;
  }
  wr_cid cid;
  if (wr_rpc_cid(c, arg, &cid) != 0)
    return;
  routing_req *q = wr_calloc(1, sizeof *q);
  if (!q || !(q->found = wr_calloc(MAX_FOUND, sizeof *q->found))) {
    wr_free(q);
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    return;
  }
  q->dht = c->dht;
  q->max = (size_t)max;
  int m = wr_mh_encode(&cid.mh, q->key, sizeof q->key);
  q->keylen = m > 0 ? (size_t)m : 0;
  int rv = wr_loopcall_run(c->loopcall, findprovs_on_loop, q);
  if (rv && rv != WR_ERR_NOTFOUND)
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", dht_why(rv));
  else
    answer_peers(c, EV_PROVIDER, q->found, q->nfound);
  wr_free(q->found);
  wr_free(q);
}

void wr_rpc_cmd_routing_findpeer(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "peerID");
  if (!arg || need_dht(c))
    return;
  routing_req *q = wr_calloc(1, sizeof *q);
  if (!q || !(q->found = wr_calloc(4, sizeof *q->found))) {
    wr_free(q);
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    return;
  }
  const char *why = NULL;
  if (wr_peerid_parse(arg, strlen(arg), &q->peer, &why) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "invalid peer ID \"%s\": %s", arg, why ? why : "");
  } else {
    q->dht = c->dht;
    int rv = wr_loopcall_run(c->loopcall, findpeer_on_loop, q);
    if (rv)
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", dht_why(rv));
    else
      answer_peers(c, EV_FINAL_PEER, q->found, q->nfound ? 1 : 0);
  }
  wr_free(q->found);
  wr_free(q);
}

void wr_rpc_cmd_routing_get(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "key");
  if (!arg || need_dht(c))
    return;
  routing_req q = {.dht = c->dht};
  if (key_arg(c, arg, q.key, &q.keylen) != 0)
    return;
  int rv = wr_loopcall_run(c->loopcall, get_on_loop, &q);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", dht_why(rv));
    return;
  }
  /* The value goes base64 in Extra, as kubo's Value event. */
  size_t cap = q.vallen * 4 / 3 + 8;
  char *b64 = wr_malloc(cap);
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  if (b64 && wr_base64_encode(q.val, q.vallen, b64, cap) >= 0 &&
      put_event(&b, EV_VALUE, NULL, b64) == 0 && wr_rpc_ok(c, "application/json", 2) == 0)
    (void)wr_rpc_write(c, b.data, b.len);
  else if (!b64)
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
  wr_buf_free(&b);
  wr_free(b64);
  wr_free(q.val);
}

void wr_rpc_cmd_routing_put(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "key");
  if (!arg || need_dht(c))
    return;
  routing_req q = {.dht = c->dht};
  if (key_arg(c, arg, q.key, &q.keylen) != 0)
    return;
  /* The value is the body's one file part. */
  wr_rpc_mp m;
  if (wr_rpc_mp_init(&m, c) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "%s", m.err);
    return;
  }
  wr_buf v;
  wr_buf_init(&v, WR_DHT_MAX_VALUE);
  int rv = wr_rpc_mp_next(&m);
  if (rv != 1) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"value-file\" is required");
    goto out;
  }
  uint8_t tmp[16384];
  ssize_t got;
  while ((got = wr_rpc_mp_read(&m, tmp, sizeof tmp)) > 0)
    if (wr_buf_append(&v, tmp, (size_t)got) != 0) {
      wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "the value is longer than 64 KiB");
      goto out;
    }
  if (got < 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "%s", m.err);
    goto out;
  }
  q.val = v.data;
  q.vallen = v.len;
  rv = wr_loopcall_run(c->loopcall, put_on_loop, &q);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", dht_why(rv));
    goto out;
  }
  wr_buf b;
  wr_buf_init(&b, 4096);
  if (put_event(&b, EV_VALUE, NULL, NULL) == 0 && wr_rpc_ok(c, "application/json", 2) == 0)
    (void)wr_rpc_write(c, b.data, b.len);
  wr_buf_free(&b);
out:
  wr_buf_free(&v);
  wr_rpc_mp_free(&m);
}
