/* stream.h: the byte-stream seam.
 *
 * A wr_stream is one ordered, reliable, bidirectional byte stream: a TCP
 * connection or a Unix socket (io/tcp.h), or a filter stacked on another
 * stream, such as TLS (net/tls_stream.h). Code that speaks a protocol over
 * bytes (HTTP/1 to an origin, HTTP/2 to the edge) uses only the table of
 * functions below, so what carries the bytes is chosen once, where the
 * stream is made, and never again (curl's connection filters, Curl_cftype,
 * are the model).
 *
 * Ownership and lifetimes (libuv's): whoever made a stream owns it. Its end
 * is always announced by exactly one on_closed, from the loop (never inside
 * a call of the owner), after which the pointer is invalid. Closing is
 * asynchronous: after wr_stream_close or wr_stream_reset only on_closed
 * follows. A filter owns the stream below it: it takes over that stream's
 * events and user pointer, closes it with itself, and announces its own
 * on_closed only after the lower one's.
 *
 * Writing: wr_stream_write takes bytes (copying what it cannot hand to the
 * kernel at once: the caller's buffer is free when the call returns) and
 * answers how many it took. Past the stream's write queue limit it takes
 * fewer, or answers WR_ERR_AGAIN; on_writable follows once the queue drained
 * below half the limit. Nothing is dropped silently: a stream that cannot
 * deliver fails with on_closed.
 *
 * Reading: on_data delivers bytes valid during the call only. read_stop
 * pauses delivery (and reading from the socket, so the peer is slowed by
 * TCP's own flow control); read_start resumes it, from the loop.
 *
 * Single-threaded: call everything from the loop's thread. Callbacks may
 * call any function here, including close on their own stream. */
#ifndef WR_IO_STREAM_H
#define WR_IO_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/err.h"

typedef struct wr_stream wr_stream;

/* What a stream's owner hears. Any member may be NULL. */
typedef struct wr_stream_events {
  /* A dialed stream is connected (for TLS: the handshake completed and the
   * peer is verified); writes are accepted from now on. Accepted streams are
   * connected from the start and get no on_connected. */
  void (*on_connected)(wr_stream *s);
  /* Bytes from the peer, valid during the call only. */
  void (*on_data)(wr_stream *s, const uint8_t *data, size_t len);
  /* The peer will send nothing more (it may still read). */
  void (*on_eof)(wr_stream *s);
  /* A write answered WR_ERR_AGAIN, took fewer bytes than offered, or left
   * the queue above half its limit, and the queue has drained below half
   * (a filter above counts this queue in its own, so it needs to know). */
  void (*on_writable)(wr_stream *s);
  /* The stream is gone. err is 0 when the owner closed it, else WR_ERR_IO
   * (connect or socket error), WR_ERR_CLOSED (the peer reset it, or closed it
   * when that was not expected), WR_ERR_TIMEOUT, WR_ERR_DENIED (a filter
   * refused the peer: TLS certificate, ALPN), WR_ERR_MALFORMED (a filter got
   * bad bytes), WR_ERR_NOMEM. reason is one sentence for a log line. s is
   * freed after this returns. */
  void (*on_closed)(wr_stream *s, int err, const char *reason);
} wr_stream_events;

/* The table every kind of stream fills in. Use the wr_stream_* wrappers. */
typedef struct wr_stream_ops {
  const char *kind; /* "tcp", "unix", "tls", for logs */
  /* Takes bytes from n buffers in order; the total taken, WR_ERR_AGAIN (queue
   * full, or not connected yet: on_writable or on_connected follows) or
   * WR_ERR_CLOSED (after shutdown, close, or a failure). */
  ssize_t (*write)(wr_stream *s, const struct iovec *iov, size_t n);
  /* Bytes taken and not yet handed to the kernel or the stream below. */
  size_t (*queued)(const wr_stream *s);
  /* Bytes taken and not yet acknowledged by the peer, as far as the stream
   * knows: the queue and, for a socket, the kernel's send queue. A graceful
   * close waits while this keeps falling: the queue alone can stand still
   * for long, since the kernel wakes a writer only when much room is free. */
  size_t (*in_flight)(const wr_stream *s);
  /* Ends our direction after the queued bytes (TCP FIN, TLS close_notify);
   * reading goes on. 0, or WR_ERR_CLOSED when already shut or closed. */
  int (*shutdown)(wr_stream *s);
  /* Graceful: shuts down if not yet done, lets queued bytes out, waits a
   * little for the peer's end, closes. Only on_closed (err 0) follows.
   * Closing twice is harmless. */
  void (*close)(wr_stream *s);
  /* At once, dropping queued bytes (TCP RST). Only on_closed follows. */
  void (*reset)(wr_stream *s);
  void (*read_start)(wr_stream *s);
  void (*read_stop)(wr_stream *s);
  /* Between cork and uncork small writes are gathered into one (one TLS
   * record, one system call); uncork sends them. */
  void (*cork)(wr_stream *s);
  void (*uncork)(wr_stream *s);
  /* Socket addresses (AF_UNSPEC for a Unix socket's peer) and the peer as
   * text for log lines: "ADDR:PORT" or "unix:PATH". */
  const struct sockaddr *(*peer_addr)(const wr_stream *s);
  const struct sockaddr *(*local_addr)(const wr_stream *s);
  const char *(*peer_str)(const wr_stream *s);
} wr_stream_ops;

/* The common head of every stream object: the kind sets ops, the owner sets
 * ev and user (wr_stream_set_events). */
struct wr_stream {
  const wr_stream_ops *ops;
  const wr_stream_events *ev;
  void *user;
};

/* Replaces the events (not copied: ev must outlive the stream) and user. */
static inline void wr_stream_set_events(wr_stream *s, const wr_stream_events *ev, void *user) {
  s->ev = ev;
  s->user = user;
}

/* One buffer: see wr_stream_ops.write. */
WR_MUST_CHECK static inline ssize_t wr_stream_write(wr_stream *s, const void *data, size_t len) {
  struct iovec v = {(void *)data, len};
  return s->ops->write(s, &v, 1);
}
WR_MUST_CHECK static inline ssize_t wr_stream_writev(wr_stream *s, const struct iovec *iov,
                                                     size_t n) {
  return s->ops->write(s, iov, n);
}
static inline size_t wr_stream_queued(const wr_stream *s) { return s->ops->queued(s); }
static inline size_t wr_stream_in_flight(const wr_stream *s) { return s->ops->in_flight(s); }
WR_MUST_CHECK static inline int wr_stream_shutdown(wr_stream *s) { return s->ops->shutdown(s); }
static inline void wr_stream_close(wr_stream *s) { s->ops->close(s); }
static inline void wr_stream_reset(wr_stream *s) { s->ops->reset(s); }
static inline void wr_stream_read_start(wr_stream *s) { s->ops->read_start(s); }
static inline void wr_stream_read_stop(wr_stream *s) { s->ops->read_stop(s); }
static inline void wr_stream_cork(wr_stream *s) { s->ops->cork(s); }
static inline void wr_stream_uncork(wr_stream *s) { s->ops->uncork(s); }
static inline const struct sockaddr *wr_stream_peer_addr(const wr_stream *s) {
  return s->ops->peer_addr(s);
}
static inline const struct sockaddr *wr_stream_local_addr(const wr_stream *s) {
  return s->ops->local_addr(s);
}
static inline const char *wr_stream_peer_str(const wr_stream *s) { return s->ops->peer_str(s); }

#endif
