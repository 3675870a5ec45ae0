/* h2_conn.c: HTTP/2 users (ALPN "h2" on the TLS listener), with nghttp2's
 * server session over the TLS stream (io/stream.h).
 *
 * Every HTTP/2 request stream is one exchange with the server's handler
 * (http/handler.h), shown in HTTP/1.1 terms (method, target, host = the
 * authority, headers); an extended CONNECT (RFC 8441) carries :protocol.
 *
 * Flow control, both ways, with bounded memory:
 * - user -> handler: nghttp2's automatic WINDOW_UPDATE is off; DATA bytes
 *   wait in the stream's pend buffer (at most one stream window) and are
 *   consumed (nghttp2_session_consume, the user's credit) only once the
 *   handler took them.
 * - handler -> user: body() appends to out; the data provider hands it to
 *   nghttp2 or answers NGHTTP2_ERR_DEFERRED, resumed when more arrive; past
 *   WR_HTTP_QUEUE_CAP waiting body() answers WR_ERR_AGAIN and the handler
 *   hears on_writable once nghttp2 took it below. nghttp2 is asked for frames
 *   only while the TLS queue takes them.
 *
 * Lifetimes: an h2stream lives until nghttp2 closes its stream (or the
 * connection dies); the handler holds its q until end/abort/on_abort. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/fields.h"
#include "http/page.h"
#include "http/server_internal.h"

#define H2_MAX_STREAMS 100u
#define H2_STREAM_WINDOW (256u * 1024u)
#define H2_CONN_WINDOW (8u * 1024u * 1024u)
#define H2_MAX_HEADER_LIST (64u * 1024u)
#define H2_MAX_HEADERS 100u
#define H2_OUT_LIMIT (16u * 1024u * 1024u)

typedef struct h2stream h2stream;

struct h2conn {
  wr_http_server *srv;
  wr_stream *st;         /* borrowed from the h1conn that carries the session */
  wr_http_transport *io; /* the carrier's: its end-of-turn flush is ours */
  nghttp2_session *ss;
  char ip[64];
  h2stream *reqs;
  size_t nreqs;
  wr_buf pend_out; /* frame bytes the TLS queue did not take yet */
  int sending;     /* inside flush: no re-entry */
  int receiving;   /* inside nghttp2_session_mem_recv: flush after it */
  int dead;        /* a fatal error: the connection is closing */
  int draining;
  uint64_t idle_since_ns;
};

struct h2stream {
  wr_http_req q; /* the handler's view; q.sink while it holds q */
  h2conn *h;
  h2stream *prev, *next;
  int32_t id;
  /* request head, as received */
  wr_buf hb;                     /* name and value bytes */
  size_t off[H2_MAX_HEADERS][4]; /* name off/len, value off/len */
  size_t nhdr, hbytes;
  size_t meth[2], path[2], auth[2], host[2], proto[2];
  int has_meth, has_path, has_auth, has_host, has_proto, has_cl, too_big;
  int is_head, websocket;
  wr_buf pend; /* request body bytes the handler has not taken */
  int req_fin, body_ended;
  /* response */
  int resp_head, body_fin, no_body, want_writable;
  int has_len;        /* the response head gave a Content-Length */
  uint64_t remaining; /* its bytes not written yet */
  wr_buf out;         /* response body bytes nghttp2 has not taken */
};

static void h2_flush(h2conn *h);

static h2stream *stream_of(const wr_http_req *q) {
  return (h2stream *)(void *)((char *)(void *)(uintptr_t)q - offsetof(h2stream, q));
}

static void slice_of(const h2stream *r, const size_t *o, wr_h1_slice *sl) {
  sl->p = (const char *)r->hb.data + o[0];
  sl->len = o[1];
}

static void s_free(h2stream *r) {
  wr_buf_free(&r->hb);
  wr_buf_free(&r->pend);
  wr_buf_free(&r->out);
  wr_free(r);
}

static void s_unlink(h2stream *r) {
  h2conn *h = r->h;
  if (r->prev)
    r->prev->next = r->next;
  else
    h->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  h->nreqs--;
  if (!h->nreqs)
    h->idle_since_ns = wr_now_ns();
}

/* The HTTP/2 stream is gone: the handler hears it if it still holds q. */
static void s_gone(h2stream *r, int why, uint64_t code) {
  s_unlink(r);
  wr_http_sink *s = r->q.sink;
  r->q.sink = NULL;
  if (s)
    s->ops->on_abort(s, why, code);
  s_free(r);
}

/* Frames go out at the end of the loop turn (after nghttp2's callbacks when
 * inside them): never from within a writer call, where sending could close
 * and free the stream under its caller. */
static void flush_soon(h2conn *h) {
  if (!h->receiving)
    wr_http_transport_schedule(h->io);
}

static void rst(h2stream *r) {
  (void)nghttp2_submit_rst_stream(r->h->ss, NGHTTP2_FLAG_NONE, r->id, NGHTTP2_INTERNAL_ERROR);
}

/* ---- the response writer (wr_http_req_ops) ------------------------------ */

static ssize_t read_body(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)ss;
  (void)id;
  h2conn *h = user;
  h2stream *r = src->ptr;
  size_t n = r->out.len < length ? r->out.len : length;
  if (n) {
    memcpy(buf, r->out.data, n);
    wr_buf_consume(&r->out, n);
    wr_metric_add(h->srv->m->bytes_out, (double)n);
  }
  if (!r->out.len && r->body_fin)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  else if (!n)
    return NGHTTP2_ERR_DEFERRED;
  return (ssize_t)n;
}

/* Status and fields (names lowercased here; nghttp2 copies them). */
static int submit(h2stream *r, int status, const wr_h1_header *hs, size_t n, int body) {
  h2conn *h = r->h;
  nghttp2_nv nv[WR_HTTP_MAX_RESP_FIELDS + 2];
  char names[8192];
  size_t used = 0, k = 0;
  char st[16];
  snprintf(st, sizeof st, "%d", status);
  nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, strlen(st), NGHTTP2_NV_FLAG_NONE};
  for (size_t i = 0; i < n && k < sizeof nv / sizeof nv[0]; i++) {
    if (wr_http_response_hop_by_hop(hs[i].name) || hs[i].name.len == 0 ||
        wr_h1_slice_eq_ci(hs[i].name, "sec-websocket-accept"))
      continue;
    if (used + hs[i].name.len > sizeof names)
      return WR_ERR_LIMIT;
    char *nm = names + used;
    for (size_t j = 0; j < hs[i].name.len; j++) {
      char c = hs[i].name.p[j];
      nm[j] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    used += hs[i].name.len;
    nv[k++] = (nghttp2_nv){(uint8_t *)nm, (uint8_t *)hs[i].value.p, hs[i].name.len, hs[i].value.len,
                           NGHTTP2_NV_FLAG_NONE};
  }
  nghttp2_data_provider prd = {.source.ptr = r, .read_callback = read_body};
  if (nghttp2_submit_response(h->ss, r->id, nv, k, body ? &prd : NULL) != 0)
    return WR_ERR_INVAL;
  wr_http_count_response(h->srv, status);
  return 0;
}

static int w_head(wr_http_req *q, int status, const wr_h1_header *hs, size_t n, unsigned flags) {
  h2stream *r = stream_of(q);
  if (r->h->dead)
    return WR_ERR_CLOSED;
  if (status == 101 && r->websocket) {
    /* Switched: HTTP/2 says so with a 200, and the stream carries the
     * WebSocket's bytes both ways from here (RFC 8441 section 5). */
    status = 200;
    r->no_body = 0;
  } else if (status < 200) {
    return 0; /* interim answers are dropped */
  } else {
    r->no_body = r->is_head || status == 204 || status == 304 || !(flags & WR_HTTP_RESP_BODY);
  }
  int rc = submit(r, status, hs, n, !r->no_body);
  if (rc != 0)
    return rc;
  /* A Content-Length tells complete() what is missing when the tunnel ends
   * early: the handler then aborts (RST_STREAM) instead of ending a short
   * body with END_STREAM. */
  const wr_h1_header *cl = r->no_body ? NULL : wr_h1_find(hs, n, "content-length");
  if (cl && cl->value.len > 0 && cl->value.len <= 19) {
    uint64_t v = 0;
    size_t i = 0;
    for (; i < cl->value.len && cl->value.p[i] >= '0' && cl->value.p[i] <= '9'; i++)
      v = v * 10 + (uint64_t)(cl->value.p[i] - '0');
    if (i == cl->value.len) {
      r->has_len = 1;
      r->remaining = v;
    }
  }
  r->resp_head = 1;
  flush_soon(r->h);
  return 0;
}

static int w_body(wr_http_req *q, const uint8_t *data, size_t len) {
  h2stream *r = stream_of(q);
  if (r->h->dead)
    return WR_ERR_CLOSED;
  if (r->no_body || !len)
    return 0;
  if (r->has_len)
    r->remaining = len < r->remaining ? r->remaining - len : 0;
  if (wr_buf_append(&r->out, data, len) != 0)
    return WR_ERR_NOMEM;
  (void)nghttp2_session_resume_data(r->h->ss, r->id);
  flush_soon(r->h);
  if (r->out.len >= WR_HTTP_QUEUE_CAP) {
    r->want_writable = 1;
    return WR_ERR_AGAIN;
  }
  return 0;
}

static int w_complete(const wr_http_req *q, uint64_t *pmissing) {
  const h2stream *r = stream_of(q);
  *pmissing = r->has_len ? r->remaining : 0;
  return r->resp_head && (r->no_body || (r->has_len && r->remaining == 0));
}

static void w_end(wr_http_req *q) {
  h2stream *r = stream_of(q);
  r->q.sink = NULL;
  r->body_fin = 1;
  if (r->resp_head && !r->no_body)
    (void)nghttp2_session_resume_data(r->h->ss, r->id);
  flush_soon(r->h);
}

static void w_abort(wr_http_req *q) {
  h2stream *r = stream_of(q);
  r->q.sink = NULL;
  rst(r);
  flush_soon(r->h);
}

/* Offers waiting body bytes to the handler, consuming them on the HTTP/2
 * side as they go, then the end of the request. */
static void deliver(h2stream *r) {
  while (r->pend.len && r->q.sink) {
    ssize_t n = r->q.sink->ops->on_body(r->q.sink, r->pend.data, r->pend.len);
    if (n <= 0)
      return;
    wr_buf_consume(&r->pend, (size_t)n);
    (void)nghttp2_session_consume(r->h->ss, r->id, (size_t)n);
  }
  if (r->req_fin && !r->body_ended && !r->pend.len && r->q.sink) {
    r->body_ended = 1;
    r->q.sink->ops->on_body_end(r->q.sink);
  }
}

static void w_resume_body(wr_http_req *q) {
  h2stream *r = stream_of(q);
  deliver(r);
  flush_soon(r->h);
}

static void w_go_ahead(wr_http_req *q) { (void)q; /* HTTP/2 clients do not wait for 100 */ }

static const wr_http_req_ops h2_ops = {
    .head = w_head,
    .body = w_body,
    .complete = w_complete,
    .end = w_end,
    .abort = w_abort,
    .resume_body = w_resume_body,
    .go_ahead = w_go_ahead,
};

/* ---- requests ----------------------------------------------------------- */

/* A refusal of the server's own (the handler never hears of the request). */
static void refuse(h2stream *r, int status, const char *title, const char *detail) {
  r->q.ops = &h2_ops;
  wr_http_page_send(&r->q, status, title, detail, 0);
}

static void start_request(h2conn *h, h2stream *r, int end_stream) {
  wr_h1_header hs[H2_MAX_HEADERS];
  for (size_t i = 0; i < r->nhdr; i++) {
    slice_of(r, &r->off[i][0], &hs[i].name);
    slice_of(r, &r->off[i][2], &hs[i].value);
  }
  wr_h1_head hd = {.version_minor = 1, .headers = hs, .nheaders = r->nhdr};
  slice_of(r, r->meth, &hd.method);
  slice_of(r, r->path, &hd.target);
  if (r->has_auth)
    slice_of(r, r->auth, &hd.host);
  else if (r->has_host)
    slice_of(r, r->host, &hd.host);
  r->is_head = hd.method.len == 4 && memcmp(hd.method.p, "HEAD", 4) == 0;
  hd.method_id = r->is_head ? WR_H1_M_HEAD : WR_H1_M_OTHER;
  hd.framing = end_stream ? WR_H1_BODY_NONE : r->has_cl ? WR_H1_BODY_LENGTH : WR_H1_BODY_CHUNKED;
  r->req_fin = end_stream;
  int connect = hd.method.len == 7 && memcmp(hd.method.p, "CONNECT", 7) == 0;
  r->websocket = connect && r->has_proto;
  r->q = (wr_http_req){.ops = &h2_ops, .head = &hd, .client_ip = h->ip};
  if (r->has_proto)
    slice_of(r, r->proto, &r->q.protocol);
  r->q.flags = WR_HTTP_REQ_TLS | WR_HTTP_REQ_H2 | (connect ? WR_HTTP_REQ_CONNECT : 0) |
               (r->websocket ? WR_HTTP_REQ_WEBSOCKET : 0) | (r->is_head ? WR_HTTP_REQ_HEAD : 0);
  h->srv->handler->ops->on_request(h->srv->handler, &r->q);
  r->q.head = NULL;
  r->q.protocol = (wr_h1_slice){NULL, 0};
  deliver(r);
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *user) {
  h2conn *h = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  h2stream *r = wr_calloc(1, sizeof *r);
  if (!r)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  r->id = f->hd.stream_id;
  wr_buf_init(&r->hb, H2_MAX_HEADER_LIST);
  wr_buf_init(&r->pend, H2_STREAM_WINDOW);
  wr_buf_init(&r->out, H2_OUT_LIMIT);
  r->h = h;
  r->next = h->reqs;
  if (h->reqs)
    h->reqs->prev = r;
  h->reqs = r;
  h->nreqs++;
  (void)nghttp2_session_set_stream_user_data(ss, r->id, r);
  return 0;
}

static int on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
  (void)flags;
  (void)user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0; /* trailers are not passed on */
  h2stream *r = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
  if (!r || r->too_big)
    return 0;
  r->hbytes += namelen + valuelen + 32;
  size_t at = r->hb.len;
  if (r->hbytes > H2_MAX_HEADER_LIST || (name[0] != ':' && r->nhdr >= H2_MAX_HEADERS) ||
      wr_buf_append(&r->hb, name, namelen) != 0 || wr_buf_append(&r->hb, value, valuelen) != 0) {
    r->too_big = 1;
    return 0;
  }
  size_t o[4] = {at, namelen, at + namelen, valuelen};
#define PSEUDO(s, field, flag)                                                                     \
  if (namelen == sizeof s - 1 && memcmp(name, s, namelen) == 0) {                                  \
    r->field[0] = o[2];                                                                            \
    r->field[1] = o[3];                                                                            \
    r->flag = 1;                                                                                   \
    return 0;                                                                                      \
  }
  PSEUDO(":method", meth, has_meth)
  PSEUDO(":path", path, has_path)
  PSEUDO(":authority", auth, has_auth)
  PSEUDO(":protocol", proto, has_proto)
#undef PSEUDO
  if (name[0] == ':')
    return 0; /* :scheme; nghttp2 checked the set */
  if (namelen == 4 && memcmp(name, "host", 4) == 0) {
    r->host[0] = o[2];
    r->host[1] = o[3];
    r->has_host = 1;
  }
  if (namelen == 14 && memcmp(name, "content-length", 14) == 0)
    r->has_cl = 1;
  memcpy(r->off[r->nhdr++], o, sizeof o);
  return 0;
}

static int on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *user) {
  h2conn *h = user;
  h2stream *r = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
  if (!r)
    return 0;
  int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (r->too_big) {
      WR_WARN("Refused a request",
              "client=%s status=431 reason=\"header fields too large\" "
              "protocol=h2",
              h->ip);
      wr_http_count_error(h->srv, "bad_request");
      r->req_fin = 1;
      refuse(r, 431, "Request Header Fields Too Large",
             "The request's header fields are too large.");
      return 0;
    }
    if (h->draining) {
      (void)nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, r->id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    start_request(h, r, end);
  } else if (end && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS)) {
    r->req_fin = 1;
    deliver(r);
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user) {
  (void)flags;
  h2conn *h = user;
  h2stream *r = nghttp2_session_get_stream_user_data(ss, id);
  wr_metric_add(h->srv->m->bytes_in, (double)len);
  if (!r || !r->q.sink || r->body_ended) {
    (void)nghttp2_session_consume(ss, id, len); /* nobody takes it */
    return 0;
  }
  if (wr_buf_append(&r->pend, data, len) != 0) {
    /* Cannot happen: the stream window bounds pend. */
    (void)nghttp2_session_consume(ss, id, len);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  deliver(r);
  return 0;
}

static int on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *user) {
  (void)user;
  h2stream *r = nghttp2_session_get_stream_user_data(ss, id);
  if (!r)
    return 0;
  (void)nghttp2_session_set_stream_user_data(ss, id, NULL);
  s_gone(r, WR_HTTP_GONE_RESET, code);
  return 0;
}

/* ---- the connection ----------------------------------------------------- */

/* Frames to the TLS queue while it takes them. 0, or -1 when the
 * connection failed. */
static int send_frames(h2conn *h) {
  for (;;) {
    while (h->pend_out.len) {
      ssize_t n = wr_stream_write(h->st, h->pend_out.data, h->pend_out.len);
      if (n == WR_ERR_AGAIN)
        return 0; /* on_writable */
      if (n < 0)
        return -1;
      wr_buf_consume(&h->pend_out, (size_t)n);
    }
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(h->ss, &p);
    if (n < 0) {
      WR_WARN("Closed an HTTP/2 user", "client=%s reason=\"%s\"", h->ip, nghttp2_strerror((int)n));
      return -1;
    }
    if (n == 0)
      return 0;
    ssize_t w = wr_stream_write(h->st, p, (size_t)n);
    if (w == WR_ERR_AGAIN)
      w = 0;
    if (w < 0)
      return -1;
    if ((size_t)w < (size_t)n && wr_buf_append(&h->pend_out, p + w, (size_t)n - (size_t)w) != 0)
      return -1;
  }
}

/* Asks nghttp2 for frames while the TLS queue takes them, then tells the
 * handlers whose body bytes went into frames that they may send more. */
static void h2_flush(h2conn *h) {
  if (h->sending || h->dead)
    return;
  h->sending = 1;
  wr_stream_cork(h->st);
  if (send_frames(h) != 0)
    h->dead = 1;
  wr_stream_uncork(h->st);
  h->sending = 0;
  for (h2stream *r = h->reqs, *next; r && !h->dead; r = next) {
    next = r->next;
    if (r->want_writable && r->q.sink && r->out.len < WR_HTTP_QUEUE_CAP) {
      r->want_writable = 0;
      r->q.sink->ops->on_writable(r->q.sink);
    }
  }
  if (!h->dead && !nghttp2_session_want_read(h->ss) && !nghttp2_session_want_write(h->ss) &&
      !h->pend_out.len)
    h->dead = 1; /* GOAWAY exchanged and nothing left */
  if (!h->dead && h->draining && !h->nreqs && !h->pend_out.len)
    h->dead = 1;
  if (h->dead)
    wr_stream_close(h->st); /* the h1conn frees h via wr_h2conn_free */
}

int wr_h2conn_new(h2conn **ph, wr_http_server *s, wr_stream *st, wr_http_transport *io,
                  const char *ip) {
  h2conn *h = wr_calloc(1, sizeof *h);
  if (!h)
    return WR_ERR_NOMEM;
  h->srv = s;
  h->st = st;
  h->io = io;
  h->idle_since_ns = wr_now_ns();
  snprintf(h->ip, sizeof h->ip, "%s", ip);
  wr_buf_init(&h->pend_out, H2_OUT_LIMIT);
  nghttp2_session_callbacks *cb = NULL;
  nghttp2_option *opt = NULL;
  int rv = -1;
  if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0)
    goto fail;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  /* Window updates only once the handler took the bytes (nghttp2_session_consume). */
  nghttp2_option_set_no_auto_window_update(opt, 1);
  rv = nghttp2_session_server_new2(&h->ss, cb, h, opt);
  if (rv != 0)
    goto fail;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}, /* WebSockets over HTTP/2 (RFC 8441) */
  };
  if (nghttp2_submit_settings(h->ss, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
      nghttp2_session_set_local_window_size(h->ss, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0) {
    nghttp2_session_del(h->ss);
    rv = -1;
    goto fail;
  }
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  *ph = h;
  WR_DEBUG("HTTP/2 user connected", "client=%s", h->ip);
  h2_flush(h);
  return 0;
fail:
  if (cb)
    nghttp2_session_callbacks_del(cb);
  if (opt)
    nghttp2_option_del(opt);
  wr_buf_free(&h->pend_out);
  wr_free(h);
  return WR_ERR_NOMEM;
}

void wr_h2conn_recv(h2conn *h, const uint8_t *data, size_t len) {
  if (h->dead)
    return;
  h->receiving = 1;
  ssize_t n = nghttp2_session_mem_recv(h->ss, data, len);
  h->receiving = 0;
  if (n < 0) {
    WR_WARN("Closed an HTTP/2 user", "client=%s reason=\"%s\"", h->ip, nghttp2_strerror((int)n));
    wr_http_count_error(h->srv, "bad_request");
    h->dead = 1;
    wr_stream_close(h->st);
    return;
  }
  h2_flush(h);
}

void wr_h2conn_writable(h2conn *h) { h2_flush(h); }

int wr_h2conn_drain(h2conn *h) {
  if (!h->draining) {
    h->draining = 1;
    (void)nghttp2_submit_goaway(h->ss, NGHTTP2_FLAG_NONE,
                                nghttp2_session_get_last_proc_stream_id(h->ss), NGHTTP2_NO_ERROR,
                                NULL, 0);
  }
  if (!h->nreqs)
    return 1;
  h2_flush(h);
  return 0;
}

int wr_h2conn_idle(h2conn *h, uint64_t now_ns, uint64_t idle_ns) {
  return !h->nreqs && now_ns - h->idle_since_ns >= idle_ns;
}

void wr_h2conn_free(h2conn *h) {
  h->dead = 1;
  while (h->reqs)
    s_gone(h->reqs, WR_HTTP_GONE_CLOSED, 0);
  nghttp2_session_del(h->ss);
  wr_buf_free(&h->pend_out);
  wr_free(h);
}
