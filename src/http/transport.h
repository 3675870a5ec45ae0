/* transport.h: the byte stream under a user connection (HTTP/1.1, or the
 * carrier of HTTP/2), with gathered, coalesced writes. The stream is any
 * wr_stream (io/stream.h): a TCP stream from io/tcp.h for HTTP, the TLS
 * filter (net/tls_stream.h) stacked on one for HTTPS; nothing here or above
 * knows which.
 *
 * Bytes written during a loop turn are gathered (QUIC hands a response over a
 * packet at a time) and go to the stream with one write per turn (a uv_check
 * handle of the pool), or at once past 64 KiB. The gathering buffer comes
 * from the pool's spares and goes back there once the stream took its bytes:
 * a fresh ~128 KiB buffer per write cost a page fault per 4 KiB sent.
 *
 * Backpressure: what the stream does not take (its queue is bounded by
 * WR_HTTP_QUEUE_CAP: the owner configures it so) waits here until the
 * stream's on_writable, which the owner routes to wr_http_transport_flush. */
#ifndef WR_HTTP_TRANSPORT_H
#define WR_HTTP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "io/stream.h"

#define WR_HTTP_SPARES 16
#define WR_HTTP_WPOOL_HANDLES 2
/* Past this much queued (gathered plus the stream's queue) a connection is
 * full; also the stream's own write queue limit. */
#define WR_HTTP_QUEUE_CAP (256u * 1024u)

typedef struct wr_http_transport wr_http_transport;

/* Shared by the connections of one server. */
typedef struct wr_http_wpool {
  uv_check_t check; /* the end-of-turn flush */
  uv_idle_t nudge;  /* while writes wait: the turn's poll does not block */
  uint8_t *spare[WR_HTTP_SPARES];
  size_t spare_cap[WR_HTTP_SPARES];
  size_t nspare;
  wr_http_transport *dirty; /* connections with gathered bytes waiting for the turn's end */
} wr_http_wpool;

struct wr_http_transport {
  wr_http_wpool *pool;
  wr_stream *s; /* not owned: the connection owns it (NULL once it is gone) */
  wr_buf obuf;  /* gathered, not yet taken by the stream */
  int dirty, closed;
  wr_http_transport *dnext, *dprev;
  /* Called after the turn's flush and after wr_http_transport_flush, with 0,
   * or with a negative error when the connection can take no more writes
   * (the owner closes it). */
  void (*on_event)(wr_http_transport *w, int status);
  void *user;
};

/* Initialises pool on loop (WR_HTTP_WPOOL_HANDLES handles, closed with
 * wr_http_wpool_close). */
void wr_http_wpool_init(wr_http_wpool *pool, uv_loop_t *loop);
/* Closes the pool's handles; cb runs once for each, with data as the
 * handle's data member. */
void wr_http_wpool_close(wr_http_wpool *pool, uv_close_cb cb, void *data);
/* Frees the spare buffers (after every transport was freed). */
void wr_http_wpool_free(wr_http_wpool *pool);

/* Sets w up over s (borrowed: s must outlive w's use, see
 * wr_http_transport_stop). */
void wr_http_transport_init(wr_http_transport *w, wr_http_wpool *pool, wr_stream *s,
                            void (*on_event)(wr_http_transport *, int), void *user);
/* Queues the concatenation of up to three byte ranges (copied). 0,
 * WR_ERR_CLOSED (after wr_http_transport_stop), or the error that on_event was
 * told of (the owner closes the connection there, so callers may ignore it). */
int wr_http_transport_write3(wr_http_transport *w, const void *a, size_t alen, const void *b,
                             size_t blen, const void *c, size_t clen);
/* Asks for the end-of-turn flush and its on_event even with nothing
 * gathered: an HTTP/2 session sends its frames then, outside the callbacks
 * that produced them. */
void wr_http_transport_schedule(wr_http_transport *t);
/* Hands the gathered bytes to the stream now (its on_writable), then
 * on_event. */
void wr_http_transport_flush(wr_http_transport *w);
/* Bytes gathered or in the stream's queue. */
size_t wr_http_transport_queued(const wr_http_transport *w);
/* 1 when the stream took every gathered byte (a graceful close of the
 * stream delivers what it queued). */
int wr_http_transport_idle(const wr_http_transport *w);
/* The connection is closing: nothing more is written, no more events. */
void wr_http_transport_stop(wr_http_transport *w);
/* Frees the gathered bytes (after the stream closed). */
void wr_http_transport_free(wr_http_transport *w);

#endif
