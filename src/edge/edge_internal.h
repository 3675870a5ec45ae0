/* edge_internal.h: what edge.c (connectors, lifecycle) and edge_public.c
 * (the users' HTTP side) share. Private to src/edge/edge*.c. */
#ifndef WR_EDGE_EDGE_INTERNAL_H
#define WR_EDGE_EDGE_INTERNAL_H

#include <stdint.h>

#include "edge/edge.h"
#include "http/metrics_http.h"
#include "tunnel/routes.h"
#include "base/buf.h"
#include "base/metrics.h"
#include "proto/http/http1.h"
#include "proto/tunnel/tunnel.h"
#include "net/quic.h"
#include "net/mux.h"
#include "net/mux_h2.h"
#include "net/mux_quic.h"

/* Stream and connection user pointers start with one of these, so a callback
 * can tell a control stream from a request stream, and an accepted
 * connection still pointing at the edge from a registered one. */
#define EDGE_MAGIC 0x65646765u  /* "edge" */
#define ECONN_MAGIC 0x65636f6eu /* "econ" */
#define PREQ_MAGIC 0x70726571u  /* "preq" */
#define H2REQ_MAGIC 0x68327271u /* "h2rq": an HTTP/2 request (edge_h2.c) */

typedef struct edge_secret {
  wr_route_tunnel *t;
  uint8_t *secret;
  size_t len;
} edge_secret;

typedef struct econn econn;
typedef struct pconn pconn;
typedef struct edge_h2 edge_h2;
struct wr_tls_tcp;

enum { EDGE_RUNNING = 0, EDGE_DRAINING, EDGE_CLOSING };

#define WR_EDGE_SPARE_BUFS 16

struct wr_edge {
  uint32_t magic;
  uv_loop_t *loop;
  wr_edge_config cfg; /* numbers with defaults applied; pointers not kept */
  char *location;
  wr_routes *routes;
  edge_secret *secrets;
  size_t nsecrets;
  wr_quic_endpoint *ep;
  wr_mux_quic_listener listener;
  wr_mux_h2_listener *h2;
  wr_metrics *reg;
  wr_metrics_http *mh;
  uv_tcp_t http;
  struct wr_tls_tcp_listener *https;
  uv_check_t flush_check; /* writes coalesced during a loop turn go out here */
  /* Spent user write buffers, reused by the next flushes (edge_public.c):
   * a fresh ~128 KiB buffer per uv_write cost a page fault per 4 KiB sent. */
  uint8_t *spare[WR_EDGE_SPARE_BUFS];
  size_t spare_cap[WR_EDGE_SPARE_BUFS];
  size_t nspare;
  int check_open;
  uv_timer_t sweep;
  int handles; /* libuv handles of the edge itself not yet closed */
  econn *econns;
  pconn *pconns;
  size_t npconns;
  int state;
  uint64_t grace_deadline_ns;
  void (*done)(wr_edge *e, void *arg);
  void *done_arg;
  int ep_closed, mh_closed, h2_closed, finished;
  /* metrics */
  wr_metric_family *m_conns;      /* gauge tunnel,protocol */
  wr_metric_family *m_regs;       /* counter result */
  wr_metric_family *m_requests;   /* counter tunnel */
  wr_metric_family *m_responses;  /* counter code */
  wr_metric_family *m_errors;     /* counter reason */
  wr_metric *m_bytes_in, *m_bytes_out; /* body bytes from users, to users */
  wr_metric *m_pub_open, *m_pub_total, *m_inflight;
};

/* A connector connection. */
struct econn {
  uint32_t magic;
  wr_edge *e;
  wr_mux_conn *c;
  econn *prev, *next;
  wr_mux_stream *ctl;
  wr_tunnel_decoder dec;
  wr_buf out; /* control bytes the stream has not taken yet */
  edge_secret *sec; /* after registration */
  unsigned index;
  char conn_id[40];
  char peer[64];
  uint64_t reg_deadline_ns; /* 0 once registered */
  uint64_t close_at_ns;     /* close after a REGISTER_ERROR had time to leave */
  int registered, draining, closing, unregister_sent;
};

/* edge.c */
void wr_edge_count_response(wr_edge *e, int status);
void wr_edge_count_error(wr_edge *e, const char *reason);
/* Opens a request stream on ec with user pointer user. Errors as stream_open. */
WR_MUST_CHECK int wr_edge_open_stream(econn *ec, void *user, wr_mux_stream **ps);
void wr_edge_maybe_finish(wr_edge *e);

/* edge_public.c: the users' side. */
WR_MUST_CHECK int wr_edge_public_start(wr_edge *e, const struct sockaddr *addr, char *err,
                                       size_t errlen);
WR_MUST_CHECK int wr_edge_https_start(wr_edge *e, const struct sockaddr *addr,
                                      const wr_tls_server *tls, char *err, size_t errlen);
/* Request stream events, forwarded by edge.c for streams whose user is a preq. */
void wr_edge_public_stream_data(void *preq, const uint8_t *data, size_t len, int fin);
void wr_edge_public_stream_writable(void *preq);
void wr_edge_public_stream_reset(void *preq, uint64_t code);
void wr_edge_public_stream_close(void *preq, int has_code, uint64_t code);
/* The periodic sweep: header and idle timeouts, the end of a grace period. */
void wr_edge_public_sweep(wr_edge *e, uint64_t now_ns);
/* Shutdown: stop accepting; close idle connections (and all with force). */
void wr_edge_public_stop(wr_edge *e, int force);

/* Shared by the HTTP/1.1 and HTTP/2 sides (edge_public.c). */
/* Encodes the REQUEST message for h (method, target, host = authority,
 * headers; hop-by-hop ones dropped, X-Forwarded-For/-Proto and Forwarded
 * added for ip) onto out. Returns 0 or the encoder's error (WR_ERR_LIMIT...). */
WR_MUST_CHECK int wr_edge_build_request(wr_buf *out, int kind, int has_body, const wr_h1_head *h,
                                        const char *ip, int websocket, int https);
/* Picks a connection of t (not avoid), opens a request stream with user
 * pointer user; *pec and *ps are set. 0, or WR_ERR_NOTFOUND when the tunnel
 * has no connection that takes a stream. */
WR_MUST_CHECK int wr_edge_pick_and_open(wr_route_tunnel *t, const void *avoid, void *user,
                                        econn **pec, wr_mux_stream **ps);
/* The user-facing status, title and sentence for a STREAM_ERROR code. */
void wr_edge_stream_error_status(uint64_t code, int *status, const char **title,
                                 const char **detail);
/* The edge's own HTML page into buf; returns its length (0 when cap is too small). */
int wr_edge_local_page(char *buf, size_t cap, int status, const char *title, const char *detail);
/* 1 when a response header must not be passed on to the user (hop-by-hop). */
int wr_edge_response_hop_by_hop(wr_h1_slice name);
/* 1 for the methods RFC 9110 (9.2.2) calls idempotent: a request with one may
 * go again on another connection when the first one died under it. */
int wr_edge_method_idempotent(wr_h1_slice method);

/* edge_h2.c: HTTP/2 users on the HTTPS port (ALPN "h2"). */
/* Starts a server session on t (connected, ALPN h2) for the user at ip
 * (copied). 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_edge_h2_new(edge_h2 **ph, wr_edge *e, struct wr_tls_tcp *t, const char *ip);
/* Decrypted bytes from the user. May close the connection (wr_tls_tcp_close). */
void wr_edge_h2_recv(edge_h2 *h, const uint8_t *data, size_t len);
/* The TLS queue drained: send what waits. */
void wr_edge_h2_writable(edge_h2 *h);
/* Graceful shutdown: GOAWAY, no new streams. Returns 1 when no stream is left
 * (the caller closes the connection), else 0 (it closes itself later). */
int wr_edge_h2_drain(edge_h2 *h);
/* 1 when the session has had no stream for idle_ns. */
int wr_edge_h2_idle(edge_h2 *h, uint64_t now_ns, uint64_t idle_ns);
/* The TLS connection is gone: aborts every tunnel stream and frees h. */
void wr_edge_h2_free(edge_h2 *h);
/* Request stream events for H2REQ_MAGIC users. */
void wr_edge_h2_stream_data(void *r, const uint8_t *data, size_t len, int fin);
void wr_edge_h2_stream_writable(void *r);
void wr_edge_h2_stream_reset(void *r, uint64_t code);
void wr_edge_h2_stream_close(void *r, int has_code, uint64_t code);

#endif
