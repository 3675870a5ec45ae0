/* edge_h2.c: HTTP/2 users on the edge's HTTPS port (ALPN "h2"), with
 * nghttp2's server session over the tls_tcp connection.
 *
 * Every HTTP/2 request stream becomes one tunnel stream, exactly as an
 * HTTP/1.1 request does: the REQUEST message, routing, offline/404 pages and
 * STREAM_ERROR statuses come from the functions edge_public.c shares.
 *
 * Flow control, both ways, with bounded memory:
 * - user -> connector: nghttp2's automatic WINDOW_UPDATE is off; DATA bytes
 *   wait in the request's pend buffer (at most one stream window) and are
 *   consumed (nghttp2_session_consume, the user's credit) only once the
 *   tunnel stream took them.
 * - connector -> user: tunnel bytes wait in out (at most one tunnel stream
 *   window); the data provider hands them to nghttp2 or answers
 *   NGHTTP2_ERR_DEFERRED, resumed when more arrive; credit goes back to the
 *   tunnel (stream_consume) only for bytes nghttp2 took, and nghttp2 is asked
 *   for frames only while the TLS queue takes them.
 *
 * Lifetimes: an h2req is attached to its HTTP/2 stream until nghttp2 closes
 * it (or the connection dies) and to its tunnel stream until on_stream_close;
 * it is freed when both are over. */
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <nghttp2/nghttp2.h>

#include "edge/edge_internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "proto/text/base64.h"
#include "net/tls_tcp.h"

#define H2_MAX_STREAMS 100u
#define H2_STREAM_WINDOW (256u * 1024u)
#define H2_CONN_WINDOW (8u * 1024u * 1024u)
#define H2_MAX_HEADER_LIST (64u * 1024u)
#define H2_MAX_HEADERS 100u
#define H2_OUT_LIMIT (16u * 1024u * 1024u)
#define H2_HEAD_MAX (128u * 1024u)

typedef struct h2req h2req;

struct edge_h2 {
  wr_edge *e;
  wr_tls_tcp *t;
  nghttp2_session *ss;
  char ip[64];
  h2req *reqs;
  size_t nreqs;
  wr_buf pend_out;  /* frame bytes the TLS queue did not take yet */
  int sending;      /* inside flush: no re-entry */
  int dead;         /* a fatal error: the connection is closing */
  int draining;
  uint64_t idle_since_ns;
};

struct h2req {
  uint32_t magic;
  edge_h2 *h;       /* NULL once the HTTP/2 stream is gone */
  h2req *prev, *next;
  int32_t id;
  /* request head, as received */
  wr_buf hb;        /* name and value bytes */
  size_t off[H2_MAX_HEADERS][4]; /* name off/len, value off/len */
  size_t nhdr, hbytes;
  size_t meth[2], path[2], auth[2], host[2], proto[2];
  int has_meth, has_path, has_auth, has_host, has_proto, has_cl, too_big;
  int websocket; /* an extended CONNECT for the websocket protocol (RFC 8441) */
  /* tunnel side */
  econn *ec;
  wr_mux_stream *s;
  wr_route_tunnel *t;
  wr_buf head;      /* the encoded REQUEST */
  size_t head_sent;
  wr_buf pend;      /* request body bytes the tunnel stream has not taken */
  int started, req_fin, fin_sent, is_head;
  int idempotent, body_started, got_any, retried; /* for a retry on another connection */
  wr_tunnel_decoder dec;
  int dec_init;
  /* response */
  int resp_head, resp_done, body_fin, no_body;
  int local;        /* the edge answered itself: tunnel bytes are dropped */
  wr_buf out;       /* response body bytes nghttp2 has not taken */
  size_t credit;    /* tunnel bytes nghttp2 took, not yet given back */
  size_t held;      /* tunnel bytes in out (credit owed once taken) */
};

static void h2_flush(edge_h2 *h);

static void slice_of(const h2req *r, const size_t *o, wr_h1_slice *sl) {
  sl->p = (const char *)r->hb.data + o[0];
  sl->len = o[1];
}

static void r_free(h2req *r) {
  wr_buf_free(&r->hb);
  wr_buf_free(&r->head);
  wr_buf_free(&r->pend);
  wr_buf_free(&r->out);
  if (r->dec_init)
    wr_tunnel_decoder_free(&r->dec);
  r->magic = 0;
  wr_free(r);
}

static void r_unlink(h2req *r) {
  edge_h2 *h = r->h;
  if (!h)
    return;
  if (r->prev)
    r->prev->next = r->next;
  else
    h->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  h->nreqs--;
  if (!h->nreqs)
    h->idle_since_ns = wr_now_ns();
  r->h = NULL;
  r->prev = r->next = NULL;
}

/* The HTTP/2 side is gone: end the tunnel stream (abort unless it finished
 * cleanly) or free r. */
static void r_detach(h2req *r, uint64_t abort_code) {
  r_unlink(r);
  if (!r->s) {
    r_free(r);
    return;
  }
  const wr_mux_ops *ops = r->ec->c->ops;
  size_t owed = r->credit + r->held;
  r->credit = r->held = 0;
  wr_buf_reset(&r->out);
  if (owed)
    ops->stream_consume(r->s, owed);
  if (abort_code)
    (void)ops->stream_abort(r->s, abort_code);
  else if (!r->fin_sent) {
    r->fin_sent = 1;
    (void)ops->stream_end(r->s);
  }
}

/* ---- responses to the user ---------------------------------------------- */

static ssize_t read_body(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user) {
  (void)ss;
  (void)id;
  (void)user;
  h2req *r = src->ptr;
  size_t n = r->out.len < length ? r->out.len : length;
  if (n) {
    memcpy(buf, r->out.data, n);
    wr_buf_consume(&r->out, n);
    size_t c = n < r->held ? n : r->held;
    r->held -= c;
    r->credit += c;
    if (r->h)
      wr_metric_add(r->h->e->m_bytes_out, (double)n);
  }
  if (!r->out.len && r->body_fin) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    r->resp_done = 1;
  } else if (!n) {
    return NGHTTP2_ERR_DEFERRED;
  }
  return (ssize_t)n;
}

/* Submits a response with status and headers (names lowercased here; nghttp2
 * copies them). body: a data provider reading r->out follows. */
static int submit(h2req *r, int status, const wr_h1_header *hs, size_t n, int body) {
  edge_h2 *h = r->h;
  nghttp2_nv nv[WR_TUNNEL_DEFAULT_MAX_HEADERS + 2];
  char names[8192];
  size_t used = 0, k = 0;
  char st[8];
  snprintf(st, sizeof st, "%d", status);
  nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, strlen(st), NGHTTP2_NV_FLAG_NONE};
  for (size_t i = 0; i < n && k < sizeof nv / sizeof nv[0]; i++) {
    if (wr_edge_response_hop_by_hop(hs[i].name) || hs[i].name.len == 0 ||
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
    nv[k++] = (nghttp2_nv){(uint8_t *)nm, (uint8_t *)hs[i].value.p, hs[i].name.len,
                           hs[i].value.len, NGHTTP2_NV_FLAG_NONE};
  }
  nghttp2_data_provider prd = {.source.ptr = r, .read_callback = read_body};
  r->resp_head = 1;
  if (!body)
    r->resp_done = 1;
  wr_edge_count_response(h->e, status);
  int rv = nghttp2_submit_response(h->ss, r->id, nv, k, body ? &prd : NULL);
  return rv == 0 ? 0 : WR_ERR_INVAL;
}

/* The edge's own answer as an HTML page. */
static void local_answer(h2req *r, int status, const char *title, const char *detail) {
  if (!r->h || r->resp_head)
    return;
  char body[1024];
  int blen = wr_edge_local_page(body, sizeof body, status, title, detail);
  wr_buf_reset(&r->out);
  r->held = 0;
  if (wr_buf_append(&r->out, body, (size_t)blen) != 0) {
    (void)nghttp2_submit_rst_stream(r->h->ss, NGHTTP2_FLAG_NONE, r->id, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  r->body_fin = 1;
  r->local = 1;
  char cl[24];
  snprintf(cl, sizeof cl, "%d", blen);
  wr_h1_header hs[3] = {{{"content-type", 12}, {"text/html; charset=utf-8", 24}},
                        {{"content-length", 14}, {cl, strlen(cl)}},
                        {{"cache-control", 13}, {"no-store", 8}}};
  if (submit(r, status, hs, 3, !r->is_head) != 0)
    (void)nghttp2_submit_rst_stream(r->h->ss, NGHTTP2_FLAG_NONE, r->id, NGHTTP2_INTERNAL_ERROR);
}

/* ---- the tunnel stream -------------------------------------------------- */

/* Writes the head, waiting body bytes (consuming them on the HTTP/2 side as
 * they go) and FIN to the tunnel stream, as far as it takes them. */
static void tunnel_flush(h2req *r) {
  if (!r->s)
    return;
  const wr_mux_ops *ops = r->ec->c->ops;
  while (r->head_sent < r->head.len) {
    ssize_t n = ops->stream_write(r->s, r->head.data + r->head_sent, r->head.len - r->head_sent);
    if (n < 0)
      return;
    r->head_sent += (size_t)n;
  }
  while (r->pend.len) {
    ssize_t n = ops->stream_write(r->s, r->pend.data, r->pend.len);
    if (n < 0)
      return;
    wr_buf_consume(&r->pend, (size_t)n);
    if (n > 0)
      r->body_started = 1;
    if (r->h && n > 0)
      (void)nghttp2_session_consume(r->h->ss, r->id, (size_t)n);
  }
  if (r->req_fin && !r->fin_sent) {
    r->fin_sent = 1;
    (void)ops->stream_end(r->s);
  }
}

/* The stream is gone before a response: once, for an idempotent method when
 * nothing came back and no body byte was sent, the request goes to another
 * connection of the tunnel (as on HTTP/1.1, edge_public.c). Returns 1 when
 * retried. */
static int try_retry(h2req *r) {
  edge_h2 *h = r->h;
  if (r->retried || !r->idempotent || r->got_any || r->body_started || r->local || !r->t ||
      h->e->state != EDGE_RUNNING)
    return 0;
  econn *failed = r->ec;
  r->retried = 1;
  r->head_sent = 0;
  r->fin_sent = 0;
  if (wr_edge_pick_and_open(r->t, failed, r, &r->ec, &r->s) != 0)
    return 0;
  WR_INFO("Retrying request on another connection", "tunnel=%s connection=%s protocol=h2",
          r->t->name, r->ec->conn_id);
  wr_edge_count_error(h->e, "retried");
  tunnel_flush(r);
  h2_flush(h);
  return 1;
}

/* An extended CONNECT for a WebSocket (RFC 8441) becomes, in the tunnel, the
 * HTTP/1.1 Upgrade an origin expects: GET with Upgrade: websocket and a fresh
 * Sec-WebSocket-Key (HTTP/2 has none; the origin's Sec-WebSocket-Accept is
 * dropped again on the way back). key holds the key's text. */
static int websocket_request(wr_h1_head *hd, wr_h1_header *hs, char key[25]) {
  uint8_t raw[16];
  if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof raw) != 0 ||
      wr_base64_encode(raw, sizeof raw, key, 25) != 24)
    return WR_ERR_INVAL;
  hd->method = (wr_h1_slice){"GET", 3};
  hs[hd->nheaders++] = (wr_h1_header){{"upgrade", 7}, {"websocket", 9}};
  hs[hd->nheaders++] = (wr_h1_header){{"sec-websocket-key", 17}, {key, 24}};
  hd->framing = WR_H1_BODY_NONE;
  return 0;
}

static void start_request(edge_h2 *h, h2req *r, int end_stream) {
  wr_edge *e = h->e;
  wr_h1_header hs[H2_MAX_HEADERS + 2];
  char ws_key[25];
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
  r->idempotent = wr_edge_method_idempotent(hd.method);
  int has_body = !end_stream;
  hd.framing = !has_body ? WR_H1_BODY_NONE : r->has_cl ? WR_H1_BODY_LENGTH : WR_H1_BODY_CHUNKED;
  r->req_fin = end_stream;
  r->started = 1;
  char host[WR_ROUTES_HOST_MAX + 1];
  if (wr_routes_normalize_host(hd.host.p, hd.host.len, host) != 0)
    snprintf(host, sizeof host, "-");
  r->t = hd.host.len ? wr_routes_lookup_host(e->routes, hd.host.p, hd.host.len) : NULL;
  if (!r->t) {
    WR_INFO("No tunnel for host", "host=%s client=%s status=404 protocol=h2", host, h->ip);
    wr_edge_count_error(e, "unknown_host");
    local_answer(r, 404, "Not Found", "No tunnel serves this hostname on this edge.");
    return;
  }
  wr_metric_inc(wr_metric_child(e->m_requests, r->t->name));
  int connect = hd.method.len == 7 && memcmp(hd.method.p, "CONNECT", 7) == 0;
  if (connect && r->has_proto) {
    wr_h1_slice proto;
    slice_of(r, r->proto, &proto);
    if (!wr_h1_slice_eq_ci(proto, "websocket")) {
      wr_edge_count_error(e, "connect");
      local_answer(r, 501, "Not Implemented", "Only the websocket protocol is served here.");
      return;
    }
    if (end_stream || websocket_request(&hd, hs, ws_key) != 0) {
      local_answer(r, 400, "Bad Request", "The WebSocket request is malformed.");
      return;
    }
    r->websocket = 1;
    r->idempotent = 0;
    has_body = 0;
  } else if (connect) {
    wr_edge_count_error(e, "connect");
    local_answer(r, 405, "Method Not Allowed", "CONNECT is not served here.");
    return;
  }
  if (wr_edge_build_request(&r->head,
                            r->websocket ? WR_TUNNEL_KIND_WEBSOCKET : WR_TUNNEL_KIND_HTTP,
                            has_body, &hd, h->ip, r->websocket, 1) != 0) {
    WR_WARN("Refused a request", "host=%s client=%s status=400 reason=\"%s\" protocol=h2", host,
            h->ip, "cannot be carried through the tunnel (field too long or invalid)");
    wr_edge_count_error(e, "request_encode");
    local_answer(r, 400, "Bad Request", "The request cannot be carried to the origin.");
    return;
  }
  if (wr_tunnel_decoder_init(&r->dec, NULL) != 0 ||
      (r->dec_init = 1, wr_edge_pick_and_open(r->t, NULL, r, &r->ec, &r->s) != 0)) {
    WR_WARN("Tunnel offline", "tunnel=%s host=%s client=%s status=502 protocol=h2", r->t->name,
            host, h->ip);
    wr_edge_count_error(e, "tunnel_offline");
    local_answer(r, 502, "Bad Gateway",
                 "The tunnel for this hostname is offline: no connector is connected to this "
                 "edge right now.");
    return;
  }
  tunnel_flush(r);
}

/* A response that cannot be passed on: 502 before the head, RST after. */
static void bad_response(h2req *r, const char *reason) {
  WR_WARN("Bad response from connector", "tunnel=%s status=502 reason=\"%s\" protocol=h2",
          r->t ? r->t->name : "-", reason);
  wr_edge_count_error(r->h->e, "bad_response");
  if (!r->resp_head)
    local_answer(r, 502, "Bad Gateway", "The tunnel sent an invalid response.");
  else
    (void)nghttp2_submit_rst_stream(r->h->ss, NGHTTP2_FLAG_NONE, r->id, NGHTTP2_INTERNAL_ERROR);
}

void wr_edge_h2_stream_data(void *u, const uint8_t *data, size_t len, int fin) {
  h2req *r = u;
  const wr_mux_ops *ops = r->ec->c->ops;
  size_t total = len;
  edge_h2 *h = r->h;
  if (len)
    r->got_any = 1;
  if (!h || r->resp_done || r->local || (r->resp_head && r->no_body)) {
    ops->stream_consume(r->s, total); /* nobody reads */
    return;
  }
  while (!r->resp_head && len) {
    size_t used = 0;
    wr_tunnel_msg m;
    int rv = wr_tunnel_decode(&r->dec, data, len, &used, &m);
    data += used;
    len -= used;
    if (rv < 0) {
      bad_response(r, wr_tunnel_decoder_reason(&r->dec));
      ops->stream_consume(r->s, total);
      h2_flush(h);
      return;
    }
    if (rv == 0)
      break;
    if (m.type == WR_TUNNEL_RESPONSE) {
      int status = (int)m.u.response.status;
      if (status == 101 && r->websocket) {
        /* Switched: HTTP/2 says so with a 200, and the stream carries the
         * WebSocket's bytes both ways from here (RFC 8441 section 5). */
        status = 200;
        r->no_body = 0;
      } else if (status < 200) {
        continue; /* interim answers are dropped */
      } else {
        r->no_body = r->is_head || status == 204 || status == 304 ||
                     !(m.u.response.flags & WR_TUNNEL_F_BODY);
      }
      if (submit(r, status, m.u.response.headers, m.u.response.nheaders, !r->no_body) != 0) {
        r->resp_head = 0;
        bad_response(r, "response head cannot be sent");
        ops->stream_consume(r->s, total);
        h2_flush(h);
        return;
      }
    } else if (m.type == WR_TUNNEL_STREAM_ERROR) {
      int status;
      const char *title, *detail;
      wr_edge_stream_error_status(m.u.error.code, &status, &title, &detail);
      WR_WARN("Request failed in the tunnel",
              "tunnel=%s status=%d code=%llu reason=\"%.*s\" protocol=h2", r->t->name, status,
              (unsigned long long)m.u.error.code, (int)m.u.error.reason.len,
              m.u.error.reason.p ? m.u.error.reason.p : "");
      wr_edge_count_error(h->e, "stream_error");
      local_answer(r, status, title, detail);
      ops->stream_consume(r->s, total);
      h2_flush(h);
      return;
    } else {
      bad_response(r, "unexpected message");
      ops->stream_consume(r->s, total);
      h2_flush(h);
      return;
    }
  }
  size_t held = 0;
  if (r->resp_head && !r->no_body && len) {
    if (wr_buf_append(&r->out, data, len) != 0) {
      bad_response(r, "response buffer full");
      ops->stream_consume(r->s, total);
      h2_flush(h);
      return;
    }
    held = len;
    r->held += len;
  }
  if (total > held)
    ops->stream_consume(r->s, total - held);
  if (fin) {
    if (!r->resp_head)
      bad_response(r, "stream ended before a response");
    r->body_fin = 1;
  }
  if (r->resp_head && !r->no_body)
    (void)nghttp2_session_resume_data(h->ss, r->id);
  h2_flush(h);
}

void wr_edge_h2_stream_writable(void *u) {
  h2req *r = u;
  tunnel_flush(r);
  if (r->h)
    h2_flush(r->h);
}

void wr_edge_h2_stream_reset(void *u, uint64_t code) {
  (void)u;
  WR_DEBUG("Connector reset a request stream", "code=%llu protocol=h2",
           (unsigned long long)code);
}

void wr_edge_h2_stream_close(void *u, int has_code, uint64_t code) {
  h2req *r = u;
  r->s = NULL;
  edge_h2 *h = r->h;
  if (!h) {
    r_free(r);
    return;
  }
  r->credit = r->held = 0; /* the stream's credit is moot now */
  if (!r->resp_head && try_retry(r))
    return;
  wr_buf_reset(&r->pend);
  if (!r->resp_head) {
    WR_WARN("Tunnel connection lost during a request",
            "tunnel=%s status=502 reason=\"stream closed%s\" code=%llu protocol=h2",
            r->t ? r->t->name : "-", has_code ? " with a reset" : "", (unsigned long long)code);
    wr_edge_count_error(h->e, "stream_lost");
    local_answer(r, 502, "Bad Gateway", "The tunnel connection was lost.");
  } else if (!r->local && !r->body_fin && !r->no_body && !r->resp_done) {
    WR_WARN("Response aborted by the tunnel", "tunnel=%s code=%llu protocol=h2", r->t->name,
            (unsigned long long)code);
    wr_edge_count_error(h->e, "response_aborted");
    (void)nghttp2_submit_rst_stream(h->ss, NGHTTP2_FLAG_NONE, r->id, NGHTTP2_INTERNAL_ERROR);
  }
  h2_flush(h);
}

/* ---- nghttp2 callbacks -------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *user) {
  edge_h2 *h = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  h2req *r = wr_calloc(1, sizeof *r);
  if (!r)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  r->magic = H2REQ_MAGIC;
  r->id = f->hd.stream_id;
  wr_buf_init(&r->hb, H2_MAX_HEADER_LIST);
  wr_buf_init(&r->head, H2_HEAD_MAX);
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
  h2req *r = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
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
#define PSEUDO(s, field, flag)                                                                  \
  if (namelen == sizeof s - 1 && memcmp(name, s, namelen) == 0) {                              \
    r->field[0] = o[2];                                                                        \
    r->field[1] = o[3];                                                                        \
    r->flag = 1;                                                                               \
    return 0;                                                                                  \
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
  edge_h2 *h = user;
  h2req *r = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
  if (!r)
    return 0;
  int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (r->too_big) {
      WR_WARN("Refused a request", "client=%s status=431 reason=\"header fields too large\" "
              "protocol=h2", h->ip);
      wr_edge_count_error(h->e, "bad_request");
      r->started = 1;
      r->req_fin = 1;
      local_answer(r, 431, "Request Header Fields Too Large",
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
    tunnel_flush(r);
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user) {
  (void)flags;
  edge_h2 *h = user;
  h2req *r = nghttp2_session_get_stream_user_data(ss, id);
  wr_metric_add(h->e->m_bytes_in, (double)len);
  if (!r || !r->s || r->fin_sent) {
    (void)nghttp2_session_consume(ss, id, len); /* nobody takes it */
    return 0;
  }
  if (wr_buf_append(&r->pend, data, len) != 0) {
    /* Cannot happen: the stream window bounds pend. */
    (void)nghttp2_session_consume(ss, id, len);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  tunnel_flush(r);
  return 0;
}

static int on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *user) {
  (void)user;
  h2req *r = nghttp2_session_get_stream_user_data(ss, id);
  if (!r)
    return 0;
  (void)nghttp2_session_set_stream_user_data(ss, id, NULL);
  int clean = r->resp_done && (r->req_fin || !r->s);
  if (!clean && r->s)
    WR_DEBUG("HTTP/2 user ended a stream early", "client=%s code=%u", r->h->ip, code);
  if (!clean && r->s)
    wr_edge_count_error(r->h->e, "client_aborted");
  r_detach(r, clean ? 0 : WR_TUNNEL_RESET_CLIENT_FAILED);
  return 0;
}

/* ---- the connection ----------------------------------------------------- */

/* Asks nghttp2 for frames while the TLS queue takes them, then gives the
 * tunnel streams credit for the body bytes that went into frames. */
static void h2_flush(edge_h2 *h) {
  if (h->sending || h->dead)
    return;
  h->sending = 1;
  wr_tls_tcp_cork(h->t);
  for (;;) {
    while (h->pend_out.len) {
      ssize_t n = wr_tls_tcp_write(h->t, h->pend_out.data, h->pend_out.len);
      if (n == WR_ERR_AGAIN)
        goto out; /* on_writable */
      if (n < 0) {
        h->dead = 1;
        goto out;
      }
      wr_buf_consume(&h->pend_out, (size_t)n);
    }
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(h->ss, &p);
    if (n < 0) {
      WR_WARN("Closed an HTTP/2 user", "client=%s reason=\"%s\"", h->ip,
              nghttp2_strerror((int)n));
      h->dead = 1;
      goto out;
    }
    if (n == 0)
      break;
    ssize_t w = wr_tls_tcp_write(h->t, p, (size_t)n);
    if (w == WR_ERR_AGAIN)
      w = 0;
    if (w < 0) {
      h->dead = 1;
      goto out;
    }
    if ((size_t)w < (size_t)n && wr_buf_append(&h->pend_out, p + w, (size_t)n - (size_t)w) != 0) {
      h->dead = 1;
      goto out;
    }
  }
out:
  wr_tls_tcp_uncork(h->t);
  h->sending = 0;
  for (h2req *r = h->reqs; r; r = r->next)
    if (r->credit && r->s) {
      r->ec->c->ops->stream_consume(r->s, r->credit);
      r->credit = 0;
    }
  if (!h->dead && !nghttp2_session_want_read(h->ss) && !nghttp2_session_want_write(h->ss) &&
      !h->pend_out.len)
    h->dead = 1; /* GOAWAY exchanged and nothing left */
  if (!h->dead && h->draining && !h->nreqs && !h->pend_out.len)
    h->dead = 1;
  if (h->dead)
    wr_tls_tcp_close(h->t); /* tls_on_closed frees h via wr_edge_h2_free */
}

int wr_edge_h2_new(edge_h2 **ph, wr_edge *e, wr_tls_tcp *t, const char *ip) {
  edge_h2 *h = wr_calloc(1, sizeof *h);
  if (!h)
    return WR_ERR_NOMEM;
  h->e = e;
  h->t = t;
  h->idle_since_ns = wr_now_ns();
  snprintf(h->ip, sizeof h->ip, "%s", ip);
  wr_buf_init(&h->pend_out, H2_OUT_LIMIT);
  nghttp2_session_callbacks *cb;
  nghttp2_option *opt;
  if (nghttp2_session_callbacks_new(&cb) != 0) {
    wr_free(h);
    return WR_ERR_NOMEM;
  }
  if (nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cb);
    wr_free(h);
    return WR_ERR_NOMEM;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  /* Window updates only once the tunnel took the bytes (nghttp2_session_consume). */
  nghttp2_option_set_no_auto_window_update(opt, 1);
  int rv = nghttp2_session_server_new2(&h->ss, cb, h, opt);
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  if (rv != 0) {
    wr_free(h);
    return WR_ERR_NOMEM;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}, /* WebSockets over HTTP/2 (RFC 8441) */
  };
  if (nghttp2_submit_settings(h->ss, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
      nghttp2_session_set_local_window_size(h->ss, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0) {
    nghttp2_session_del(h->ss);
    wr_free(h);
    return WR_ERR_NOMEM;
  }
  *ph = h;
  WR_DEBUG("HTTP/2 user connected", "client=%s", h->ip);
  h2_flush(h);
  return 0;
}

void wr_edge_h2_recv(edge_h2 *h, const uint8_t *data, size_t len) {
  if (h->dead)
    return;
  ssize_t n = nghttp2_session_mem_recv(h->ss, data, len);
  if (n < 0) {
    WR_WARN("Closed an HTTP/2 user", "client=%s reason=\"%s\"", h->ip,
            nghttp2_strerror((int)n));
    wr_edge_count_error(h->e, "bad_request");
    h->dead = 1;
    wr_tls_tcp_close(h->t);
    return;
  }
  h2_flush(h);
}

void wr_edge_h2_writable(edge_h2 *h) { h2_flush(h); }

int wr_edge_h2_drain(edge_h2 *h) {
  if (!h->draining) {
    h->draining = 1;
    (void)nghttp2_submit_goaway(h->ss, NGHTTP2_FLAG_NONE,
                                nghttp2_session_get_last_proc_stream_id(h->ss),
                                NGHTTP2_NO_ERROR, NULL, 0);
  }
  if (!h->nreqs)
    return 1;
  h2_flush(h);
  return 0;
}

int wr_edge_h2_idle(edge_h2 *h, uint64_t now_ns, uint64_t idle_ns) {
  return !h->nreqs && now_ns - h->idle_since_ns >= idle_ns;
}

void wr_edge_h2_free(edge_h2 *h) {
  h->dead = 1;
  while (h->reqs) {
    h2req *r = h->reqs;
    int clean = r->resp_done && r->req_fin;
    r_detach(r, clean ? 0 : WR_TUNNEL_RESET_CLIENT_FAILED);
  }
  nghttp2_session_del(h->ss);
  wr_buf_free(&h->pend_out);
  wr_free(h);
}
