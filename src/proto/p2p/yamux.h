/* yamux.h: the yamux stream multiplexer (libp2p specs, yamux/), sans-I/O.
 *
 * Frames have a 12-byte header: version (0), type (DATA, WINDOW_UPDATE,
 * PING, GO_AWAY), flags (SYN, ACK, FIN, RST; 16 bits), stream ID and length
 * (32 bits each, big-endian); only DATA carries a body of length bytes. The
 * dialer of the connection opens odd stream IDs, the listener even ones.
 * Each direction of a stream has a window of 256 KiB that the reader raises
 * with WINDOW_UPDATE as it consumes.
 *
 * wr_yamux_session is the state machine of one connection: feed received
 * bytes to wr_yamux_input, send what collects in session->out, and call
 * wr_yamux_reap after every batch of calls (from the loop, never inside a
 * callback): streams finished both ways or reset are announced there with
 * on_stream_close and freed, so no call frees a stream its caller holds.
 * Callbacks may call any function here. */
#ifndef WR_PROTO_P2P_YAMUX_H
#define WR_PROTO_P2P_YAMUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_YAMUX_PROTOCOL "/yamux/1.0.0"
#define WR_YAMUX_HDR 12
#define WR_YAMUX_INITIAL_WINDOW (256 * 1024)
/* The largest receive window a stream may be given (go-yamux's cap). */
#define WR_YAMUX_MAX_WINDOW (16u * 1024 * 1024)
/* DATA frames we send carry at most this much, so streams interleave. */
#define WR_YAMUX_MAX_FRAME (16 * 1024)

enum { WR_YAMUX_DATA = 0, WR_YAMUX_WINDOW_UPDATE = 1, WR_YAMUX_PING = 2, WR_YAMUX_GO_AWAY = 3 };
enum { WR_YAMUX_SYN = 1, WR_YAMUX_ACK = 2, WR_YAMUX_FIN = 4, WR_YAMUX_RST = 8 };
enum { WR_YAMUX_GOAWAY_NORMAL = 0, WR_YAMUX_GOAWAY_PROTOCOL = 1, WR_YAMUX_GOAWAY_INTERNAL = 2 };

typedef struct wr_yamux_hdr {
  uint8_t version, type;
  uint16_t flags;
  uint32_t stream_id, length;
} wr_yamux_hdr;

/* Reads a header: WR_ERR_MALFORMED for a version other than 0, an unknown
 * type or unknown flags, with *preason. */
WR_MUST_CHECK int wr_yamux_hdr_decode(const uint8_t p[WR_YAMUX_HDR], wr_yamux_hdr *h,
                                      const char **preason);
void wr_yamux_hdr_encode(const wr_yamux_hdr *h, uint8_t out[WR_YAMUX_HDR]);

typedef struct wr_yamux_session wr_yamux_session;
typedef struct wr_yamux_stream wr_yamux_stream;

typedef struct wr_yamux_events {
  /* The peer opened st; it is accepted (ACK sent). */
  void (*on_stream_open)(wr_yamux_session *y, wr_yamux_stream *st);
  /* In-order bytes, valid during the call; call wr_yamux_stream_consume. */
  void (*on_stream_data)(wr_yamux_session *y, wr_yamux_stream *st, const uint8_t *p, size_t n);
  /* The peer sent FIN. */
  void (*on_stream_fin)(wr_yamux_session *y, wr_yamux_stream *st);
  /* A write that answered WR_ERR_AGAIN may go on. */
  void (*on_stream_writable)(wr_yamux_session *y, wr_yamux_stream *st);
  /* From wr_yamux_reap: st is finished (reset: by RST or the session's
   * end) and freed after the call. */
  void (*on_stream_close)(wr_yamux_session *y, wr_yamux_stream *st, int reset);
  void (*on_ping_ack)(wr_yamux_session *y, uint32_t opaque);
  void (*on_goaway)(wr_yamux_session *y, uint32_t code);
} wr_yamux_events;

typedef struct wr_yamux_config {
  uint32_t max_streams; /* open streams at once; the peer's SYN past it is reset */
  size_t out_limit;     /* out buffer bytes past which writes answer WR_ERR_AGAIN */
  uint32_t window;      /* receive window per stream: 256 KiB for now */
} wr_yamux_config;

struct wr_yamux_session {
  int client;
  const wr_yamux_events *ev;
  void *user;
  wr_yamux_config cfg;
  wr_buf out; /* frames to send, in order */
  uint32_t next_id;
  uint32_t nstreams;
  int goaway_sent, goaway_recv, failed;
  /* input state */
  uint8_t hdr[WR_YAMUX_HDR];
  size_t hdr_have;
  uint32_t body_left, body_stream;
  int body_deliver;
  wr_yamux_stream **table;
  size_t table_size;
  wr_yamux_stream *done; /* to announce and free in reap */
  int blocked;           /* a write answered AGAIN because out was full */
};

/* Sets up a session (client: we dialed the connection). WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_yamux_init(wr_yamux_session *y, int client, const wr_yamux_config *cfg,
                                const wr_yamux_events *ev, void *user);
/* Frees every stream without callbacks and the buffers. */
void wr_yamux_free(wr_yamux_session *y);
/* Takes n received bytes (all of them, or an error after which the session
 * is failed: a GO_AWAY with the protocol-error code is in out).
 * WR_ERR_MALFORMED with *preason. */
WR_MUST_CHECK int wr_yamux_input(wr_yamux_session *y, const uint8_t *p, size_t n,
                                 const char **preason);
/* Announces and frees finished streams. */
void wr_yamux_reap(wr_yamux_session *y);
/* Tells the session out was drained (bytes removed from its front): blocked
 * writers hear on_stream_writable. */
void wr_yamux_out_drained(wr_yamux_session *y);
/* Opens a stream (SYN goes out at once). WR_ERR_LIMIT (too many streams),
 * WR_ERR_CLOSED (GO_AWAY), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_yamux_open(wr_yamux_session *y, void *user, wr_yamux_stream **pst);
/* Queues up to n bytes as DATA within the peer's window: the bytes taken,
 * WR_ERR_AGAIN (no window or out full: on_stream_writable follows),
 * WR_ERR_CLOSED (after FIN or RST). */
WR_MUST_CHECK ssize_t wr_yamux_stream_write(wr_yamux_stream *st, const uint8_t *p, size_t n);
/* Like wr_yamux_stream_write, but past out_limit (within the out buffer's
 * hard cap and the peer's window): for the few bytes of a stream's protocol
 * negotiation, which have no writer to retry them when the session is busy
 * with bulk data. */
WR_MUST_CHECK ssize_t wr_yamux_stream_write_control(wr_yamux_stream *st, const uint8_t *p,
                                                    size_t n);
/* Sends FIN. WR_ERR_CLOSED when already ended. */
WR_MUST_CHECK int wr_yamux_stream_end(wr_yamux_stream *st);
/* Sends RST; the stream is finished (announced by reap). */
void wr_yamux_stream_reset(wr_yamux_stream *st);
/* The application is done with n received bytes. */
void wr_yamux_stream_consume(wr_yamux_stream *st, size_t n);
/* Raises the stream's receive window to window bytes (a WINDOW_UPDATE for
 * the difference goes out at once; credit then comes back in halves of the
 * new window): a reader that takes bytes as they come and must keep a fast
 * sender busy across a long round trip asks for more than the initial
 * 256 KiB. Windows never shrink (a smaller figure is a no-op). 0,
 * WR_ERR_INVAL (over WR_YAMUX_MAX_WINDOW), WR_ERR_CLOSED (ended), or
 * put_frame's error. */
WR_MUST_CHECK int wr_yamux_stream_set_window(wr_yamux_stream *st, uint32_t window);
uint32_t wr_yamux_stream_id(const wr_yamux_stream *st);
void *wr_yamux_stream_user(const wr_yamux_stream *st);
void wr_yamux_stream_set_user(wr_yamux_stream *st, void *user);
wr_yamux_session *wr_yamux_stream_session(const wr_yamux_stream *st);
/* Sends a PING (the peer's ACK comes to on_ping_ack). */
WR_MUST_CHECK int wr_yamux_ping(wr_yamux_session *y, uint32_t opaque);
/* Sends GO_AWAY; no new streams either way. */
WR_MUST_CHECK int wr_yamux_goaway(wr_yamux_session *y, uint32_t code);
/* Ends every stream as reset (announced by reap), for a lost connection. */
void wr_yamux_fail(wr_yamux_session *y);

#endif
