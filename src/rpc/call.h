/* call.h: what one RPC command sees while it runs on its thread (private to
 * src/rpc): its arguments, the store, and helpers that answer in kubo's
 * shapes. */
#ifndef WR_RPC_CALL_H
#define WR_RPC_CALL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "content/exporter.h"
#include "proto/http/multipart.h"
#include "proto/http/query.h"
#include "proto/multiformats/cid.h"
#include "rpc/api.h"
#include "rpc/job.h"
#include "store/repo.h"

typedef struct wr_rpc_call wr_rpc_call;

/* One command of the table. */
typedef struct wr_rpc_cmd {
  const char *name;            /* "pin/ls" */
  void (*run)(wr_rpc_call *c); /* on the job's thread */
  int body;                    /* 1: reads a multipart body */
} wr_rpc_cmd;

struct wr_rpc_call {
  wr_rpc_job *job;
  const wr_rpc_cmd *cmd;
  wr_repo *repo;
  wr_p2p_host *host;         /* NULL: no network; touch only on the loop, */
  wr_loopcall *loopcall;     /* through this bridge */
  wr_dht *dht;               /* the same: NULL when the DHT is off */
  pthread_rwlock_t *gc_lock; /* writers hold it shared, repo/gc exclusive */
  const char *version;
  wr_rpc_identity id;     /* copied on the loop (strings owned by the node) */
  char content_type[256]; /* the request's Content-Type */
  wr_query q;
  wr_rpc_fetcher fetcher;
};

/* Network fetching for commands on content the node lacks (fetch.c).
 * The query's `offline=true` turns it off and `timeout` (kubo's duration:
 * "30s", "500ms", "2m") bounds it. Opens the network source over ex's
 * session and makes ex read through it: 0, or an error the command has
 * answered. A no-op without a fetcher or when offline. */
WR_MUST_CHECK int wr_rpc_fetch_begin(wr_rpc_call *c, wr_export *ex, wr_blocks **pnet);
/* A sentence for err when the network source failed, else NULL. */
const char *wr_rpc_fetch_why(wr_rpc_call *c, wr_blocks *net);
void wr_rpc_fetch_end(wr_rpc_call *c, wr_blocks *net);
/* Fetches the whole DAG under root into the store (for `pin add` and `dag
 * export`, which then run on the local store). 0, or an error the command
 * has answered. */
WR_MUST_CHECK int wr_rpc_fetch_dag(wr_rpc_call *c, const wr_cid *root);

/* Commands, by file. */
void wr_rpc_cmd_version(wr_rpc_call *c);
void wr_rpc_cmd_id(wr_rpc_call *c);
void wr_rpc_cmd_add(wr_rpc_call *c);
void wr_rpc_cmd_cat(wr_rpc_call *c);
void wr_rpc_cmd_get(wr_rpc_call *c);
void wr_rpc_cmd_ls(wr_rpc_call *c);
void wr_rpc_cmd_pin_add(wr_rpc_call *c);
void wr_rpc_cmd_pin_rm(wr_rpc_call *c);
void wr_rpc_cmd_pin_ls(wr_rpc_call *c);
void wr_rpc_cmd_block_get(wr_rpc_call *c);
void wr_rpc_cmd_block_put(wr_rpc_call *c);
void wr_rpc_cmd_block_stat(wr_rpc_call *c);
void wr_rpc_cmd_dag_export(wr_rpc_call *c);
void wr_rpc_cmd_dag_import(wr_rpc_call *c);
void wr_rpc_cmd_repo_gc(wr_rpc_call *c);
void wr_rpc_cmd_swarm_peers(wr_rpc_call *c);
void wr_rpc_cmd_swarm_connect(wr_rpc_call *c);
void wr_rpc_cmd_swarm_disconnect(wr_rpc_call *c);
void wr_rpc_cmd_swarm_addrs_listen(wr_rpc_call *c);
void wr_rpc_cmd_ping(wr_rpc_call *c);
void wr_rpc_cmd_routing_provide(wr_rpc_call *c);
void wr_rpc_cmd_routing_findprovs(wr_rpc_call *c);
void wr_rpc_cmd_routing_findpeer(wr_rpc_call *c);
void wr_rpc_cmd_routing_get(wr_rpc_call *c);
void wr_rpc_cmd_routing_put(wr_rpc_call *c);
/* Announces cids to the DHT without waiting (content just added or
 * pinned); nothing when the DHT is off. */
void wr_rpc_provide_bg(wr_rpc_call *c, const wr_cid *cids, size_t n);
void wr_rpc_cmd_key_gen(wr_rpc_call *c);
void wr_rpc_cmd_key_list(wr_rpc_call *c);
void wr_rpc_cmd_key_rm(wr_rpc_call *c);
void wr_rpc_cmd_name_publish(wr_rpc_call *c);
void wr_rpc_cmd_name_resolve(wr_rpc_call *c);
/* `id PEER`: what a connected peer told identify. */
void wr_rpc_cmd_id_peer(wr_rpc_call *c, const char *arg);

/* kubo's error codes (cmds.ErrorType): 0 a failed command (500), 1 a bad
 * request (400). */
enum { WR_RPC_ERR_NORMAL = 0, WR_RPC_ERR_CLIENT = 1 };

/* Answers kubo's error object {"Message":..,"Code":code,"Type":"error"}
 * with status 500 (code 0) or 400 (code 1); after a head was sent, cuts the
 * stream instead (kubo's X-Stream-Error). */
void wr_rpc_fail(wr_rpc_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends a 200 head with content_type and, when stream is 1, kubo's
 * X-Stream-Output (bytes) or, when 2, X-Chunked-Output (JSON values). 0 or
 * WR_ERR_CLOSED. */
WR_MUST_CHECK int wr_rpc_ok(wr_rpc_call *c, const char *content_type, int stream);
/* Sends a 200 JSON answer: the text in b plus a newline. */
void wr_rpc_json(wr_rpc_call *c, wr_buf *b);
/* Writes bytes of the body. 0 or WR_ERR_CLOSED (sticky). */
int wr_rpc_write(wr_rpc_call *c, const void *p, size_t n);

/* The arguments named "arg", in order: *pn of them into out (at most max). */
size_t wr_rpc_args(const wr_rpc_call *c, const char **out, size_t max);
/* A boolean option: "true"/"false" (also 1/0); absent: dflt. -1 when the
 * value is neither (the command has answered 400). */
int wr_rpc_bool(wr_rpc_call *c, const char *name, int dflt);
/* An unsigned option; absent: dflt. -1 on a bad value (answered 400). */
int wr_rpc_uint(wr_rpc_call *c, const char *name, uint64_t dflt, uint64_t *pv);
/* The one required "arg" (answers 400 "argument \"what\" is required"). */
const char *wr_rpc_arg1(wr_rpc_call *c, const char *what);
/* Parses a CID argument ("CID" or "/ipfs/CID"); answers 500 on error. */
WR_MUST_CHECK int wr_rpc_cid(wr_rpc_call *c, const char *arg, wr_cid *pcid);
/* The CID as kubo prints it (v0 base58btc, v1 base32). */
void wr_rpc_cid_str(const wr_cid *cid, char *out);
/* A sentence for a store error on a block. */
const char *wr_rpc_store_why(int err);

/* --- the multipart body, pulled by the command ------------------------------ */
typedef struct wr_rpc_mp {
  wr_rpc_call *c;
  wr_mp_parser p;
  uint8_t *buf; /* 256 KiB */
  size_t start, end;
  int eof;
  const uint8_t *pend; /* data of the current part not yet read */
  size_t pend_len;
  int in_part; /* between PART and PART_END */
  int done;    /* the closing delimiter was seen */
  /* the current part */
  char path[4096]; /* percent-decoded filename ("" when none) */
  char ctype[128];
  char err[256];
} wr_rpc_mp;

/* Starts reading the request body as multipart/form-data (boundary from the
 * request's Content-Type). 0, or an error with m->err set. */
WR_MUST_CHECK int wr_rpc_mp_init(wr_rpc_mp *m, wr_rpc_call *c);
void wr_rpc_mp_free(wr_rpc_mp *m);
/* Moves to the next part (skipping what is left of the current one): 1 a
 * part (path, ctype set), 0 the body is complete, < 0 an error (m->err). */
int wr_rpc_mp_next(wr_rpc_mp *m);
/* Reads the current part's bytes: how many, 0 at its end, < 0 an error. */
ssize_t wr_rpc_mp_read(void *m, uint8_t *buf, size_t n);

#endif
