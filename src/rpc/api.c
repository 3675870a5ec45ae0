/* api.c: kubo's RPC API handler: origin checks, routing, the commands'
 * shared helpers, and the multipart reader (see api.h, call.h). */
#include "rpc/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "proto/text/json.h"
#include "rpc/call.h"

struct wr_rpc_api {
  wr_http_handler handler; /* first: the server calls it */
  uv_loop_t *loop;
  wr_rpc_config cfg;
  pthread_rwlock_t gc_lock;
  size_t running;
  char origins[6][80]; /* the loopback defaults for cfg.api_port */
};

static const wr_rpc_cmd commands[] = {
    {"version", wr_rpc_cmd_version, 0},
    {"id", wr_rpc_cmd_id, 0},
    {"add", wr_rpc_cmd_add, 1},
    {"cat", wr_rpc_cmd_cat, 0},
    {"get", wr_rpc_cmd_get, 0},
    {"ls", wr_rpc_cmd_ls, 0},
    {"pin/add", wr_rpc_cmd_pin_add, 0},
    {"pin/rm", wr_rpc_cmd_pin_rm, 0},
    {"pin/ls", wr_rpc_cmd_pin_ls, 0},
    {"block/get", wr_rpc_cmd_block_get, 0},
    {"block/put", wr_rpc_cmd_block_put, 1},
    {"block/stat", wr_rpc_cmd_block_stat, 0},
    {"dag/export", wr_rpc_cmd_dag_export, 0},
    {"dag/import", wr_rpc_cmd_dag_import, 1},
    {"repo/gc", wr_rpc_cmd_repo_gc, 0},
    {"swarm/peers", wr_rpc_cmd_swarm_peers, 0},
    {"swarm/connect", wr_rpc_cmd_swarm_connect, 0},
    {"swarm/disconnect", wr_rpc_cmd_swarm_disconnect, 0},
    {"swarm/addrs/listen", wr_rpc_cmd_swarm_addrs_listen, 0},
    {"ping", wr_rpc_cmd_ping, 0},
    {"routing/provide", wr_rpc_cmd_routing_provide, 0},
    {"routing/findprovs", wr_rpc_cmd_routing_findprovs, 0},
    {"routing/findpeer", wr_rpc_cmd_routing_findpeer, 0},
    {"routing/get", wr_rpc_cmd_routing_get, 0},
    {"routing/put", wr_rpc_cmd_routing_put, 1},
    {"key/gen", wr_rpc_cmd_key_gen, 0},
    {"key/list", wr_rpc_cmd_key_list, 0},
    {"key/rm", wr_rpc_cmd_key_rm, 0},
    {"name/publish", wr_rpc_cmd_name_publish, 0},
    {"name/resolve", wr_rpc_cmd_name_resolve, 0},
};

/* --- answers made on the loop (before any command runs) -------------------- */

static void answer_text(wr_http_req *q, int status, const char *text) {
  wr_h1_header h = {{"Content-Type", 12}, {"text/plain; charset=utf-8", 25}};
  size_t n = strlen(text);
  if (q->ops->head(q, status, &h, 1, WR_HTTP_RESP_BODY | WR_HTTP_RESP_CLOSE) == 0)
    (void)q->ops->body(q, (const uint8_t *)text, n);
  q->ops->end(q);
}

static void answer_error(wr_http_req *q, int status, int code, const char *msg) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_buf_puts(&b, "{\"Message\":");
  if (!rv)
    rv = wr_json_put_string(&b, msg, strlen(msg));
  if (!rv)
    rv = wr_buf_printf(&b, ",\"Code\":%d,\"Type\":\"error\"}\n", code);
  wr_h1_header h = {{"Content-Type", 12}, {"application/json", 16}};
  if (!rv && q->ops->head(q, status, &h, 1, WR_HTTP_RESP_BODY | WR_HTTP_RESP_CLOSE) == 0)
    (void)q->ops->body(q, b.data, b.len);
  wr_buf_free(&b);
  q->ops->end(q);
}

/* kubo: a request from a browser page (Origin, else Referer) must come from
 * an allowed origin. */
static int origin_allowed(const wr_rpc_api *api, const char *o, size_t n) {
  if (api->cfg.allowed_origins) {
    for (size_t i = 0; i < api->cfg.nallowed; i++) {
      const char *a = api->cfg.allowed_origins[i];
      if (strcmp(a, "*") == 0 || (strlen(a) == n && memcmp(a, o, n) == 0))
        return 1;
    }
    return 0;
  }
  for (size_t i = 0; i < 6; i++)
    if (strlen(api->origins[i]) == n && memcmp(api->origins[i], o, n) == 0)
      return 1;
  return 0;
}

static int browser_allowed(const wr_rpc_api *api, const wr_h1_head *h) {
  const wr_h1_header *o = wr_h1_find(h->headers, h->nheaders, "Origin");
  if (o && !origin_allowed(api, o->value.p, o->value.len))
    return 0;
  const wr_h1_header *r = wr_h1_find(h->headers, h->nheaders, "Referer");
  if (r) {
    /* The referer's scheme://host[:port] stands for its origin. */
    const char *p = r->value.p, *end = p + r->value.len;
    const char *sep = NULL;
    for (const char *s = p; s + 2 < end; s++)
      if (s[0] == ':' && s[1] == '/' && s[2] == '/') {
        sep = s + 3;
        break;
      }
    if (!sep)
      return 0;
    const char *e = sep;
    while (e < end && *e != '/' && *e != '?' && *e != '#')
      e++;
    if (!origin_allowed(api, p, (size_t)(e - p)))
      return 0;
  }
  return 1;
}

static void call_done(void *owner, wr_rpc_job *j) {
  (void)j;
  wr_rpc_api *api = owner;
  api->running--;
}

static void run_call(wr_rpc_job *j, void *arg) {
  wr_rpc_call *c = arg;
  c->job = j;
  c->cmd->run(c);
  wr_free(c);
}

/* kubo's /debug/metrics/prometheus: the registry in the text format (it
 * lives on the loop, where this runs). */
static void answer_metrics(wr_rpc_api *api, wr_http_req *q) {
  if (q->head->method_id != WR_H1_M_GET) {
    answer_text(q, 405, "405 - Method Not Allowed");
    return;
  }
  wr_buf b;
  wr_buf_init(&b, 16u << 20);
  if (wr_metrics_render(api->cfg.metrics, &b) != 0) {
    wr_buf_free(&b);
    answer_text(q, 500, "500 - metrics too large");
    return;
  }
  wr_h1_header h = {{"Content-Type", 12}, {"text/plain; version=0.0.4; charset=utf-8", 40}};
  if (q->ops->head(q, 200, &h, 1, WR_HTTP_RESP_BODY | WR_HTTP_RESP_CLOSE) == 0)
    (void)q->ops->body(q, b.data, b.len);
  wr_buf_free(&b);
  q->ops->end(q);
}

static void on_request(wr_http_handler *h, wr_http_req *q) {
  wr_rpc_api *api = (wr_rpc_api *)h;
  const wr_h1_head *hd = q->head;
  if (!browser_allowed(api, hd)) {
    wr_log(WR_LOG_WARN, "API blocked a cross-origin request", "client=%s", q->client_ip);
    answer_text(q, 403, "403 - Forbidden");
    return;
  }
  size_t plen, qlen;
  const char *query;
  wr_query_split_target(hd->target.p, hd->target.len, &plen, &query, &qlen);
  static const char metrics_path[] = "/debug/metrics/prometheus";
  if (plen == sizeof metrics_path - 1 && memcmp(hd->target.p, metrics_path, plen) == 0 &&
      api->cfg.metrics) {
    answer_metrics(api, q);
    return;
  }
  static const char prefix[] = "/api/v0/";
  const wr_rpc_cmd *cmd = NULL;
  if (plen > sizeof prefix - 1 && memcmp(hd->target.p, prefix, sizeof prefix - 1) == 0) {
    const char *name = hd->target.p + sizeof prefix - 1;
    size_t nlen = plen - (sizeof prefix - 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
      if (strlen(commands[i].name) == nlen && memcmp(commands[i].name, name, nlen) == 0)
        cmd = &commands[i];
  }
  if (!cmd) {
    answer_text(q, 404, "404 page not found");
    return;
  }
  if (hd->method_id != WR_H1_M_POST) {
    answer_text(q, 405, "405 - Method Not Allowed");
    return;
  }
  if (api->running >= WR_RPC_MAX_RUNNING) {
    /* Each command holds a thread and two 1 MiB buffers: bounded. */
    wr_log(WR_LOG_WARN, "API refused a command: too many running", "command=%s running=%zu",
           cmd->name, api->running);
    answer_error(q, 503, WR_RPC_ERR_NORMAL, "too many commands are running; try again");
    return;
  }
  wr_rpc_call *c = wr_calloc(1, sizeof *c);
  if (!c) {
    answer_error(q, 500, WR_RPC_ERR_NORMAL, "out of memory");
    return;
  }
  const char *why = NULL;
  if (wr_query_parse(&c->q, query, qlen, &why) != 0) {
    wr_free(c);
    answer_error(q, 400, WR_RPC_ERR_CLIENT, why);
    return;
  }
  const wr_h1_header *ct = wr_h1_find(hd->headers, hd->nheaders, "Content-Type");
  if (ct && ct->value.len < sizeof c->content_type) {
    memcpy(c->content_type, ct->value.p, ct->value.len);
    c->content_type[ct->value.len] = '\0';
  }
  c->cmd = cmd;
  c->repo = api->cfg.repo;
  c->host = api->cfg.host;
  c->loopcall = api->cfg.loopcall;
  c->dht = api->cfg.dht;
  c->gc_lock = &api->gc_lock;
  c->version = api->cfg.version;
  c->fetcher = api->cfg.fetcher;
  if (api->cfg.identity)
    api->cfg.identity(api->cfg.identity_arg, &c->id);
  if (cmd->body)
    q->ops->go_ahead(q);
  int rv = wr_rpc_job_start(api->loop, q, run_call, c, call_done, api);
  if (rv) {
    wr_free(c);
    answer_error(q, 500, WR_RPC_ERR_NORMAL, "cannot start the command: no thread");
    return;
  }
  api->running++;
  wr_log(WR_LOG_DEBUG, "API request", "command=%s client=%s", cmd->name, q->client_ip);
}

static const wr_http_handler_ops handler_ops = {.on_request = on_request};

int wr_rpc_api_new(uv_loop_t *loop, const wr_rpc_config *cfg, wr_rpc_api **papi) {
  wr_rpc_api *api = wr_calloc(1, sizeof *api);
  if (!api)
    return WR_ERR_NOMEM;
  api->handler.ops = &handler_ops;
  api->loop = loop;
  api->cfg = *cfg;
  pthread_rwlock_init(&api->gc_lock, NULL);
  wr_rpc_api_set_port(api, cfg->api_port);
  *papi = api;
  return 0;
}

void wr_rpc_api_set_port(wr_rpc_api *api, uint16_t port) {
  static const char *const forms[] = {"http://127.0.0.1", "https://127.0.0.1", "http://[::1]",
                                      "https://[::1]",    "http://localhost",  "https://localhost"};
  for (size_t i = 0; i < 6; i++)
    snprintf(api->origins[i], sizeof api->origins[i], "%s:%u", forms[i], port);
}

wr_http_handler *wr_rpc_api_handler(wr_rpc_api *api) { return &api->handler; }

size_t wr_rpc_api_running(const wr_rpc_api *api) { return api->running; }

void wr_rpc_api_free(wr_rpc_api *api) {
  if (!api)
    return;
  pthread_rwlock_destroy(&api->gc_lock);
  wr_free(api);
}

/* --- helpers for the commands (on the job's thread) -------------------------- */

void wr_rpc_fail(wr_rpc_call *c, int code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (wr_rpc_job_head_sent(c->job)) {
    wr_log(WR_LOG_WARN, "API command failed mid-stream", "command=%s error=\"%s\"", c->cmd->name,
           msg);
    wr_rpc_job_cut(c->job);
    return;
  }
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_buf_puts(&b, "{\"Message\":");
  if (!rv && wr_json_put_string(&b, msg, strlen(msg)) != 0)
    rv = wr_json_put_string(&b, "(a message that is not UTF-8)", 29);
  if (!rv)
    rv = wr_buf_printf(&b, ",\"Code\":%d,\"Type\":\"error\"}\n", code);
  wr_h1_header h = {{"Content-Type", 12}, {"application/json", 16}};
  if (!rv && wr_rpc_job_head(c->job, code == WR_RPC_ERR_CLIENT ? 400 : 500, &h, 1) == 0)
    (void)wr_rpc_job_write(c->job, b.data, b.len);
  wr_buf_free(&b);
}

int wr_rpc_ok(wr_rpc_call *c, const char *content_type, int stream) {
  wr_h1_header h[3];
  size_t n = 0;
  h[n++] = (wr_h1_header){{"Content-Type", 12}, {content_type, strlen(content_type)}};
  if (stream == 1)
    h[n++] = (wr_h1_header){{"X-Stream-Output", 15}, {"1", 1}};
  else if (stream == 2)
    h[n++] = (wr_h1_header){{"X-Chunked-Output", 16}, {"1", 1}};
  h[n++] = (wr_h1_header){{"Vary", 4}, {"Origin", 6}};
  return wr_rpc_job_head(c->job, 200, h, n);
}

void wr_rpc_json(wr_rpc_call *c, wr_buf *b) {
  if (wr_rpc_ok(c, "application/json", 0) == 0 && wr_buf_append(b, "\n", 1) == 0)
    (void)wr_rpc_job_write(c->job, b->data, b->len);
}

int wr_rpc_write(wr_rpc_call *c, const void *p, size_t n) { return wr_rpc_job_write(c->job, p, n); }

size_t wr_rpc_args(const wr_rpc_call *c, const char **out, size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < c->q.n && k < max; i++)
    if (strcmp(c->q.key[i], "arg") == 0)
      out[k++] = c->q.val[i];
  return k;
}

const char *wr_rpc_arg1(wr_rpc_call *c, const char *what) {
  const char *a[1];
  if (wr_rpc_args(c, a, 1) == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"%s\" is required", what);
    return NULL;
  }
  return a[0];
}

int wr_rpc_bool(wr_rpc_call *c, const char *name, int dflt) {
  const char *v = wr_query_get(&c->q, name);
  if (!v)
    return dflt;
  if (!*v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
    return 1;
  if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
    return 0;
  wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "option \"%s\": \"%s\" is not a boolean", name, v);
  return -1;
}

int wr_rpc_uint(wr_rpc_call *c, const char *name, uint64_t dflt, uint64_t *pv) {
  const char *v = wr_query_get(&c->q, name);
  *pv = dflt;
  if (!v)
    return 0;
  uint64_t x = 0;
  const char *s = v;
  if (!*s)
    goto bad;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
      goto bad;
    x = x * 10 + (uint64_t)(*s - '0');
  }
  *pv = x;
  return 0;
bad:
  wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "option \"%s\": \"%s\" is not a number", name, v);
  return -1;
}

int wr_rpc_cid(wr_rpc_call *c, const char *arg, wr_cid *pcid) {
  const char *s = arg, *why = NULL;
  if (strncmp(s, "/ipfs/", 6) == 0)
    s += 6;
  int rv = wr_cid_parse_str(s, pcid, &why);
  if (rv)
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "invalid CID \"%s\": %s", arg, why ? why : wr_strerror(rv));
  return rv;
}

void wr_rpc_cid_str(const wr_cid *cid, char *out) {
  if (wr_cid_format(cid, 0, out, WR_CID_MAX_STR) < 0)
    snprintf(out, WR_CID_MAX_STR, "(unprintable CID)");
}

const char *wr_rpc_store_why(int err) {
  switch (err) {
  case WR_ERR_NOTFOUND:
    return "block not found locally";
  case WR_ERR_CORRUPT:
    return "the stored block is corrupted (its bytes do not match its hash)";
  case WR_ERR_UNSUPPORTED:
    return "its hash function or codec is not supported";
  case WR_ERR_MALFORMED:
    return "the block is malformed";
  default:
    return wr_strerror(err);
  }
}

/* --- multipart -------------------------------------------------------------- */

#define MP_BUF (256u * 1024u)

int wr_rpc_mp_init(wr_rpc_mp *m, wr_rpc_call *c) {
  memset(m, 0, sizeof *m);
  m->c = c;
  wr_mp_slice b;
  const char *why = NULL;
  int rv = wr_mp_boundary(c->content_type, strlen(c->content_type), &b, &why);
  if (!rv)
    rv = wr_mp_init(&m->p, b.p, b.len);
  if (rv) {
    snprintf(m->err, sizeof m->err, "%s", why ? why : "bad multipart boundary");
    return rv;
  }
  m->buf = wr_malloc(MP_BUF);
  if (!m->buf) {
    snprintf(m->err, sizeof m->err, "out of memory");
    return WR_ERR_NOMEM;
  }
  return 0;
}

void wr_rpc_mp_free(wr_rpc_mp *m) {
  wr_free(m->buf);
  m->buf = NULL;
}

/* Reads more body bytes behind the unconsumed ones. */
static int refill(wr_rpc_mp *m) {
  if (m->eof) {
    int rv = wr_mp_finish(&m->p);
    snprintf(m->err, sizeof m->err, "%s", wr_mp_reason(&m->p));
    return rv ? rv : WR_ERR_TRUNCATED;
  }
  if (m->start > 0) {
    memmove(m->buf, m->buf + m->start, m->end - m->start);
    m->end -= m->start;
    m->start = 0;
  }
  ssize_t r = wr_rpc_job_read(m->c->job, m->buf + m->end, MP_BUF - m->end);
  if (r < 0) {
    snprintf(m->err, sizeof m->err, "the request body was cut off");
    return (int)r;
  }
  if (r == 0)
    m->eof = 1;
  m->end += (size_t)r;
  return 0;
}

/* One parser event; refills as needed. Never called while pend holds data. */
static int step(wr_rpc_mp *m, wr_mp_event *ev) {
  for (;;) {
    size_t used = 0;
    int e = wr_mp_parse(&m->p, m->buf + m->start, m->end - m->start, &used, ev);
    if (e < 0) {
      snprintf(m->err, sizeof m->err, "bad multipart body: %s", wr_mp_reason(&m->p));
      return e;
    }
    m->start += used;
    if (e != WR_MP_EV_NEED_MORE)
      return e;
    if (used == 0) {
      int rv = refill(m);
      if (rv)
        return rv;
    }
  }
}

static int take_event(wr_rpc_mp *m, int e, const wr_mp_event *ev) {
  if (e == WR_MP_EV_PART) {
    m->in_part = 1;
    m->path[0] = '\0';
    if (ev->part.filename.len) {
      long n =
          wr_percent_decode(ev->part.filename.p, ev->part.filename.len, m->path, sizeof m->path);
      if (n < 0) {
        snprintf(m->err, sizeof m->err, "a part's file name is not a valid percent-encoding");
        return WR_ERR_MALFORMED;
      }
    }
    size_t cl = ev->part.content_type.len < sizeof m->ctype - 1 ? ev->part.content_type.len
                                                                : sizeof m->ctype - 1;
    if (cl) /* an absent Content-Type has no bytes to copy (and a NULL pointer) */
      memcpy(m->ctype, ev->part.content_type.p, cl);
    m->ctype[cl] = '\0';
  } else if (e == WR_MP_EV_DATA) {
    m->pend = ev->data;
    m->pend_len = ev->len;
  } else if (e == WR_MP_EV_PART_END) {
    m->in_part = 0;
  } else if (e == WR_MP_EV_DONE) {
    m->done = 1;
  }
  return 0;
}

int wr_rpc_mp_next(wr_rpc_mp *m) {
  m->pend_len = 0;
  for (;;) {
    if (m->done)
      return 0;
    wr_mp_event ev;
    int e = step(m, &ev);
    if (e < 0)
      return e;
    int rv = take_event(m, e, &ev);
    if (rv)
      return rv;
    m->pend_len = 0;
    if (e == WR_MP_EV_PART)
      return 1;
  }
}

ssize_t wr_rpc_mp_read(void *arg, uint8_t *buf, size_t n) {
  wr_rpc_mp *m = arg;
  while (m->pend_len == 0) {
    if (!m->in_part)
      return 0;
    wr_mp_event ev;
    int e = step(m, &ev);
    if (e < 0)
      return e;
    int rv = take_event(m, e, &ev);
    if (rv)
      return rv;
  }
  size_t k = n < m->pend_len ? n : m->pend_len;
  memcpy(buf, m->pend, k);
  m->pend += k;
  m->pend_len -= k;
  return (ssize_t)k;
}
