/* edge_registry.h: the edge's connector side.
 *
 * Connector connections arrive through the tunnel seam (net/mux.h) from the
 * edge's QUIC and HTTP/2 listeners, whose events are this registry's
 * (wr_edge_registry_events, with the registry as the listener's user). On
 * each one the edge opens the control stream and speaks first with PING; the
 * connector answers PONG and REGISTER with an HMAC proof bound to the TLS
 * session (docs/protocol.md); the registry answers REGISTERED and enters the
 * connection in the routing table (tunnel/routes.h), or REGISTER_ERROR and
 * closes it. A connection may instead send CLEANUP (`warren tunnel
 * cleanup`), proved the same way: the registry closes the tunnel's other
 * connections (or one connector's) and answers CLEANED with the count.
 * It also handles UNREGISTER (drain), the registration timeout,
 * the "unresponsive connection" check, and UNREGISTER to connectors when the
 * edge shuts down.
 *
 * Streams on these connections belong to whoever opened them: the user
 * pointer of every stream is a wr_edge_stream_user (the control stream's is
 * the registry's own; a request stream's is the tunnel proxy's,
 * tunnel/edge_proxy.h), whose events the registry forwards. */
#ifndef WR_TUNNEL_EDGE_REGISTRY_H
#define WR_TUNNEL_EDGE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/metrics.h"
#include "net/mux.h"
#include "proto/tunnel/tunnel.h"
#include "tunnel/routes.h"

typedef struct wr_edge_registry wr_edge_registry;
typedef struct wr_edge_stream_user wr_edge_stream_user;

/* What the owner of a stream hears; every member required. The stream is as
 * in wr_mux_events (data valid during the call; consume what is dealt with;
 * the stream is freed after on_close returns). */
typedef struct wr_edge_stream_events {
  void (*on_data)(wr_edge_stream_user *u, const uint8_t *data, size_t len, int fin);
  void (*on_writable)(wr_edge_stream_user *u);
  void (*on_reset)(wr_edge_stream_user *u, uint64_t code);
  void (*on_close)(wr_edge_stream_user *u, int has_code, uint64_t code);
} wr_edge_stream_events;

/* A stream's user pointer: embed it in the object that owns the stream. A
 * request stream's user is also on its connection's list
 * (wr_edge_conn_track), so that when the connection is judged dead its
 * requests hear of it at once (on_conn_lost) instead of at the transport's
 * idle timeout. */
struct wr_edge_stream_user {
  const wr_edge_stream_events *ev;
  /* The connection stopped answering (or was superseded): u's stream will
   * likely never finish. u stops using it (wr_edge_conn_untrack first). May
   * be NULL (the control stream). */
  void (*on_conn_lost)(wr_edge_stream_user *u);
  /* Called on every sweep (about every 250 ms) while tracked. May be NULL. */
  void (*on_tick)(wr_edge_stream_user *u);
  struct wr_edge_stream_user *prev, *next; /* the registry's */
};

/* One connector connection. Owned by the registry: valid from its
 * registration until the transport closes it (after every stream on it
 * closed); wr_route_conn.conn points here. Others read c, t and conn_id. */
typedef struct wr_edge_conn {
  wr_mux_conn *c;
  wr_route_tunnel *t; /* the tunnel it registered for; NULL before */
  char conn_id[40];
  /* the registry's */
  wr_edge_registry *reg;
  struct wr_edge_conn *prev, *next;
  wr_edge_stream_user ctl_user;
  wr_mux_stream *ctl;
  wr_tunnel_decoder dec;
  wr_buf out; /* control bytes the stream has not taken yet */
  const uint8_t *secret;
  size_t secret_len;
  unsigned index;
  uint8_t connector_id[16];      /* from REGISTER: with t and index, who this is */
  wr_edge_stream_user *requests; /* tracked request streams */
  char peer[64];
  uint64_t reg_deadline_ns; /* 0 once registered */
  uint64_t close_at_ns;     /* close after a last answer had time to leave: */
  uint64_t close_code;      /* with this code */
  const char *close_reason; /* and reason (static) */
  int registered, draining, closing, unregister_sent;
  /* A newer registration of the same connector and index took over, or a
   * cleanup closed it: out of routing, the gauge and /tunnels while it
   * closes (or drains). */
  int retired;
  int64_t registered_at; /* Unix seconds of the registration, for `tunnel info` */
} wr_edge_conn;

typedef struct wr_edge_registry_config {
  wr_routes *routes;            /* required; must outlive the registry */
  const char *location;         /* reported to connectors (copied) */
  uint64_t register_timeout_ms; /* a connector must register within this */
  /* The edge's metric families (must outlive the registry). */
  wr_metric_family *conns;  /* gauge: tunnel,protocol */
  wr_metric_family *regs;   /* counter: result */
  wr_metric_family *errors; /* counter: reason */
  wr_metric_family *cleanups; /* counter: result (tunnel cleanup requests); may be NULL */
  /* A connection of t can take requests now (it registered, or answers
   * again); may be NULL. */
  void (*on_ready)(void *arg, wr_route_tunnel *t);
  void *ready_arg;
} wr_edge_registry_config;

/* 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_edge_registry_new(wr_edge_registry **pr, const wr_edge_registry_config *cfg);
/* Frees r and the secrets (wiped); after every connection closed. */
void wr_edge_registry_free(wr_edge_registry *r);
/* The secret connectors of tunnel t prove (copied). 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_edge_registry_add_secret(wr_edge_registry *r, wr_route_tunnel *t,
                                              const uint8_t *secret, size_t len);
/* A reloaded tunnels file (the edge's live tunnel changes). */
/* Sets tunnel t's secret (copied): *pchanged is 1 when it was new or
 * different. Connections registered with an old secret stay until closed
 * (wr_edge_registry_close_tunnel). 0, WR_ERR_NOMEM (nothing changed). */
WR_MUST_CHECK int wr_edge_registry_set_secret(wr_edge_registry *r, wr_route_tunnel *t,
                                              const uint8_t *secret, size_t len, int *pchanged);
/* Takes t's connections out of routing and closes them (code
 * REGISTRATION_FAILED, reason why, for the connector's log). Returns how
 * many. */
size_t wr_edge_registry_close_tunnel(wr_edge_registry *r, wr_route_tunnel *t, const char *why);
/* Forgets t's secret (wiped) and closes its connections: a deleted tunnel's
 * credentials are refused from now on ("unknown tunnel" once it left the
 * routing table). Returns the connections closed. */
size_t wr_edge_registry_revoke(wr_edge_registry *r, wr_route_tunnel *t, const char *why);
/* The events for the listeners (their user: the registry). */
const wr_mux_events *wr_edge_registry_events(void);
/* Registration deadlines, refusals' linger, the unresponsive check; while
 * draining, UNREGISTER to connections without requests in flight. */
void wr_edge_registry_sweep(wr_edge_registry *r, uint64_t now_ns);
/* The edge shuts down: no new registrations; UNREGISTER (going away) to every
 * connection without a request in flight, to the others once theirs ended. */
void wr_edge_registry_drain(wr_edge_registry *r);
/* The routing group of ec: its connector process (from the connector id),
 * never 0. */
uint64_t wr_edge_conn_group(const wr_edge_conn *ec);
/* Puts u (a request stream opened on ec) on ec's list, or takes it off
 * (a no-op when it is not on it). */
void wr_edge_conn_track(wr_edge_conn *ec, wr_edge_stream_user *u);
void wr_edge_conn_untrack(wr_edge_conn *ec, wr_edge_stream_user *u);
/* Appends, as one JSON object, every registered connection by tunnel (what
 * `warren tunnel info` shows; the edge serves it at /tunnels on its metrics
 * address): {"location":..,"tunnels":[{"name":..,"id":..,"connections":
 * [{"connectorID":..,"connIndex":N,"protocol":..,"originIP":..,"since":
 * RFC 3339,"state":"ready"|"unresponsive"|"draining"},...]},...]}. Tunnels
 * without a connection are left out. 0, WR_ERR_LIMIT, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_edge_registry_json(const wr_edge_registry *r, wr_buf *out);
/* Registered connections that can take requests, over all tunnels. */
size_t wr_edge_registry_ready(const wr_edge_registry *r);

#endif
