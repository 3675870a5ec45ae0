/* handler.h: the seam between an HTTP front and what answers requests.
 *
 * A front (the HTTP/1.1 server, the HTTP/2 server: http/server.h) parses a
 * request and hands it to a handler as a wr_http_req: the typed request plus
 * the front's response writer (its ops table). The handler answers through
 * that writer only, and hears the rest of the exchange (request body bytes,
 * "the user can take more", "the user is gone") through a wr_http_sink it
 * embeds in its own per-request object. Neither side learns the other's type:
 * each one is a struct whose first member is its ops table (curl's connection
 * filters, h2o's handlers and generators are the models).
 *
 * One exchange, in order:
 *   front   handler->ops->on_request(handler, q)
 *   handler sets q->sink (to hear the body) and/or answers at once
 *   front   sink->on_body(...)*, sink->on_body_end() once
 *   handler q->ops->head(), q->ops->body()*, q->ops->end() or abort()
 *   front   sink->on_writable() after body() answered WR_ERR_AGAIN
 *   front   sink->on_abort() instead when the user goes away first
 * Either end() / abort() by the handler or on_abort() by the front ends the
 * exchange for the handler: afterwards it touches q no more and the front
 * calls the sink no more. Every call happens on the loop thread; any of them
 * may be made from within another (a handler may answer inside on_request or
 * inside on_body).
 *
 * Backpressure, both ways:
 * - user -> handler: on_body answers how many bytes it took (maybe fewer,
 *   WR_ERR_AGAIN for none); the front keeps the rest, stops reading from the
 *   user, and offers them again after the handler calls q->ops->resume_body.
 * - handler -> user: body() copies every byte it is given and answers
 *   WR_ERR_AGAIN once the user's side holds a full queue; the handler then
 *   sends no more than it has already been sent (it stops granting credit
 *   upstream) until sink->on_writable. */
#ifndef WR_HTTP_HANDLER_H
#define WR_HTTP_HANDLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "proto/http/http1.h"

typedef struct wr_http_req wr_http_req;
typedef struct wr_http_sink wr_http_sink;
typedef struct wr_http_handler wr_http_handler;

/* wr_http_req.flags */
#define WR_HTTP_REQ_TLS 0x01u     /* the user connected over TLS */
#define WR_HTTP_REQ_H2 0x02u      /* the front is HTTP/2 (for log lines) */
#define WR_HTTP_REQ_CONNECT 0x04u /* method CONNECT (plain or extended, RFC 8441) */
/* A WebSocket opening: an HTTP/1.1 Upgrade: websocket, or an extended CONNECT
 * (then protocol holds :protocol, which may name something else). Once the
 * handler's head() says 101, body bytes both ways are the WebSocket's. */
#define WR_HTTP_REQ_WEBSOCKET 0x08u
#define WR_HTTP_REQ_HEAD 0x10u /* method HEAD: a response has no body */

/* head() flags */
#define WR_HTTP_RESP_BODY                                                                          \
  0x01u /* body bytes follow (framed by Content-Length when hs has                                 \
           one, else as the front sees fit) */
/* End the user's connection after this response (HTTP/1.1; ignored by
 * HTTP/2): for refusals, where the user may still send what nobody reads. */
#define WR_HTTP_RESP_CLOSE 0x02u

/* Fields a front passes on per response; more are dropped. */
#define WR_HTTP_MAX_RESP_FIELDS 256u

/* Why a front abandons an exchange (sink->on_abort). */
enum {
  WR_HTTP_GONE_CLOSED = 0, /* the connection failed or is being closed by the server */
  WR_HTTP_GONE_EOF = 1,    /* the user closed its side before the request was complete */
  WR_HTTP_GONE_RESET = 2,  /* the user reset the stream (HTTP/2; code is its error code) */
};

/* The front's response writer. Slices and header arrays passed in are only
 * read during the call. */
typedef struct wr_http_req_ops {
  /* Sends the status line and header fields. Hop-by-hop fields in hs are
   * dropped, framing fields are the front's. A 1xx other than a WebSocket's
   * 101 is not passed. 0; WR_ERR_MALFORMED (an invalid Content-Length) or
   * WR_ERR_INVAL/WR_ERR_LIMIT (a field the front cannot write) when the head
   * cannot be passed on: nothing was sent and the handler may answer
   * otherwise (a page); WR_ERR_CLOSED. */
  int (*head)(wr_http_req *q, int status, const wr_h1_header *hs, size_t n, unsigned flags);
  /* Response body bytes, copied. 0: send more; WR_ERR_AGAIN: taken, but the
   * user's side is full: wait for sink->on_writable; WR_ERR_LIMIT (HTTP/1.1):
   * more than the head's Content-Length, the excess was dropped (the
   * connection will close); WR_ERR_CLOSED, WR_ERR_NOMEM: the handler aborts. */
  int (*body)(wr_http_req *q, const uint8_t *data, size_t len);
  /* 1 when everything the head promised was written (its Content-Length, or
   * a response without a body); else 0 with *pmissing the bytes a
   * Content-Length still promises (0 when the length is open). */
  int (*complete)(const wr_http_req *q, uint64_t *pmissing);
  /* The response is complete (a short one makes the front end the
   * connection). The exchange is over for the handler. */
  void (*end)(wr_http_req *q);
  /* The response cannot be completed: the user sees the connection (HTTP/1.1:
   * a TCP reset once a body was started, whatever its framing, so a
   * close-delimited body cannot look complete) or the stream (HTTP/2:
   * RST_STREAM INTERNAL_ERROR) end abruptly. The exchange is over for the
   * handler. */
  void (*abort)(wr_http_req *q);
  /* The handler takes request body bytes again (after on_body took fewer). */
  void (*resume_body)(wr_http_req *q);
  /* The handler will read the body: "100 Continue" to a user who waits for it. */
  void (*go_ahead)(wr_http_req *q);
} wr_http_req_ops;

/* A request, owned by the front; valid until the exchange is over. */
struct wr_http_req {
  const wr_http_req_ops *ops;
  /* Method, target, host (the authority), headers and framing, as the user
   * sent them (an HTTP/2 request is shown in HTTP/1.1 terms). Valid during
   * on_request only: copy what must live longer. */
  const wr_h1_head *head;
  wr_h1_slice protocol;  /* HTTP/2 :protocol of an extended CONNECT; during on_request only */
  const char *client_ip; /* the user's address as text; valid for the exchange */
  unsigned flags;        /* WR_HTTP_REQ_* */
  /* Set by the handler in on_request to hear the rest of the exchange; NULL
   * when it answered at once (body bytes are then dropped). */
  wr_http_sink *sink;
};

typedef struct wr_http_sink_ops {
  /* Request body bytes (data valid during the call). Returns how many were
   * taken, or WR_ERR_AGAIN for none; the rest is offered again after
   * q->ops->resume_body. */
  ssize_t (*on_body)(wr_http_sink *s, const uint8_t *data, size_t len);
  /* No more bytes come from the user (after every body byte was taken). */
  void (*on_body_end)(wr_http_sink *s);
  /* The user's side took what was queued: body() may be called again. */
  void (*on_writable)(wr_http_sink *s);
  /* The user is gone (why: WR_HTTP_GONE_*, code for RESET). The exchange is
   * over for the handler: it must not touch q again. */
  void (*on_abort)(wr_http_sink *s, int why, uint64_t code);
} wr_http_sink_ops;

/* The handler's side of one exchange: embed as the first member of the
 * handler's per-request object. */
struct wr_http_sink {
  const wr_http_sink_ops *ops;
};

typedef struct wr_http_handler_ops {
  /* A request head arrived. Before returning, the handler either sets
   * q->sink or has ended the response. */
  void (*on_request)(wr_http_handler *h, wr_http_req *q);
} wr_http_handler_ops;

/* Embed as the first member of a handler. */
struct wr_http_handler {
  const wr_http_handler_ops *ops;
};

#endif
