/* tcp.h: TCP connections and Unix sockets as byte streams (io/stream.h).
 *
 * Dialing gives a stream that announces on_connected (or on_closed with
 * "cannot connect to ADDR: ..."); a listener hands each accepted connection
 * to its accept callback as a connected stream. Reading starts by itself once
 * connected; TCP_NODELAY is set unless the config says otherwise.
 *
 * The write path costs nothing extra when the socket keeps up: with nothing
 * queued, a write goes straight to the kernel (uv_try_write, no copy, no
 * request, no POLLOUT armed); only what the kernel does not take is copied
 * into one write request. Queued bytes are bounded by write_queue_limit
 * (WR_ERR_AGAIN, then on_writable).
 *
 * A graceful close sends FIN after the queued bytes and waits for the peer's
 * FIN (discarding what arrives) before closing the socket; it gives up after
 * linger_ms without progress: the clock starts again whenever queued bytes
 * went out, so a slow peer still gets all of them (an HTTP response ended by
 * the close), while one that reads nothing cannot hold the socket. Reset
 * sends RST at once. Ownership as in io/stream.h. */
#ifndef WR_IO_TCP_H
#define WR_IO_TCP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "io/addr.h"
#include "io/stream.h"

#define WR_TCP_DEFAULT_WRITE_QUEUE (256 * 1024)
/* How long a graceful close waits for the peer's FIN before closing anyway. */
#define WR_TCP_DEFAULT_LINGER_MS 2000
#define WR_TCP_DEFAULT_MAX_CONNECTIONS 10000

/* Settings; zero means "default". Copied. */
typedef struct wr_tcp_config {
  size_t write_queue_limit; /* bytes queued before WR_ERR_AGAIN */
  uint64_t linger_ms;       /* graceful close: wait this long without progress */
  uint32_t max_connections; /* listener: accepted streams alive at once */
  int no_nodelay;           /* leave Nagle on (default: TCP_NODELAY set) */
} wr_tcp_config;

/* Dials remote (AF_INET or AF_INET6). The result comes later: on_connected,
 * or on_closed with the reason (a connect that fails at once too, from the
 * loop). ev must outlive the stream; it may be NULL when a filter stacked on
 * the stream at once sets its own (cfg may be NULL). Returns 0 with *ps
 * set, WR_ERR_INVAL (not an IP address) or WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_tcp_connect(wr_stream **ps, uv_loop_t *loop, const wr_addr *remote,
                                 const wr_tcp_config *cfg, const wr_stream_events *ev, void *user);

/* The same for the Unix socket at path. */
WR_MUST_CHECK int wr_tcp_connect_unix(wr_stream **ps, uv_loop_t *loop, const char *path,
                                      const wr_tcp_config *cfg, const wr_stream_events *ev,
                                      void *user);

typedef struct wr_tcp_listener wr_tcp_listener;

/* A connection was accepted: s is connected and reading; the callee owns it
 * and must give it events (wr_stream_set_events) before returning, or close
 * it. It counts against max_connections until its on_closed. */
typedef void (*wr_tcp_accept_cb)(wr_tcp_listener *l, wr_stream *s, void *data);

/* Listens on bind_addr (port 0 picks one; "[::]" is dual-stack). Past
 * cfg->max_connections new connections are closed at once and counted.
 * Returns 0, WR_ERR_INVAL, WR_ERR_ADDRINUSE (the address is taken), WR_ERR_DENIED (a port below
 * 1024 without the right), WR_ERR_IO (bind or listen failed otherwise; logged),
 * WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_tcp_listen(wr_tcp_listener **pl, uv_loop_t *loop, const wr_addr *bind_addr,
                                const wr_tcp_config *cfg, wr_tcp_accept_cb cb, void *data);

/* The same on a Unix socket at path (which must not exist yet). */
WR_MUST_CHECK int wr_tcp_listen_unix(wr_tcp_listener **pl, uv_loop_t *loop, const char *path,
                                     const wr_tcp_config *cfg, wr_tcp_accept_cb cb, void *data);

/* Stops listening; cb(l, data) runs from the loop once the listener is gone
 * (then l is freed). Accepted streams are not closed: they belong to their
 * owners and live on. */
void wr_tcp_listener_close(wr_tcp_listener *l, void (*cb)(wr_tcp_listener *l, void *data),
                           void *data);

/* The bound address (with the port picked for port 0). 0, or WR_ERR_IO (also
 * for a Unix socket). */
WR_MUST_CHECK int wr_tcp_listener_addr(const wr_tcp_listener *l, wr_addr *out);

typedef struct wr_tcp_listener_stats {
  uint64_t accepted;      /* connections accepted */
  uint64_t refused_limit; /* closed at once: max_connections reached */
  uint64_t refused_nomem; /* closed at once: no memory for the connection */
  uint64_t open;          /* accepted streams alive now */
} wr_tcp_listener_stats;
void wr_tcp_listener_stats_get(const wr_tcp_listener *l, wr_tcp_listener_stats *out);

typedef struct wr_tcp_stats {
  uint64_t rtt_ns, rttvar_ns;      /* kernel's smoothed RTT (TCP_INFO tcpi_rtt) */
  uint64_t cwnd;                   /* congestion window in bytes */
  uint64_t retransmits;            /* segments retransmitted */
  uint64_t bytes_sent, bytes_recv; /* bytes written to / read from the socket */
  /* Time since the last ACK while retransmission timeouts run; 0 otherwise. */
  uint64_t unanswered_ns;
} wr_tcp_stats;

/* Figures from the kernel (zero for a Unix socket or when TCP_INFO cannot be
 * read) and our byte counts. s must be a stream made here. */
void wr_tcp_stats_get(const wr_stream *s, wr_tcp_stats *out);

/* 1 when s was made here (a TCP or Unix socket stream). */
int wr_tcp_is(const wr_stream *s);

#endif
