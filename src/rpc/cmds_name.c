/* cmds_name.c: kubo's key/gen, key/list, key/rm, name/publish and
 * name/resolve over the repo's keystore and IPNS records (store/keystore.h,
 * content/names.h). The CLI and the daemon share those files; each record
 * is updated under its own lock, so both may publish. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "content/names.h"
#include "io/loopcall.h"
#include "p2p/identity.h"
#include "proto/multiformats/multibase.h"
#include "proto/text/json.h"
#include "proto/text/yamldoc.h"
#include "rpc/call.h"
#include "store/keystore.h"

static int64_t wall_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int load_key(wr_rpc_call *c, const char *name, wr_p2p_privkey *sk, char *err,
                    size_t errlen) {
  if (strcmp(name, "self") == 0) {
    char path[WR_NAMES_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", c->repo->path, WR_P2P_IDENTITY_FILE);
    return wr_p2p_identity_load(path, 0, sk, NULL, err, errlen);
  }
  return wr_keystore_load(c->repo->path, name, sk, err, errlen);
}

static void key_id(const wr_p2p_privkey *sk, char out[WR_PEERID_MAX_STR]) {
  wr_p2p_pubkey pk;
  wr_peerid id;
  wr_p2p_privkey_public(sk, &pk);
  wr_peerid_from_pubkey(&id, &pk);
  if (wr_peerid_format_cid(&id, WR_MB_BASE36, out, WR_PEERID_MAX_STR) < 0)
    out[0] = '\0';
}

/* {"Name":name,"Id":id} */
static int put_key(wr_buf *b, const char *name, const wr_p2p_privkey *sk) {
  char id[WR_PEERID_MAX_STR];
  key_id(sk, id);
  int rv = wr_buf_puts(b, "{\"Name\":");
  if (!rv)
    rv = wr_json_put_string(b, name, strlen(name));
  if (!rv)
    rv = wr_buf_puts(b, ",\"Id\":");
  if (!rv)
    rv = wr_json_put_string(b, id, strlen(id));
  return rv ? rv : wr_buf_puts(b, "}");
}

void wr_rpc_cmd_key_gen(wr_rpc_call *c) {
  const char *name = wr_rpc_arg1(c, "name");
  if (!name)
    return;
  const char *type = wr_query_get(&c->q, "type");
  if (type && strcmp(type, "ed25519") != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "only ed25519 keys are supported, not \"%s\"", type);
    return;
  }
  char err[512];
  wr_p2p_privkey sk;
  int rv = wr_keystore_gen(c->repo->path, name, &sk, err, sizeof err);
  if (rv != 0) {
    wr_rpc_fail(c, rv == WR_ERR_INVAL ? WR_RPC_ERR_CLIENT : WR_RPC_ERR_NORMAL, "%s", err);
    return;
  }
  wr_buf b;
  wr_buf_init(&b, 4096);
  if (put_key(&b, name, &sk) == 0)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
  memset(&sk, 0, sizeof sk);
  wr_buf_free(&b);
}

static int list_one(void *arg, const char *name, const wr_p2p_privkey *sk) {
  wr_buf *b = arg;
  int rv = wr_buf_puts(b, ",");
  return rv ? rv : put_key(b, name, sk);
}

void wr_rpc_cmd_key_list(wr_rpc_call *c) {
  char err[512];
  wr_p2p_privkey self;
  if (load_key(c, "self", &self, err, sizeof err) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", err);
    return;
  }
  wr_buf b;
  wr_buf_init(&b, 16 << 20);
  int rv = wr_buf_puts(&b, "{\"Keys\":[");
  if (!rv)
    rv = put_key(&b, "self", &self);
  memset(&self, 0, sizeof self);
  if (!rv)
    rv = wr_keystore_list(c->repo->path, list_one, &b, err, sizeof err);
  if (!rv)
    rv = wr_buf_puts(&b, "]}");
  if (!rv)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", rv == WR_ERR_IO ? err : wr_strerror(rv));
  wr_buf_free(&b);
}

void wr_rpc_cmd_key_rm(wr_rpc_call *c) {
  const char *args[64];
  size_t n = wr_rpc_args(c, args, 64);
  if (n == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"name\" is required");
    return;
  }
  char err[512];
  wr_buf b;
  wr_buf_init(&b, 64 * 1024);
  int rv = wr_buf_puts(&b, "{\"Keys\":[");
  for (size_t i = 0; i < n && !rv; i++) {
    wr_p2p_privkey sk;
    if ((rv = wr_keystore_load(c->repo->path, args[i], &sk, err, sizeof err)) != 0 ||
        (rv = wr_keystore_rm(c->repo->path, args[i], err, sizeof err)) != 0) {
      wr_rpc_fail(c, rv == WR_ERR_INVAL ? WR_RPC_ERR_CLIENT : WR_RPC_ERR_NORMAL, "%s", err);
      goto out;
    }
    rv = (i ? wr_buf_puts(&b, ",") : 0);
    if (!rv)
      rv = put_key(&b, args[i], &sk);
    memset(&sk, 0, sizeof sk);
  }
  if (!rv)
    rv = wr_buf_puts(&b, "]}");
  if (!rv)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
out:
  wr_buf_free(&b);
}

static int duration_opt(wr_rpc_call *c, const char *name, uint64_t dflt, uint64_t *pv) {
  const char *v = wr_query_get(&c->q, name);
  *pv = dflt;
  if (v && wr_duration_parse(v, pv) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "%s wants a duration such as 48h, not \"%s\"", name, v);
    return -1;
  }
  return 0;
}

/* --- the DHT (on the loop, through loopcall; as cmds_routing.c) --- */

typedef struct dht_req {
  wr_dht *dht;
  wr_loopcall_req *r;
  uint8_t key[WR_IPNS_MAX_KEY];
  size_t keylen;
  const uint8_t *val; /* put: the record */
  size_t vallen;
  uint8_t got[WR_IPNS_MAX_RECORD]; /* get: the best record */
  size_t gotlen;
} dht_req;

static void dht_put_done(void *data, int err) {
  dht_req *q = data;
  wr_loopcall_done(q->r, err);
}

static void dht_put_on_loop(wr_loopcall_req *r) {
  dht_req *q = r->arg;
  q->r = r;
  int rv = wr_dht_put_value(q->dht, q->key, q->keylen, q->val, q->vallen, dht_put_done, q);
  if (rv)
    wr_loopcall_done(r, rv);
}

static void dht_got(void *data, int err, const uint8_t *val, size_t n) {
  dht_req *q = data;
  if (!err && n <= sizeof q->got) {
    memcpy(q->got, val, n);
    q->gotlen = n;
  } else if (!err) {
    err = WR_ERR_LIMIT;
  }
  wr_loopcall_done(q->r, err);
}

static void dht_get_on_loop(wr_loopcall_req *r) {
  dht_req *q = r->arg;
  q->r = r;
  int rv = wr_dht_get_value(q->dht, q->key, q->keylen, dht_got, q);
  if (rv)
    wr_loopcall_done(r, rv);
}

/* Puts name's record to the DHT. 0, or the DHT's error (WR_ERR_NOTFOUND:
 * no peer took it). */
static int dht_put(wr_rpc_call *c, const wr_peerid *name, const uint8_t *rec, size_t n) {
  if (!c->dht || !c->loopcall)
    return WR_ERR_UNSUPPORTED;
  dht_req *q = wr_calloc(1, sizeof *q);
  if (!q)
    return WR_ERR_NOMEM;
  q->dht = c->dht;
  int kl = wr_ipns_routing_key(name, q->key, sizeof q->key);
  int rv = kl < 0 ? kl : 0;
  if (rv == 0) {
    q->keylen = (size_t)kl;
    q->val = rec;
    q->vallen = n;
    rv = wr_loopcall_run(c->loopcall, dht_put_on_loop, q);
  }
  wr_free(q);
  return rv;
}

/* Gets name's best record from the DHT and keeps it in the repo when it
 * beats the stored one. 0 when one was kept. */
static int dht_fetch(wr_rpc_call *c, const wr_peerid *name) {
  if (!c->dht || !c->loopcall)
    return WR_ERR_UNSUPPORTED;
  dht_req *q = wr_calloc(1, sizeof *q);
  if (!q)
    return WR_ERR_NOMEM;
  q->dht = c->dht;
  int kl = wr_ipns_routing_key(name, q->key, sizeof q->key);
  int rv = kl < 0 ? kl : 0, kept = 0;
  char err[512];
  if (rv == 0) {
    q->keylen = (size_t)kl;
    rv = wr_loopcall_run(c->loopcall, dht_get_on_loop, q);
  }
  if (rv == 0)
    rv = wr_names_store(c->repo->path, name, q->got, q->gotlen, wall_now_ns(), &kept, err,
                        sizeof err);
  wr_free(q);
  return rv ? rv : kept ? 0 : WR_ERR_NOTFOUND;
}

/* Answers {"K1":"V1"} or {"K1":"V1","K2":"V2"} (k2 NULL: one member). */
static void answer_strings(wr_rpc_call *c, const char *k1, const char *v1, const char *k2,
                           const char *v2) {
  wr_buf b;
  wr_buf_init(&b, 2 * WR_NAMES_PATH_MAX);
  int rv = wr_buf_printf(&b, "{\"%s\":", k1);
  if (!rv)
    rv = wr_json_put_string(&b, v1, strlen(v1));
  if (!rv && k2)
    rv = wr_buf_printf(&b, ",\"%s\":", k2);
  if (!rv && k2)
    rv = wr_json_put_string(&b, v2, strlen(v2));
  if (!rv)
    rv = wr_buf_puts(&b, "}");
  if (!rv)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
  wr_buf_free(&b);
}

void wr_rpc_cmd_name_publish(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "ipfs-path");
  if (!arg)
    return;
  uint64_t lifetime, ttl;
  if (duration_opt(c, "lifetime", 48 * 3600 * UINT64_C(1000000000), &lifetime) ||
      duration_opt(c, "ttl", 3600 * UINT64_C(1000000000), &ttl))
    return;
  if (lifetime == 0 || lifetime > (uint64_t)INT64_MAX / 2) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "lifetime must be positive and at most about 146 years");
    return;
  }
  const char *keyname = wr_query_get(&c->q, "key");
  if (!keyname)
    keyname = "self";
  char value[WR_NAMES_PATH_MAX], err[1024], name[WR_PEERID_MAX_STR];
  snprintf(value, sizeof value, "%s%s", arg[0] == '/' ? "" : "/ipfs/", arg);
  if (strncmp(value, "/ipfs/", 6) == 0) {
    const char *p = value + 6, *slash = strchr(p, '/');
    char cidtext[WR_NAMES_PATH_MAX];
    wr_cid cid;
    snprintf(cidtext, sizeof cidtext, "%.*s", slash ? (int)(slash - p) : (int)strlen(p), p);
    if (wr_rpc_cid(c, cidtext, &cid) != 0)
      return;
  }
  wr_p2p_privkey sk;
  if (load_key(c, keyname, &sk, err, sizeof err) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", err);
    return;
  }
  uint64_t seq;
  wr_buf rec;
  wr_buf_init(&rec, WR_IPNS_MAX_RECORD);
  int rv = wr_names_publish(c->repo->path, &sk, value, (int64_t)lifetime, ttl, wall_now_ns(), &seq,
                            &rec, err, sizeof err);
  wr_p2p_pubkey pk;
  wr_peerid id;
  wr_p2p_privkey_public(&sk, &pk);
  wr_peerid_from_pubkey(&id, &pk);
  key_id(&sk, name);
  memset(&sk, 0, sizeof sk);
  if (rv != 0) {
    wr_rpc_fail(c, rv == WR_ERR_INVAL ? WR_RPC_ERR_CLIENT : WR_RPC_ERR_NORMAL, "%s", err);
    wr_buf_free(&rec);
    return;
  }
  /* Into the DHT when it runs. No peer to take it is no failure: the record
   * is kept here, and this node answers for it. */
  if (c->dht) {
    rv = dht_put(c, &id, rec.data, rec.len);
    if (rv != 0 && rv != WR_ERR_NOTFOUND)
      WR_WARN("IPNS record not put to the DHT", "name=%s err=\"%s\"", name, wr_strerror(rv));
  }
  wr_buf_free(&rec);
  answer_strings(c, "Name", name, "Value", value);
}

void wr_rpc_cmd_name_resolve(wr_rpc_call *c) {
  const char *a[1];
  char name[WR_NAMES_PATH_MAX], out[WR_NAMES_PATH_MAX], err[1024];
  int recursive = wr_rpc_bool(c, "recursive", 1);
  if (recursive < 0)
    return;
  if (wr_rpc_args(c, a, 1) == 0) {
    snprintf(name, sizeof name, "/ipns/%s", c->id.peer_id ? c->id.peer_id : "");
  } else {
    snprintf(name, sizeof name, "%s", a[0]);
  }
  int rv = wr_names_resolve(c->repo->path, name, wall_now_ns(), recursive, out, sizeof out, NULL,
                            err, sizeof err);
  if ((rv == WR_ERR_NOTFOUND || rv == WR_ERR_TIMEOUT) && c->dht) {
    /* No live record here: ask the DHT for the name's own record, then try
     * again (that hop from the network, the rest from the repo). */
    const char *k = strncmp(name, "/ipns/", 6) == 0 ? name + 6 : name;
    const char *slash = strchr(k, '/');
    wr_peerid id;
    if (wr_ipns_name_parse(k, slash ? (size_t)(slash - k) : strlen(k), &id, NULL) == 0 &&
        dht_fetch(c, &id) == 0)
      rv = wr_names_resolve(c->repo->path, name, wall_now_ns(), recursive, out, sizeof out, NULL,
                            err, sizeof err);
  }
  if (rv != 0) {
    wr_rpc_fail(c, rv == WR_ERR_MALFORMED ? WR_RPC_ERR_CLIENT : WR_RPC_ERR_NORMAL, "%s", err);
    return;
  }
  answer_strings(c, "Path", out, NULL, NULL);
}
