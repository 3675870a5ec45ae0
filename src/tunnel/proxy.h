/* proxy.h: the connector's side of one tunnelled request.
 *
 * The edge opens a stream and sends a REQUEST (proto/tunnel/tunnel.h) followed by
 * the request body; the connector picks a service by its ingress rules and
 * answers: a fixed status, the built-in hello page, or the response of an
 * HTTP origin reached over TCP or a Unix socket. Bodies stream both ways
 * with backpressure: origin bytes are read only as fast as the stream takes
 * them, and stream bytes are consumed (the edge gets credit) only once the
 * origin socket has taken them.
 *
 * Origin connections are kept alive in a pool per origin (keepAliveConnections
 * idle ones at most, each closed after keepAliveTimeout). */
#ifndef WR_TUNNEL_PROXY_H
#define WR_TUNNEL_PROXY_H

#include <stdint.h>
#include <uv.h>

#include "tunnel/ingress.h"
#include "base/metrics.h"
#include "proto/tunnel/tunnel.h"
#include "net/mux.h"

typedef struct wr_proxy wr_proxy;

/* Shared state of every request of one connector. */
typedef struct wr_proxy_ctx {
  uv_loop_t *loop;
  const wr_ingress *ingress; /* the rules that pick each request's service */
  wr_metrics *metrics; /* may be NULL */
  /* internal */
  struct origin_conn *conns;  /* every origin connection, idle ones are the pool */
  struct origin_tls *tls;     /* client credentials per TLS origin, shared by its conns */
  int closed;                 /* wr_proxy_ctx_close ran: free credentials with their last conn */
  uv_timer_t sweep;           /* closes idle and stuck connecting ones */
  uv_check_t flush;           /* end of a loop turn: sends what origins were written */
  struct origin_conn *corked; /* origin connections written to in this turn */
  size_t inflight;
  wr_metric *m_requests, *m_errors, *m_origin_conns;
  wr_metric_family *m_codes;
} wr_proxy_ctx;

void wr_proxy_ctx_init(wr_proxy_ctx *ctx, uv_loop_t *loop, const wr_ingress *ingress,
                       wr_metrics *metrics);
/* Closes the idle pool and the sweep timer (in-flight requests end with their
 * streams). ctx must stay valid until the loop has run the close callbacks. */
void wr_proxy_ctx_close(wr_proxy_ctx *ctx);

/* Takes over a request stream the edge opened on c, whose REQUEST message
 * (head_len bytes, already decoded into req) came first: the proxy copies
 * what it needs from req and answers; the connector forwards the stream's
 * later events with the functions below, starting with the bytes after the
 * REQUEST. *pp is the new proxy. Returns 0, or WR_ERR_NOMEM (then the stream
 * was aborted). */
WR_MUST_CHECK int wr_proxy_start(wr_proxy_ctx *ctx, wr_mux_conn *c, wr_mux_stream *s,
                                 const wr_tunnel_request *req, size_t head_len, wr_proxy **pp);

/* Stream events for a stream owned by a proxy (its stream user pointer). */
void wr_proxy_on_data(wr_proxy *p, const uint8_t *data, size_t len, int fin);
void wr_proxy_on_writable(wr_proxy *p);
void wr_proxy_on_reset(wr_proxy *p, uint64_t code);
void wr_proxy_on_close(wr_proxy *p);

#endif
