/* proxy.c: one tunnelled request's state machine: it starts with the edge's
 * REQUEST, picks the service, and follows the stream's events to the end
 * (the other jobs are in the files proxy_internal.h lists). */
#include "tunnel/proxy.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "tunnel/proxy_internal.h"

/* The request no longer counts as in flight: its response is complete (or
 * failed). The stream itself may linger until the edge closes its side. */
void wr_proxy_finished(wr_proxy *p) {
  if (p->counted) {
    p->counted = 0;
    p->ctx->inflight--;
  }
}

void wr_proxy_release(wr_proxy *p) {
  if (--p->refs > 0)
    return;
  wr_buf_free(&p->head);
  wr_buf_free(&p->early);
  wr_buf_free(&p->out_pending);
  wr_buf_free(&p->in_pending);
  if (p->rp_ready)
    wr_h1_parser_free(&p->rp);
  wr_proxy_finished(p);
  wr_free(p);
}

/* Answers with STREAM_ERROR (before any response) or resets the stream
 * (mid-response), and drops the origin connection. */
void wr_proxy_fail(wr_proxy *p, uint64_t code, const char *reason) {
  wr_metric_inc(p->ctx->m_errors);
  wr_origin_close(p->oc);
  p->discard = 1;
  if (p->stream_closed)
    return;
  if (!p->responded) {
    p->responded = 1;
    wr_tunnel_msg m = {.type = WR_TUNNEL_STREAM_ERROR};
    m.u.error.code = code;
    m.u.error.reason = (wr_h1_slice){reason, strlen(reason)};
    if (wr_proxy_send_msg(p, &m) == 0) {
      wr_proxy_end_stream(p);
      return;
    }
  }
  if (!p->fin_sent) {
    p->fin_sent = 1;
    wr_proxy_finished(p);
    (void)wr_proxy_ops(p)->stream_abort(p->s, WR_TUNNEL_RESET_ORIGIN_FAILED);
  }
}

void wr_proxy_end_stream(wr_proxy *p) {
  if (p->fin_sent || p->stream_closed)
    return;
  if (p->out_pending.len) {
    p->resp_done = 1; /* on_writable sends FIN once the bytes are out */
    return;
  }
  p->fin_sent = 1;
  wr_proxy_finished(p);
  if (wr_proxy_ops(p)->stream_end(p->s) != 0)
    WR_DEBUG("Could not end the stream", "path=%s", p->target);
}

/* Queues bytes on the stream, keeping order: anything the send queue does
 * not take waits in out_pending. Returns 0, or WR_ERR_LIMIT when
 * out_pending would grow past its bound (a broken peer). */
int wr_proxy_stream_send(wr_proxy *p, const void *data, size_t len) {
  if (p->stream_closed)
    return 0;
  size_t off = 0;
  if (!p->out_pending.len) {
    ssize_t n = wr_proxy_ops(p)->stream_write(p->s, data, len);
    if (n == WR_ERR_CLOSED)
      return WR_ERR_CLOSED;
    off = n > 0 ? (size_t)n : 0;
  }
  return off < len ? wr_buf_append(&p->out_pending, (const uint8_t *)data + off, len - off) : 0;
}

void wr_proxy_count_status(wr_proxy *p, int status) {
  char code[16];
  snprintf(code, sizeof code, "%d", status);
  wr_metric_inc(wr_metric_child(p->ctx->m_codes, code));
  p->status = status;
}

int wr_proxy_send_msg(wr_proxy *p, const wr_tunnel_msg *m) {
  wr_buf b;
  wr_buf_init(&b, WR_TUNNEL_DEFAULT_MAX_PAYLOAD + 32);
  int rv = wr_tunnel_encode(&b, m);
  if (rv == 0)
    rv = wr_proxy_stream_send(p, b.data, b.len);
  wr_buf_free(&b);
  return rv;
}

static void copy_slice(char *out, size_t cap, wr_h1_slice s) {
  size_t n = s.len < cap - 1 ? s.len : cap - 1;
  memcpy(out, s.p, n);
  out[n] = '\0';
}

static wr_h1_method method_of(wr_h1_slice m) {
  static const struct {
    const char *name;
    wr_h1_method id;
  } ms[] = {
      {"GET", WR_H1_M_GET}, {"HEAD", WR_H1_M_HEAD},       {"POST", WR_H1_M_POST},
      {"PUT", WR_H1_M_PUT}, {"CONNECT", WR_H1_M_CONNECT}, {"OPTIONS", WR_H1_M_OPTIONS},
  };
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
    if (wr_h1_slice_eq(m, ms[i].name))
      return ms[i].id;
  return WR_H1_M_OTHER;
}

void wr_proxy_ctx_init(wr_proxy_ctx *ctx, uv_loop_t *loop, const wr_ingress *ingress,
                       wr_metrics *metrics) {
  memset(ctx, 0, sizeof *ctx);
  ctx->loop = loop;
  ctx->ingress = ingress;
  ctx->metrics = metrics;
  if (metrics) {
    ctx->m_requests = wr_metrics_counter(metrics, "warren_tunnel_requests_total",
                                         "Requests the connector proxied to origins.");
    ctx->m_errors = wr_metrics_counter(metrics, "warren_tunnel_request_errors_total",
                                       "Requests that failed at the connector.");
    ctx->m_codes =
        wr_metrics_family(metrics, WR_METRIC_COUNTER, "warren_tunnel_response_by_code_total",
                          "Responses sent back by status code.", "status_code");
    ctx->m_origin_conns =
        wr_metrics_gauge(metrics, "warren_origin_connections", "Open connections to origins.");
    /* cloudflared's names too, so its dashboards work against a warren
     * connector unchanged. */
    (void)wr_metrics_alias(metrics, "warren_tunnel_requests_total",
                           "cloudflared_tunnel_total_requests");
    (void)wr_metrics_alias(metrics, "warren_tunnel_request_errors_total",
                           "cloudflared_tunnel_request_errors");
    (void)wr_metrics_alias(metrics, "warren_tunnel_response_by_code_total",
                           "cloudflared_tunnel_response_by_code");
  }
  wr_origin_pool_init(ctx);
}

void wr_proxy_ctx_close(wr_proxy_ctx *ctx) {
  ctx->closed = 1;
  wr_origin_pool_close(ctx);
  wr_origin_tls_free_unused(ctx);
}

int wr_proxy_start(wr_proxy_ctx *ctx, wr_mux_conn *c, wr_mux_stream *s,
                   const wr_tunnel_request *req, size_t head_len, wr_proxy **pp) {
  wr_proxy *p = wr_calloc(1, sizeof *p);
  if (!p || wr_h1_parser_init(&p->rp, WR_H1_RESPONSE, NULL) != 0) {
    wr_free(p);
    (void)c->ops->stream_abort(s, WR_TUNNEL_RESET_INTERNAL);
    return WR_ERR_NOMEM;
  }
  p->rp_ready = 1;
  *pp = p;
  p->ctx = ctx;
  p->c = c;
  p->s = s;
  p->refs = 1;
  p->started = wr_now_ns();
  wr_buf_init(&p->head, WR_H1_DEFAULT_MAX_HEAD + 4096);
  wr_buf_init(&p->early, EARLY_LIMIT);
  wr_buf_init(&p->out_pending, PENDING_LIMIT + WR_TUNNEL_DEFAULT_MAX_PAYLOAD);
  wr_buf_init(&p->in_pending, PENDING_LIMIT);
  ctx->inflight++;
  p->counted = 1;
  wr_metric_inc(ctx->m_requests);
  c->ops->stream_consume(s, head_len);

  char host[256], path[2048];
  copy_slice(host, sizeof host, req->dest);
  copy_slice(path, sizeof path, req->path);
  snprintf(p->target, sizeof p->target, "%.*s %.200s", (int)(req->method.len & 63), req->method.p,
           path);
  char *query = strchr(path, '?');
  if (query)
    *query = '\0';
  long idx = wr_ingress_match(ctx->ingress, host, strlen(host), *path ? path : "/");
  const wr_ingress_rule *rule = idx >= 0 ? &ctx->ingress->rules[idx] : NULL;
  p->req_fin = !(req->flags & WR_TUNNEL_F_BODY) && req->kind != WR_TUNNEL_KIND_WEBSOCKET;
  p->method_id = method_of(req->method);
  p->websocket = req->kind == WR_TUNNEL_KIND_WEBSOCKET;

  if (!rule) {
    snprintf(p->origin_name, sizeof p->origin_name, "none");
    WR_WARN("No ingress rule matches the request", "host=%s path=%s", host, path);
    wr_proxy_fail(p, WR_TUNNEL_ERR_NO_INGRESS, "no ingress rule matches this request");
    return 0;
  }
  const wr_service *svc = p->svc = &rule->service;
  p->orq = &rule->config;
  snprintf(p->origin_name, sizeof p->origin_name, "%s", svc->text);
  if (wr_proxy_serve_builtin(p))
    return 0;
  const char *host_header = p->orq->http_host_header ? p->orq->http_host_header : host;
  if (wr_proxy_build_head(p, req, host_header) != 0) {
    wr_proxy_fail(p, WR_TUNNEL_ERR_BAD_REQUEST, "the request cannot be sent to the origin");
    return 0;
  }
  wr_h1_parser_set_request_method(&p->rp, p->method_id);
  wr_origin_connect(p);
  return 0;
}

void wr_proxy_on_data(wr_proxy *p, const uint8_t *data, size_t len, int fin) {
  if (p->discard || p->req_done) {
    if (len && !p->stream_closed)
      wr_proxy_ops(p)->stream_consume(p->s, len);
    return;
  }
  if (len) {
    int rv;
    if (!p->oc || p->oc->connecting)
      rv = wr_buf_append(&p->early, data, len); /* consumed once written */
    else
      rv = p->upgraded || p->websocket ? wr_origin_send(p, NULL, 0, data, len, NULL, len)
                                       : wr_proxy_send_body(p, data, len);
    if (rv) {
      wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "request body buffer limit");
      return;
    }
  }
  if (fin) {
    p->req_fin = 1;
    wr_proxy_finish_body(p); /* now, or once the origin connection is up */
  }
}

void wr_proxy_on_writable(wr_proxy *p) {
  if (p->stream_closed)
    return;
  if (p->out_pending.len) {
    ssize_t n = wr_proxy_ops(p)->stream_write(p->s, p->out_pending.data, p->out_pending.len);
    if (n > 0)
      wr_buf_consume(&p->out_pending, (size_t)n);
    if (p->out_pending.len)
      return;
  }
  if (p->in_pending.len) {
    wr_buf in = p->in_pending;
    wr_buf_init(&p->in_pending, in.limit);
    wr_proxy_pump_response(p, in.data, in.len);
    wr_buf_free(&in);
    if (p->out_pending.len)
      return;
  }
  if (p->resp_done) {
    wr_proxy_end_stream(p);
  } else if (p->origin_paused && p->oc) {
    p->origin_paused = 0;
    if (wr_origin_read_start(p->oc) != 0)
      wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_RESPONSE, "the origin connection failed");
  }
}

void wr_proxy_on_reset(wr_proxy *p, uint64_t code) {
  WR_DEBUG("The edge cancelled a request", "path=\"%s\" code=%llu", p->target,
           (unsigned long long)code);
  wr_origin_close(p->oc);
  p->discard = 1;
  wr_proxy_finished(p);
}

void wr_proxy_on_close(wr_proxy *p) {
  p->stream_closed = 1;
  if (p->resp_done)
    wr_proxy_release_origin(p);
  else
    wr_origin_close(p->oc);
  p->s = NULL;
  wr_proxy_release(p);
}
