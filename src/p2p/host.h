/* host.h: the libp2p host: one identity, TCP listeners, connections
 * upgraded to Noise and yamux, protocol handlers per stream, identify and
 * ping built in. The daemon composes it; `warren diag p2p` drives it.
 *
 * A connection is upgraded as libp2p's connections spec says: multistream-
 * select "/noise" on the TCP bytes, the Noise XX handshake (net/noise_stream),
 * multistream-select "/yamux/1.0.0" inside Noise, then a yamux session
 * (proto/p2p/yamux) whose every stream negotiates its protocol with
 * multistream-select once more. The whole upgrade must finish within
 * handshake_timeout_ms; a peer that sends bytes yamux cannot parse is sent
 * GO_AWAY and dropped, and the host serves on.
 *
 * Why yamux is not behind net/mux.h: that seam's users (the tunnel) open
 * anonymous streams, while every libp2p stream carries a protocol
 * negotiated in-band before its first byte, identify needs the verified
 * peer ID, and the connection itself comes from an upgrade of a byte
 * stream rather than from a transport of its own. The host's stream
 * objects below play mux.h's role for libp2p; the second transport, QUIC
 * with libp2p TLS (/udp/P/quic-v1), plugs in under the same wr_p2p_conn:
 * its native streams replace yamux, negotiated the same way.
 *
 * Lifetimes are libuv's: the caller owns the host; every end is announced
 * by a callback from the loop, and memory goes after it returns. Callbacks
 * may call anything here. Received stream bytes are consumed when on_data
 * returns (the window goes back to the peer), so a handler must copy what
 * it keeps; a stream set to manual consumption gives the window back only
 * when wr_p2p_stream_consume says so, which is how a slow consumer slows
 * the peer. Single-threaded. */
#ifndef WR_P2P_HOST_H
#define WR_P2P_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "base/err.h"
#include "proto/p2p/identify.h"
#include "proto/p2p/multiaddr.h"
#include "proto/p2p/peerid.h"

#define WR_PING_PROTOCOL "/ipfs/ping/1.0.0"
#define WR_P2P_MAX_LISTEN 16

typedef struct wr_p2p_host wr_p2p_host;
typedef struct wr_p2p_conn wr_p2p_conn;
typedef struct wr_p2p_stream wr_p2p_stream;

typedef struct wr_p2p_host_config {
  const char *agent_version;     /* identify's agentVersion ("warren/0.1.0") */
  const char *protocol_version;  /* default "ipfs/0.1.0" */
  uint32_t max_conns;            /* connections at once; default 1024 */
  uint32_t max_streams;          /* per connection; default 1024 */
  uint64_t handshake_timeout_ms; /* TCP connect + upgrade; default 10000 */
  uint64_t keepalive_ms;         /* yamux PING on open connections, dropped when one is
                                  * unanswered a whole period; default 15000 */
} wr_p2p_host_config;

/* What the host's owner hears. Any member may be NULL. */
typedef struct wr_p2p_host_events {
  /* An upgraded connection (either direction) is ready. */
  void (*on_conn_open)(wr_p2p_host *h, wr_p2p_conn *c);
  /* The peer answered identify (wr_p2p_conn_info is filled). */
  void (*on_identified)(wr_p2p_host *h, wr_p2p_conn *c);
  /* A connection that was open is gone; c is freed after the call. */
  void (*on_conn_closed)(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason);
} wr_p2p_host_events;

/* One stream's events. Any member may be NULL. */
typedef struct wr_p2p_stream_events {
  /* Our proposal was accepted (streams we open); writes may start. */
  void (*on_open)(wr_p2p_stream *st);
  void (*on_data)(wr_p2p_stream *st, const uint8_t *p, size_t n);
  /* The peer ended its direction. */
  void (*on_fin)(wr_p2p_stream *st);
  /* A write that answered WR_ERR_AGAIN may be retried. */
  void (*on_writable)(wr_p2p_stream *st);
  /* The stream is gone: err 0 after FIN both ways, WR_ERR_CLOSED (reset, or
   * the connection ended), WR_ERR_NOTFOUND (the peer refused the protocol),
   * WR_ERR_MALFORMED. st is freed after the call. */
  void (*on_closed)(wr_p2p_stream *st, int err, const char *reason);
} wr_p2p_stream_events;

/* A handler is given an inbound stream whose protocol it registered; it
 * must set events (wr_p2p_stream_set_events) or reset the stream. */
typedef void (*wr_p2p_handler_fn)(wr_p2p_stream *st, void *data);
typedef void (*wr_p2p_dial_cb)(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason,
                               void *data);
typedef void (*wr_p2p_ping_cb)(wr_p2p_conn *c, int err, uint64_t rtt_ns, void *data);

/* What identify told about a peer. Strings are NUL-terminated copies. */
typedef struct wr_p2p_peer_info {
  int identified;
  char agent_version[256];
  char protocol_version[64];
  char *protocols[WR_IDENTIFY_MAX_PROTOCOLS];
  size_t nprotocols;
  wr_maddr listen_addrs[WR_P2P_MAX_LISTEN];
  size_t nlisten_addrs;
  wr_maddr observed_addr; /* len 0 when not told */
} wr_p2p_peer_info;

/* Makes a host on loop with identity key (copied). The handlers for
 * identify (and push) and ping are registered. 0, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_p2p_host_new(wr_p2p_host **ph, uv_loop_t *loop, const wr_p2p_host_config *cfg,
                                  const wr_p2p_privkey *key, const wr_p2p_host_events *ev,
                                  void *user);
void *wr_p2p_host_user(const wr_p2p_host *h);
const wr_peerid *wr_p2p_host_id(const wr_p2p_host *h);
/* Listens on /ip4|ip6/ADDR/tcp/PORT or /ip4|ip6/ADDR/udp/PORT/quic-v1.
 * 0, WR_ERR_UNSUPPORTED (another shape),
 * WR_ERR_ADDRINUSE, WR_ERR_IO, WR_ERR_LIMIT (16 listeners). */
WR_MUST_CHECK int wr_p2p_host_listen(wr_p2p_host *h, const wr_maddr *ma);
/* The addresses we listen on, ports resolved, wildcards expanded to the
 * interfaces' addresses. Returns how many were written (at most cap). */
size_t wr_p2p_host_addrs(wr_p2p_host *h, wr_maddr *out, size_t cap);
/* Registers a handler for protocol (copied); a second one replaces it.
 * 0, WR_ERR_LIMIT, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_p2p_host_set_handler(wr_p2p_host *h, const char *protocol,
                                          wr_p2p_handler_fn fn, void *data);
/* The protocols with a handler, in registration order: pointers into the
 * host, valid while it lives. Returns how many were written (at most cap). */
size_t wr_p2p_host_protocols(const wr_p2p_host *h, const char **out, size_t cap);
/* Dials /ip4|ip6/ADDR/tcp/PORT[/p2p/ID] or .../udp/PORT/quic-v1[/p2p/ID]
 * (the peer must be ID when given).
 * cb follows from the loop with the open connection or the error. 0,
 * WR_ERR_UNSUPPORTED (address shape), WR_ERR_LIMIT, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_p2p_host_dial(wr_p2p_host *h, const wr_maddr *ma, wr_p2p_dial_cb cb,
                                   void *data);
/* Open connections, for listing (the list may change once control returns
 * to the loop). */
wr_p2p_conn *wr_p2p_host_conns(wr_p2p_host *h);
wr_p2p_conn *wr_p2p_conn_next(wr_p2p_conn *c);
/* The peerstore view: an open connection to peer (the newest), or NULL. */
wr_p2p_conn *wr_p2p_host_find_conn(wr_p2p_host *h, const wr_peerid *peer);
/* Stops listening and closes every connection; cb runs once all is gone,
 * then h is freed. */
void wr_p2p_host_close(wr_p2p_host *h, void (*cb)(wr_p2p_host *h, void *data), void *data);

const wr_peerid *wr_p2p_conn_peer(const wr_p2p_conn *c);
const wr_maddr *wr_p2p_conn_remote_addr(const wr_p2p_conn *c);
int wr_p2p_conn_outbound(const wr_p2p_conn *c);
const wr_p2p_peer_info *wr_p2p_conn_info(const wr_p2p_conn *c);
/* GO_AWAY, then a graceful close; on_conn_closed follows. */
void wr_p2p_conn_close(wr_p2p_conn *c);
/* Opens a stream proposing protocol (copied); on_open or on_closed follows.
 * 0, WR_ERR_LIMIT, WR_ERR_CLOSED, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_p2p_conn_open_stream(wr_p2p_conn *c, const char *protocol,
                                          const wr_p2p_stream_events *ev, void *user,
                                          wr_p2p_stream **pst);
/* Sends one ping (32 random bytes on /ipfs/ping/1.0.0, one stream per
 * connection) and calls cb with the round-trip time. WR_ERR_AGAIN while a
 * ping is outstanding. */
WR_MUST_CHECK int wr_p2p_ping(wr_p2p_conn *c, wr_p2p_ping_cb cb, void *data);

void wr_p2p_stream_set_events(wr_p2p_stream *st, const wr_p2p_stream_events *ev, void *user);
void *wr_p2p_stream_user(const wr_p2p_stream *st);
/* From now on, received bytes count against the peer's window until
 * wr_p2p_stream_consume (at most 256 KiB are delivered unconsumed). */
void wr_p2p_stream_manual_consume(wr_p2p_stream *st);
void wr_p2p_stream_consume(wr_p2p_stream *st, size_t n);
/* Lets the peer send up to window bytes (capped at 16 MiB) ahead of what
 * this side consumed, instead of yamux's initial 256 KiB, so one stream keeps
 * a fast link busy across a long round trip; for a reader that consumes as
 * bytes arrive (the window bounds nothing it buffers). A no-op on QUIC,
 * whose stream windows are the connection's settings. 0, WR_ERR_CLOSED. */
WR_MUST_CHECK int wr_p2p_stream_set_window(wr_p2p_stream *st, size_t window);
const char *wr_p2p_stream_protocol(const wr_p2p_stream *st);
wr_p2p_conn *wr_p2p_stream_conn(const wr_p2p_stream *st);
/* Bytes taken (copied; maybe fewer than n), WR_ERR_AGAIN, WR_ERR_CLOSED. */
WR_MUST_CHECK ssize_t wr_p2p_stream_write(wr_p2p_stream *st, const void *p, size_t n);
/* FIN after what is queued. */
WR_MUST_CHECK int wr_p2p_stream_end(wr_p2p_stream *st);
/* RST; on_closed follows from the loop. */
void wr_p2p_stream_reset(wr_p2p_stream *st);

#endif
