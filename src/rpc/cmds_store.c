/* cmds_store.c: pins, blocks, CAR in and out, and GC — kubo's `pin`,
 * `block`, `dag export|import` and `repo gc` over content/ and store/. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "base/mem.h"
#include "content/block.h"
#include "content/dagio.h"
#include "content/pinning.h"
#include "proto/text/json.h"
#include "rpc/call.h"
#include "store/gc.h"

#define MAX_ARGS 64

/* --- pins ------------------------------------------------------------------ */

static void pin_change(wr_rpc_call *c, int add) {
  const char *args[MAX_ARGS];
  size_t n = wr_rpc_args(c, args, MAX_ARGS);
  if (n == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"ipfs-path\" is required");
    return;
  }
  int recursive = wr_rpc_bool(c, "recursive", 1);
  if (recursive < 0)
    return;
  wr_cid cids[MAX_ARGS];
  for (size_t i = 0; i < n; i++)
    if (wr_rpc_cid(c, args[i], &cids[i]) != 0)
      return;
  /* What the node lacks comes from the network first (the pin then walks
   * the local store in its write transaction). */
  for (size_t i = 0; i < n && add && recursive; i++)
    if (wr_rpc_fetch_dag(c, &cids[i]) != 0)
      return;
  wr_buf b;
  wr_buf_init(&b, 64 * 1024);
  int rv = wr_buf_puts(&b, "{\"Pins\":[");
  if (add)
    pthread_rwlock_rdlock(c->gc_lock);
  for (size_t i = 0; i < n && !rv; i++) {
    char s[WR_CID_MAX_STR], blk[WR_CID_MAX_STR];
    wr_rpc_cid_str(&cids[i], s);
    int rc;
    if (add) {
      wr_pinning_fault f;
      rc = wr_pinning_add(c->repo->bs, &cids[i], recursive ? WR_PIN_RECURSIVE : WR_PIN_DIRECT, &f);
      if (rc == WR_ERR_EXISTS && !recursive)
        rc = 0; /* kubo: a direct pin under a recursive one is a no-op */
      if (rc) {
        if (f.walk) {
          wr_rpc_cid_str(&f.block, blk);
          wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "pin: %s: block %s: %s", s, blk, wr_rpc_store_why(rc));
        } else {
          wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "pin: %s: %s", s, wr_strerror(rc));
        }
        rv = rc;
        break;
      }
    } else {
      rc = wr_pinning_rm(c->repo->bs, &cids[i]);
      if (rc == WR_ERR_NOTFOUND) {
        wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s is not pinned", s);
        rv = rc;
        break;
      }
      if (rc) {
        wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot unpin %s: %s", s, wr_strerror(rc));
        rv = rc;
        break;
      }
    }
    rv = wr_buf_printf(&b, "%s\"%s\"", i ? "," : "", s);
  }
  if (add)
    pthread_rwlock_unlock(c->gc_lock);
  if (add && !rv)
    wr_rpc_provide_bg(c, cids, n);
  if (!rv && (rv = wr_buf_puts(&b, "]}")) == 0)
    wr_rpc_json(c, &b);
  wr_buf_free(&b);
}

void wr_rpc_cmd_pin_add(wr_rpc_call *c) { pin_change(c, 1); }
void wr_rpc_cmd_pin_rm(wr_rpc_call *c) { pin_change(c, 0); }

typedef struct pin_ls_run {
  wr_rpc_call *c;
  int stream, quiet;
  wr_buf *b;
  int first;
  int err;
} pin_ls_run;

static const char *kind_name(int kind) {
  return kind == WR_PIN_DIRECT ? "direct" : kind == WR_PIN_RECURSIVE ? "recursive" : "indirect";
}

/* One pin: a line of its own when streaming, else a member of "Keys". */
static int pin_out(pin_ls_run *r, const wr_cid *cid, const char *type) {
  char s[WR_CID_MAX_STR];
  wr_rpc_cid_str(cid, s);
  int rv;
  if (r->stream) {
    r->b->len = 0;
    rv = wr_buf_printf(r->b, "{\"Cid\":\"%s\",\"Type\":", s);
    if (!rv)
      rv = wr_json_put_string(r->b, type, strlen(type));
    if (!rv)
      rv = wr_buf_puts(r->b, ",\"Name\":\"\"}\n");
    if (!rv)
      rv = wr_rpc_write(r->c, r->b->data, r->b->len);
  } else {
    rv = wr_buf_printf(r->b, "%s\"%s\":{\"Type\":", r->first ? "" : ",", s);
    if (!rv)
      rv = wr_json_put_string(r->b, type, strlen(type));
    if (!rv)
      rv = wr_buf_puts(r->b, ",\"Name\":\"\"}");
  }
  r->first = 0;
  if (rv)
    r->err = rv;
  return rv;
}

static int pin_each(void *arg, const wr_cid *cid, int kind) {
  return pin_out(arg, cid, kind_name(kind));
}

void wr_rpc_cmd_pin_ls(wr_rpc_call *c) {
  const char *args[MAX_ARGS];
  size_t n = wr_rpc_args(c, args, MAX_ARGS);
  const char *type = wr_query_get(&c->q, "type");
  unsigned show = WR_PINNING_SHOW_ALL;
  if (type && strcmp(type, "all") != 0) {
    if (strcmp(type, "direct") == 0)
      show = WR_PINNING_SHOW_DIRECT;
    else if (strcmp(type, "recursive") == 0)
      show = WR_PINNING_SHOW_RECURSIVE;
    else if (strcmp(type, "indirect") == 0)
      show = WR_PINNING_SHOW_INDIRECT;
    else {
      wr_rpc_fail(c, WR_RPC_ERR_CLIENT,
                  "invalid type '%s', must be one of {direct, indirect, recursive, all}", type);
      return;
    }
  }
  int stream = wr_rpc_bool(c, "stream", 0);
  int quiet = wr_rpc_bool(c, "quiet", 0);
  if (stream < 0 || quiet < 0)
    return;
  wr_cid cids[MAX_ARGS];
  for (size_t i = 0; i < n; i++)
    if (wr_rpc_cid(c, args[i], &cids[i]) != 0)
      return;
  wr_buf b;
  wr_buf_init(&b, stream ? 64 * 1024 : 256u * 1024 * 1024);
  pin_ls_run r = {.c = c, .stream = stream, .quiet = quiet, .b = &b, .first = 1};
  int rv = 0;
  /* With arguments: how each one is pinned (all must be), answered only
   * once every one is known, as kubo. */
  int kinds[MAX_ARGS];
  wr_cid roots[MAX_ARGS];
  for (size_t i = 0; i < n; i++) {
    wr_pinning_fault f;
    rv = wr_pinning_find(c->repo->bs, &cids[i], &kinds[i], &roots[i], &f);
    if (rv) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot check the pins of %s: %s", args[i],
                  wr_strerror(rv));
      goto out;
    }
    int k = kinds[i];
    int wanted = (k == WR_PIN_DIRECT && (show & WR_PINNING_SHOW_DIRECT)) ||
                 (k == WR_PIN_RECURSIVE && (show & WR_PINNING_SHOW_RECURSIVE)) ||
                 (k == WR_PINNING_INDIRECT && (show & WR_PINNING_SHOW_INDIRECT));
    if (!wanted) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "path '%s' is not pinned", args[i]);
      goto out;
    }
  }
  if (stream && (rv = wr_rpc_ok(c, "application/json", 2)) != 0)
    goto out;
  if (!stream && (rv = wr_buf_puts(&b, "{\"Keys\":{")) != 0)
    goto out;
  if (n) {
    for (size_t i = 0; i < n && !rv; i++) {
      char t[32 + WR_CID_MAX_STR];
      if (kinds[i] == WR_PINNING_INDIRECT) {
        char s[WR_CID_MAX_STR];
        wr_rpc_cid_str(&roots[i], s);
        snprintf(t, sizeof t, "indirect through %s", s);
      } else {
        snprintf(t, sizeof t, "%s", kind_name(kinds[i]));
      }
      rv = pin_out(&r, &cids[i], t);
    }
  } else {
    wr_pinning_fault f;
    rv = wr_pinning_list(c->repo->bs, show, pin_each, &r, &f);
    if (rv && !r.err) {
      char s[WR_CID_MAX_STR];
      wr_rpc_cid_str(f.walk ? &f.block : &f.root, s);
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot list the pins: %s%s%s", wr_strerror(rv),
                  f.walk ? " at block " : "", f.walk ? s : "");
      goto out;
    }
  }
  if (rv) {
    if (rv != WR_ERR_CLOSED)
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot list the pins: %s", wr_strerror(rv));
    goto out;
  }
  if (!stream && wr_buf_puts(&b, "}}") == 0)
    wr_rpc_json(c, &b);
out:
  wr_buf_free(&b);
}

/* --- blocks ----------------------------------------------------------------- */

void wr_rpc_cmd_block_get(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "cid");
  wr_cid cid;
  if (!arg || wr_rpc_cid(c, arg, &cid) != 0)
    return;
  wr_bs_txn *t = NULL;
  int rv = wr_bs_txn_begin(c->repo->bs, WR_BS_READ, &t);
  const uint8_t *data = NULL;
  size_t len = 0;
  if (!rv)
    rv = wr_bs_txn_get_cid(t, &cid, &data, &len);
  if (rv)
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s: %s", arg, wr_rpc_store_why(rv));
  else if (wr_rpc_ok(c, "text/plain", 1) == 0)
    (void)wr_rpc_write(c, data, len);
  wr_bs_txn_abort(t);
}

void wr_rpc_cmd_block_stat(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "cid");
  wr_cid cid;
  if (!arg || wr_rpc_cid(c, arg, &cid) != 0)
    return;
  wr_bs_txn *t = NULL;
  size_t len = 0;
  int rv = wr_bs_txn_begin(c->repo->bs, WR_BS_READ, &t);
  const uint8_t *data = NULL;
  if (!rv) /* read, so the hash is checked, as the CLI's block stat */
    rv = wr_bs_txn_get_cid(t, &cid, &data, &len);
  wr_bs_txn_abort(t);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s: %s", arg, wr_rpc_store_why(rv));
    return;
  }
  char s[WR_CID_MAX_STR];
  wr_rpc_cid_str(&cid, s);
  wr_buf b;
  wr_buf_init(&b, 1024);
  if (wr_buf_printf(&b, "{\"Key\":\"%s\",\"Size\":%zu}", s, len) == 0)
    wr_rpc_json(c, &b);
  wr_buf_free(&b);
}

void wr_rpc_cmd_block_put(wr_rpc_call *c) {
  const char *codec_s = wr_query_get(&c->q, "cid-codec");
  const char *format = wr_query_get(&c->q, "format");
  const char *mh = wr_query_get(&c->q, "mhtype");
  uint64_t codec = WR_CODEC_RAW;
  int v0 = 0;
  if (codec_s && *codec_s) {
    if (strcmp(codec_s, "dag-pb") == 0)
      codec = WR_CODEC_DAG_PB;
    else if (strcmp(codec_s, "raw") != 0) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cid-codec \"%s\" is not supported: raw or dag-pb",
                  codec_s);
      return;
    }
  } else if (format && *format) {
    /* kubo's older option: v0 and protobuf mean dag-pb (v0: a CIDv0). */
    if (strcmp(format, "v0") == 0 || strcmp(format, "protobuf") == 0) {
      codec = WR_CODEC_DAG_PB;
      v0 = strcmp(format, "v0") == 0;
    } else if (strcmp(format, "raw") != 0) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "format \"%s\" is not supported", format);
      return;
    }
  }
  if (mh && *mh && strcmp(mh, "sha2-256") != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "mhtype \"%s\" is not supported: only sha2-256", mh);
    return;
  }
  int pin = wr_rpc_bool(c, "pin", 0);
  if (pin < 0)
    return;
  wr_rpc_mp m;
  if (wr_rpc_mp_init(&m, c) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "%s", m.err);
    wr_rpc_mp_free(&m);
    return;
  }
  uint8_t *data = wr_malloc(WR_BS_MAX_BLOCK + 1);
  wr_buf line;
  wr_buf_init(&line, 1024);
  int any = 0;
  if (!data) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    goto out;
  }
  pthread_rwlock_rdlock(c->gc_lock);
  for (;;) {
    int k = wr_rpc_mp_next(&m);
    if (k < 0) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", m.err);
      break;
    }
    if (k == 0) {
      if (!any)
        wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"data\" is required");
      break;
    }
    size_t len = 0;
    ssize_t r;
    while (len <= WR_BS_MAX_BLOCK &&
           (r = wr_rpc_mp_read(&m, data + len, WR_BS_MAX_BLOCK + 1 - len)) > 0)
      len += (size_t)r;
    if (len > WR_BS_MAX_BLOCK) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "the block is larger than the %u-byte limit",
                  WR_BS_MAX_BLOCK);
      break;
    }
    wr_cid cid;
    const char *why = NULL;
    int rv = wr_block_check(codec, data, len, &cid, &why);
    if (!rv && v0)
      rv = wr_cid_to_v0(&cid, &cid);
    wr_pinning_fault f;
    if (!rv)
      rv = wr_block_put(c->repo->bs, &cid, data, len, pin, &f);
    if (rv) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot put the block: %s",
                  why ? why : wr_rpc_store_why(rv));
      break;
    }
    char s[WR_CID_MAX_STR];
    wr_rpc_cid_str(&cid, s);
    if (!any && wr_rpc_ok(c, "application/json", 2) != 0)
      break;
    any = 1;
    line.len = 0;
    if (wr_buf_printf(&line, "{\"Key\":\"%s\",\"Size\":%zu}\n", s, len) != 0 ||
        wr_rpc_write(c, line.data, line.len) != 0)
      break;
  }
  pthread_rwlock_unlock(c->gc_lock);
out:
  wr_buf_free(&line);
  wr_free(data);
  wr_rpc_mp_free(&m);
}

/* --- CAR ------------------------------------------------------------------------ */

typedef struct car_out {
  wr_rpc_call *c;
  int err;
} car_out;

static ssize_t car_write(void *cookie, const char *buf, size_t size) {
  car_out *o = cookie;
  if (!wr_rpc_job_head_sent(o->c->job) && wr_rpc_ok(o->c, "application/vnd.ipld.car", 1) != 0) {
    o->err = WR_ERR_CLOSED;
    return -1;
  }
  if (wr_rpc_write(o->c, buf, size) != 0) {
    o->err = WR_ERR_CLOSED;
    return -1;
  }
  return (ssize_t)size;
}

void wr_rpc_cmd_dag_export(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "root");
  wr_cid cid;
  if (!arg || wr_rpc_cid(c, arg, &cid) != 0)
    return;
  if (wr_rpc_fetch_dag(c, &cid) != 0)
    return;
  car_out o = {.c = c};
  cookie_io_functions_t io = {.write = car_write};
  FILE *f = fopencookie(&o, "w", io);
  if (!f) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    return;
  }
  wr_dagio_error err = {{0}};
  int rv = wr_dagio_export(c->repo->bs, &cid, f, &err);
  int cl = fclose(f);
  if (rv && !o.err)
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", err.msg[0] ? err.msg : wr_strerror(rv));
  else if (!rv && cl != 0 && !o.err)
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot write the CAR");
  else if (!rv && !wr_rpc_job_head_sent(c->job) && wr_rpc_ok(c, "application/vnd.ipld.car", 1) != 0)
    return; /* the user is gone */
}

void wr_rpc_cmd_dag_import(wr_rpc_call *c) {
  int pin = wr_rpc_bool(c, "pin-roots", 1);
  int stats = wr_rpc_bool(c, "stats", 0);
  if (pin < 0 || stats < 0)
    return;
  wr_rpc_mp m;
  if (wr_rpc_mp_init(&m, c) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "%s", m.err);
    wr_rpc_mp_free(&m);
    return;
  }
  wr_dagio_import_result *res = wr_malloc(sizeof *res);
  wr_buf line;
  wr_buf_init(&line, 64 * 1024);
  uint64_t blocks = 0, bytes = 0;
  int any = 0, failed = 0;
  if (!res) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    goto out;
  }
  pthread_rwlock_rdlock(c->gc_lock);
  for (;;) {
    int k = wr_rpc_mp_next(&m);
    if (k < 0) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", m.err);
      failed = 1;
      break;
    }
    if (k == 0)
      break;
    any = 1;
    wr_dagio_error err = {{0}};
    int rv = wr_dagio_import_read(c->repo->bs, wr_rpc_mp_read, &m, m.path[0] ? m.path : "CAR", pin,
                                  res, &err);
    if (rv) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", err.msg[0] ? err.msg : wr_strerror(rv));
      failed = 1;
      break;
    }
    blocks += res->blocks;
    bytes += res->bytes;
    if (!wr_rpc_job_head_sent(c->job) && wr_rpc_ok(c, "application/json", 2) != 0) {
      failed = 1;
      break;
    }
    for (size_t i = 0; i < res->nroots && pin; i++) {
      char s[WR_CID_MAX_STR];
      wr_rpc_cid_str(&res->roots[i], s);
      line.len = 0;
      const char *msg = res->pin_err[i] ? res->pin_msg[i] : "";
      if (wr_buf_printf(&line, "{\"Root\":{\"Cid\":{\"/\":\"%s\"},\"PinErrorMsg\":", s) ||
          wr_json_put_string(&line, msg, strlen(msg)) || wr_buf_puts(&line, "}}\n") ||
          wr_rpc_write(c, line.data, line.len)) {
        failed = 1;
        break;
      }
    }
    if (failed)
      break;
  }
  pthread_rwlock_unlock(c->gc_lock);
  if (!failed && !any)
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"path\" is required");
  else if (!failed) {
    if (!wr_rpc_job_head_sent(c->job) && wr_rpc_ok(c, "application/json", 2) != 0)
      goto out;
    if (stats) {
      line.len = 0;
      if (wr_buf_printf(&line, "{\"Stats\":{\"BlockCount\":%llu,\"BlockBytesCount\":%llu}}\n",
                        (unsigned long long)blocks, (unsigned long long)bytes) == 0)
        (void)wr_rpc_write(c, line.data, line.len);
    }
  }
out:
  wr_buf_free(&line);
  wr_free(res);
  wr_rpc_mp_free(&m);
}

/* --- GC --------------------------------------------------------------------------- */

typedef struct gc_out {
  wr_rpc_call *c;
  wr_buf line;
  int quiet;
} gc_out;

static void gc_removed(void *arg, const uint8_t *mh, size_t mhlen, size_t size) {
  (void)size;
  gc_out *o = arg;
  /* The store knows blocks by multihash only: kubo names them CIDv1 raw. */
  char s[WR_BS_KEYSTR_MAX];
  wr_bs_key_string(s, mh, mhlen);
  o->line.len = 0;
  if (wr_buf_printf(&o->line, "{\"Key\":{\"/\":\"%s\"}}\n", s) == 0)
    (void)wr_rpc_write(o->c, o->line.data, o->line.len);
}

void wr_rpc_cmd_repo_gc(wr_rpc_call *c) {
  int quiet = wr_rpc_bool(c, "quiet", 0);
  if (quiet < 0)
    return;
  /* No import of this daemon may be between its block commits and its pin,
   * and no other process may use the repo (the CLI's `gc` rule). */
  pthread_rwlock_wrlock(c->gc_lock);
  int fd = c->repo->lock_fd, rc;
  while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
    ;
  if (rc != 0) {
    while (flock(fd, LOCK_SH) != 0 && errno == EINTR)
      ;
    pthread_rwlock_unlock(c->gc_lock);
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL,
                "another warren process is using the repo; gc runs only when the daemon is "
                "its only user");
    return;
  }
  gc_out o = {.c = c, .quiet = quiet};
  wr_buf_init(&o.line, 1024);
  wr_gc_stats st;
  wr_gc_fault f;
  int rv = wr_rpc_ok(c, "application/json", 2);
  if (!rv)
    rv = wr_gc_run(c->repo->bs, gc_removed, &o, &st, &f);
  while (flock(fd, LOCK_SH) != 0 && errno == EINTR)
    ;
  pthread_rwlock_unlock(c->gc_lock);
  if (rv && rv != WR_ERR_CLOSED) {
    char r[WR_CID_MAX_STR], b[WR_CID_MAX_STR];
    wr_rpc_cid_str(&f.root, r);
    wr_rpc_cid_str(&f.block, b);
    /* kubo streams GC errors as {"Error":...} lines. */
    o.line.len = 0;
    if (wr_buf_printf(&o.line, "{\"Error\":\"cannot walk pin %s: block %s: %s\"}\n", r, b,
                      wr_rpc_store_why(rv)) == 0)
      (void)wr_rpc_write(c, o.line.data, o.line.len);
  }
  wr_buf_free(&o.line);
}
