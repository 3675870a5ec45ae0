/* transport.h: the byte stream under a user connection (HTTP/1.1, or the
 * TLS carrier of HTTP/2): a plain libuv TCP stream or a net/tls_tcp
 * connection. The two meet only here (reading on and off, writing, closing)
 * and in the server's accept paths (http/server.c); a byte-stream seam
 * (io/stream.h) is to replace both later.
 *
 * Bytes written during a loop turn are gathered (QUIC hands a response over a
 * packet at a time) and go out with one write per turn (a uv_check handle of
 * the pool), or at once past 64 KiB. A spent buffer goes back
 * to the pool and gathers the next connection's bytes: a fresh ~128 KiB
 * buffer per uv_write cost a page fault per 4 KiB sent. */
#ifndef WR_HTTP_TRANSPORT_H
#define WR_HTTP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"

struct wr_tls_tcp;

#define WR_HTTP_SPARES 16
#define WR_HTTP_WPOOL_HANDLES 2
/* Past this much queued (gathered plus in libuv's queue) a connection is full. */
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
  uv_stream_t *tcp;       /* or */
  struct wr_tls_tcp *tls; /* whose queue is bounded by its own limit (AGAIN, on_writable) */
  wr_buf obuf;            /* gathered, not yet handed over */
  size_t nwrites;         /* uv_write requests in flight */
  int dirty, closed;
  wr_http_transport *dnext, *dprev;
  /* Called after a write completed, after the turn's flush and after
   * wr_http_transport_flush, with 0, or with a negative error when the
   * connection can take no more writes (the owner closes it). */
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

/* Sets w up for a TCP stream or a TLS connection (exactly one non-NULL). */
void wr_http_transport_init(wr_http_transport *w, wr_http_wpool *pool, uv_stream_t *tcp,
                            struct wr_tls_tcp *tls, void (*on_event)(wr_http_transport *, int),
                            void *user);
/* Queues the concatenation of up to three byte ranges (copied). 0,
 * WR_ERR_CLOSED (after wr_http_transport_stop), or the error that on_event was
 * told of (the owner closes the connection there, so callers may ignore it). */
int wr_http_transport_write3(wr_http_transport *w, const void *a, size_t alen, const void *b,
                             size_t blen, const void *c, size_t clen);
/* Asks for the end-of-turn flush and its on_event even with nothing
 * gathered: an HTTP/2 session sends its frames then, outside the callbacks
 * that produced them. */
void wr_http_transport_schedule(wr_http_transport *t);
/* Hands the gathered bytes over now (TLS: after on_writable). */
void wr_http_transport_flush(wr_http_transport *w);
/* Bytes queued and not yet handed to the kernel (TLS: the cap while any wait). */
size_t wr_http_transport_queued(const wr_http_transport *w);
/* 1 when nothing waits to be written. */
int wr_http_transport_idle(const wr_http_transport *w);
/* Starts (on 1) or stops reading: a TCP stream through alloc_cb and read_cb,
 * TLS through its own callbacks (on_data, on_eof). */
void wr_http_transport_read(wr_http_transport *t, int on, uv_alloc_cb alloc_cb, uv_read_cb read_cb);
/* Closes the connection (and stops as below): TCP with uv_close, tcp_closed
 * following; TLS with wr_tls_tcp_close, its on_closed following. */
void wr_http_transport_close(wr_http_transport *t, uv_close_cb tcp_closed);
/* The connection is closing: nothing more is written, no more events. */
void wr_http_transport_stop(wr_http_transport *w);
/* Frees the gathered bytes (after the connection closed). */
void wr_http_transport_free(wr_http_transport *w);

#endif
