/* mux.h: the seam between the tunnel logic and its transports.
 *
 * The edge and the connector speak to a connector connection through this
 * small table of functions, whichever transport carries it: QUIC
 * (mux_quic.c) or HTTP/2 over TLS/TCP. Both give the same semantics:
 * either side opens bidirectional byte streams; writes are bounded (WR_ERR_AGAIN
 * when the send queue is full, then on_stream_writable); received bytes give
 * credit back to the peer only when consumed, so a slow reader slows the writer
 * end to end; FIN ends a direction; an abort resets both with a code.
 *
 * Lifetimes follow the transport's: a wr_mux_conn lives until on_closed
 * returns; a stream until on_stream_close returns. Callbacks may call any
 * function here. */
#ifndef WR_NET_MUX_H
#define WR_NET_MUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "base/err.h"

typedef struct wr_mux_conn wr_mux_conn;
/* A transport's stream, used only through its connection's ops. */
typedef struct wr_mux_stream wr_mux_stream;

/* What the tunnel logic hears from a connection. Any member may be NULL. */
typedef struct wr_mux_events {
  /* The handshake completed (the peer is verified on a client). */
  void (*on_connected)(wr_mux_conn *c);
  /* The connection is gone; err 0 when this side closed it, else a WR_ERR_*
   * with a one-sentence reason. c is freed after this returns. */
  void (*on_closed)(wr_mux_conn *c, int err, const char *reason);
  /* The peer may open more of our streams again (after WR_ERR_LIMIT). */
  void (*on_streams_available)(wr_mux_conn *c);
  /* The peer opened stream s. */
  void (*on_stream_open)(wr_mux_conn *c, wr_mux_stream *s);
  /* In-order bytes (data valid during the call only); fin: nothing more
   * comes. Call ops->stream_consume once the bytes are dealt with. */
  void (*on_stream_data)(wr_mux_conn *c, wr_mux_stream *s, const uint8_t *data, size_t len,
                         int fin);
  /* A write that answered WR_ERR_AGAIN may be retried. */
  void (*on_stream_writable)(wr_mux_conn *c, wr_mux_stream *s);
  /* The peer aborted its side of s with code. */
  void (*on_stream_reset)(wr_mux_conn *c, wr_mux_stream *s, uint64_t code);
  /* s is finished both ways; code is meaningful when has_code. s is freed
   * after this returns. */
  void (*on_stream_close)(wr_mux_conn *c, wr_mux_stream *s, int has_code, uint64_t code);
} wr_mux_events;

/* Figures a transport reports for metrics. */
typedef struct wr_mux_stats {
  uint64_t rtt_ns;
  uint64_t cwnd;
  uint64_t lost_packets; /* QUIC: packets lost; TCP: segments retransmitted (TCP_INFO) */
  uint64_t bytes_sent, bytes_recv;
  uint64_t streams_open;
  /* How long sent data has gone without any answer from the peer (QUIC:
   * nothing received while packets are in flight; TCP: retransmission
   * timeouts since the last ACK); 0 when nothing is overdue. */
  uint64_t unanswered_ns;
  /* How long since anything at all came from the peer. */
  uint64_t heard_ago_ns;
} wr_mux_stats;

typedef struct wr_mux_ops {
  const char *protocol; /* "quic" or "http2", for logs and metrics */
  /* Opens a bidirectional stream. 0, WR_ERR_LIMIT (peer allows no more now),
   * WR_ERR_CLOSED, WR_ERR_AGAIN (not connected yet), WR_ERR_NOMEM,
   * WR_ERR_UNSUPPORTED (this side cannot open streams: a connector over
   * http2, the HTTP/2 server). The peer may hear of the stream only with its
   * first byte or FIN (QUIC), so write or end it. */
  int (*stream_open)(wr_mux_conn *c, void *user, wr_mux_stream **ps);
  /* Bytes taken (copied; maybe fewer than len), WR_ERR_AGAIN, WR_ERR_CLOSED. */
  ssize_t (*stream_write)(wr_mux_stream *s, const void *data, size_t len);
  /* FIN after what is queued. */
  int (*stream_end)(wr_mux_stream *s);
  /* Resets both directions with code. */
  int (*stream_abort)(wr_mux_stream *s, uint64_t code);
  /* The application is done with n received bytes: the peer may send more. */
  void (*stream_consume)(wr_mux_stream *s, size_t n);
  /* Bytes written and not yet acknowledged. */
  size_t (*stream_queued)(const wr_mux_stream *s);
  void (*stream_set_user)(wr_mux_stream *s, void *user);
  void *(*stream_user)(const wr_mux_stream *s);
  /* Closes the connection with an application code and reason. */
  void (*close)(wr_mux_conn *c, uint64_t code, const char *reason);
  /* TLS exporter bytes of the connection's session (registration proof). */
  int (*export_keying)(wr_mux_conn *c, const char *label, const uint8_t *ctx, size_t ctxlen,
                       uint8_t *out, size_t outlen);
  void (*stats)(wr_mux_conn *c, wr_mux_stats *out);
  /* Asks the peer for an answer soon, so that stats' unanswered_ns can grow
   * when it gives none; the tunnel logic calls it while requests wait (a
   * PING when nothing asks already: over http2, a frozen peer's kernel still
   * acknowledges TCP; over QUIC, a request fully sent and acknowledged
   * leaves nothing in flight). May be NULL. */
  void (*probe)(wr_mux_conn *c);
  /* Short id for log lines. */
  const char *(*id)(const wr_mux_conn *c);
  const struct sockaddr *(*peer_addr)(const wr_mux_conn *c);
} wr_mux_ops;

/* The common head of every transport's connection object: the tunnel logic
 * sets ev and user; the transport sets ops. */
struct wr_mux_conn {
  const wr_mux_ops *ops;
  const wr_mux_events *ev;
  void *user;
};

#endif
