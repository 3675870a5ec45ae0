/* http1.h: a strict, incremental HTTP/1.1 parser and serializer (RFC 9110, 9112).
 *
 * Sans-I/O: the caller feeds bytes as they arrive, in any split, and pulls one
 * event per call. Feeding a message byte by byte gives exactly the same
 * events (body bytes may come in more, smaller pieces) as feeding it whole.
 *
 *   wr_h1_parser p;
 *   if (wr_h1_parser_init(&p, WR_H1_REQUEST, NULL)) ...
 *   while (len) {
 *     size_t used; wr_h1_event ev;
 *     int rv = wr_h1_parse(&p, data, len, &used, &ev);
 *     data += used; len -= used;
 *     if (rv < 0) answer wr_h1_parser_status(&p), log wr_h1_parser_reason(&p), close;
 *     else if (rv == WR_H1_EV_HEAD) route ev.head;
 *     else if (rv == WR_H1_EV_BODY) forward ev.data, ev.len;
 *     else if (rv == WR_H1_EV_DONE) message complete; next one may follow;
 *     else if (rv == WR_H1_EV_PAUSED) the rest of data is not HTTP (Upgrade, CONNECT);
 *     else (WR_H1_EV_NEED_MORE) all of data was consumed: read more.
 *   }
 *   at EOF: wr_h1_parser_finish(&p, &ev).
 *
 * Strictness is the point: request smuggling lives in leniency. Rejected with a
 * precise reason and the status an edge should answer:
 *   400  bare CR or LF, CTLs/NUL, obs-fold, whitespace before a colon, bad token
 *        characters, malformed request line, duplicate or non-numeric
 *        Content-Length, Content-Length together with Transfer-Encoding,
 *        Transfer-Encoding in HTTP/1.0, chunked not last or twice, a missing or
 *        duplicate Host in HTTP/1.1, a malformed chunk size or extension,
 *        chunk size overflow
 *   413  body larger than limits.max_body
 *   431  header section (or trailer section) larger than limits.max_head,
 *        more than limits.max_headers fields
 *   501  a transfer coding other than chunked
 *   505  an HTTP version other than 1.0 and 1.1
 * On the response side (the connector reading an origin) the same rules apply;
 * the caller maps any error to a 502 of its own. */
#ifndef WR_PROTO_HTTP_HTTP1_H
#define WR_PROTO_HTTP_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* Bytes someone else owns: not NUL-terminated. */
typedef struct wr_h1_slice {
  const char *p;
  size_t len;
} wr_h1_slice;

typedef struct wr_h1_header {
  wr_h1_slice name;  /* a token, as received (case preserved) */
  wr_h1_slice value; /* leading and trailing whitespace removed */
} wr_h1_header;

typedef enum wr_h1_kind {
  WR_H1_REQUEST = 0,  /* parse requests: the edge's public side */
  WR_H1_RESPONSE = 1, /* parse responses: the connector's origin side */
} wr_h1_kind;

/* Methods whose framing rules differ; any other token is WR_H1_M_OTHER
 * (methods are case-sensitive: "get" is OTHER). */
typedef enum wr_h1_method {
  WR_H1_M_OTHER = 0,
  WR_H1_M_GET,
  WR_H1_M_HEAD,
  WR_H1_M_POST,
  WR_H1_M_PUT,
  WR_H1_M_CONNECT,
  WR_H1_M_OPTIONS,
} wr_h1_method;

/* How the message body is delimited. */
typedef enum wr_h1_framing {
  WR_H1_BODY_NONE = 0,     /* no body (no CL/TE request, CL 0, HEAD/1xx/204/304 responses) */
  WR_H1_BODY_LENGTH,       /* Content-Length bytes */
  WR_H1_BODY_CHUNKED,      /* Transfer-Encoding: chunked */
  WR_H1_BODY_UNTIL_CLOSE,  /* responses only: until the connection closes */
} wr_h1_framing;

/* wr_h1_head.flags */
#define WR_H1_F_KEEP_ALIVE 0x01u /* the connection may carry another message after this one */
#define WR_H1_F_EXPECT_CONTINUE 0x02u /* HTTP/1.1 request with Expect: 100-continue */
#define WR_H1_F_UPGRADE 0x04u /* request: Upgrade + Connection: upgrade (1.1); response: 101 */
#define WR_H1_F_CONNECT 0x08u /* request: CONNECT; response: 2xx answer to CONNECT */
#define WR_H1_F_CONNECTION_CLOSE 0x10u /* Connection: close was present */

/* A parsed head. Slices point into the parser's head buffer and stay valid
 * until the next call on the parser (copy what must live longer). */
typedef struct wr_h1_head {
  int version_minor;      /* 0 or 1 (HTTP/1.0, HTTP/1.1) */
  /* requests */
  wr_h1_slice method;
  wr_h1_method method_id;
  wr_h1_slice target;     /* request-target, as received */
  wr_h1_slice host;       /* where to route: the Host value, or for absolute-form and
                             CONNECT targets their authority (RFC 9112 3.2.2); empty
                             only in an HTTP/1.0 request without Host */
  /* responses */
  int status;             /* 100..599 */
  wr_h1_slice reason;     /* reason-phrase, may be empty */
  /* both */
  const wr_h1_header *headers;
  size_t nheaders;
  unsigned flags;         /* WR_H1_F_* */
  wr_h1_framing framing;
  uint64_t content_length; /* when framing == WR_H1_BODY_LENGTH */
} wr_h1_head;

/* Events returned by wr_h1_parse (non-negative) and wr_h1_parser_finish. */
enum {
  WR_H1_EV_NEED_MORE = 0, /* every byte given was consumed; feed more */
  WR_H1_EV_HEAD = 1,      /* ev.head is complete */
  WR_H1_EV_BODY = 2,      /* ev.data/ev.len: body bytes, pointing into the input */
  WR_H1_EV_DONE = 3,      /* the message is complete; ev.trailers for chunked bodies */
  WR_H1_EV_PAUSED = 4,    /* after an Upgrade/CONNECT message: following bytes are not
                             HTTP; nothing is consumed until wr_h1_parser_resume */
};

typedef struct wr_h1_event {
  const wr_h1_head *head;          /* WR_H1_EV_HEAD */
  const uint8_t *data;             /* WR_H1_EV_BODY: into the caller's input */
  size_t len;
  const wr_h1_header *trailers;    /* WR_H1_EV_DONE: chunked trailer fields */
  size_t ntrailers;
} wr_h1_event;

typedef struct wr_h1_limits {
  size_t max_head;    /* bytes of the header (and trailer) section incl. start line */
  size_t max_headers; /* fields in the header (and trailer) section */
  uint64_t max_body;  /* 0: unlimited */
} wr_h1_limits;

#define WR_H1_DEFAULT_MAX_HEAD (64u * 1024u)
#define WR_H1_DEFAULT_MAX_HEADERS 100u
/* The longest chunk-size line (size, extensions, CRLF) accepted. */
#define WR_H1_MAX_CHUNK_LINE 4096u

typedef struct wr_h1_parser {
  wr_h1_kind kind;
  wr_h1_limits lim;
  int state;
  int scan;             /* line-terminator scanner state */
  size_t skipped;       /* empty lines skipped before a request line */
  int line1_done;       /* requests: the request line ended and was checked */
  int stale;            /* hbuf backs the last event: empty it on the next call */
  wr_buf hbuf;          /* head, chunk-size line or trailer bytes */
  wr_h1_header *fields; /* lim.max_headers entries */
  wr_h1_head head;
  uint64_t remaining;   /* body or chunk bytes still to come */
  uint64_t body_total;  /* body bytes so far (max_body) */
  wr_h1_method req_method; /* responses: the method of the request answered */
  wr_h1_slice authority;   /* requests: the authority of an absolute-form/CONNECT target */
  int error;
  int err_status;
  const char *err_reason;
} wr_h1_parser;

/* Initialises a parser for kind; lim NULL (or zero fields) means defaults.
 * Returns 0, WR_ERR_NOMEM. Free with wr_h1_parser_free. */
WR_MUST_CHECK int wr_h1_parser_init(wr_h1_parser *p, wr_h1_kind kind, const wr_h1_limits *lim);
/* Frees the parser's memory. */
void wr_h1_parser_free(wr_h1_parser *p);

/* Response parsers: the method of the request the next response answers
 * (HEAD and CONNECT change its framing). Set it before that response's first
 * byte; it is kept across 1xx interim responses and reset to WR_H1_M_OTHER
 * after the final one. */
void wr_h1_parser_set_request_method(wr_h1_parser *p, wr_h1_method m);

/* Consumes a prefix of data (at most up to the next event) and returns one
 * event: WR_H1_EV_* (>= 0) with *pconsumed bytes used and *ev filled, or a
 * negative error: WR_ERR_MALFORMED (400), WR_ERR_LIMIT (413/431),
 * WR_ERR_UNSUPPORTED (501/505), WR_ERR_CLOSED (bytes after a message that
 * closes the connection), WR_ERR_NOMEM. Errors are sticky; see
 * wr_h1_parser_reason and wr_h1_parser_status. Call again with the rest of
 * data after every event: HEAD and DONE may consume nothing. */
WR_MUST_CHECK int wr_h1_parse(wr_h1_parser *p, const uint8_t *data, size_t len,
                              size_t *pconsumed, wr_h1_event *ev);

/* The peer closed its side. Returns WR_H1_EV_DONE when this completes an
 * until-close response body, WR_H1_EV_NEED_MORE when the connection was
 * between messages (a clean close), WR_ERR_TRUNCATED inside a message. */
WR_MUST_CHECK int wr_h1_parser_finish(wr_h1_parser *p, wr_h1_event *ev);

/* After WR_H1_EV_PAUSED when the upgrade did not happen (the server answered
 * an Upgrade request without 101): continue parsing HTTP. */
void wr_h1_parser_resume(wr_h1_parser *p);

/* 1 when the parser is between messages (nothing of the next one seen). */
int wr_h1_parser_idle(const wr_h1_parser *p);

/* Between messages (wr_h1_parser_idle): frees the head buffer and the field
 * table, which the next head allocates again, so a connection that waits
 * costs a few hundred bytes. The slices of the last event become invalid.
 * Does nothing otherwise. */
void wr_h1_parser_trim(wr_h1_parser *p);

/* After an error: a static sentence saying what was wrong, and the HTTP
 * status an edge should answer (400, 413, 431, 501, 505). */
const char *wr_h1_parser_reason(const wr_h1_parser *p);
int wr_h1_parser_status(const wr_h1_parser *p);

/* Helpers over heads. */
int wr_h1_slice_eq(wr_h1_slice s, const char *lit);    /* exact */
int wr_h1_slice_eq_ci(wr_h1_slice s, const char *lit); /* ASCII case-insensitive */
/* The first field named name (case-insensitive), or NULL. */
const wr_h1_header *wr_h1_find(const wr_h1_header *h, size_t n, const char *name);
/* 1 when the field name must not be forwarded by a proxy: Connection,
 * Keep-Alive, Proxy-Connection, Transfer-Encoding, TE, Trailer, Upgrade,
 * Proxy-Authenticate, Proxy-Authorization, and any field the head's
 * Connection header names (h may be NULL to check only the fixed list). The
 * caller that forwards an Upgrade (WebSocket) keeps Upgrade and Connection. */
int wr_h1_is_hop_by_hop(const wr_h1_head *h, wr_h1_slice name);
/* 1 when c is a tchar (RFC 9110 token character). */
int wr_h1_is_tchar(uint8_t c);
/* The standard reason phrase of a status ("Not Found"), "" if unknown. */
const char *wr_h1_status_text(int status);

/* Serializer. Each appends to out; on error out keeps its old length.
 * Names must be tokens and values must not hold CR, LF, NUL or other CTLs
 * (except HTAB), so nothing can inject a header: WR_ERR_INVAL otherwise;
 * WR_ERR_LIMIT/NOMEM from out. Framing fields (Content-Length,
 * Transfer-Encoding, Connection) are the caller's: they are written as given. */
WR_MUST_CHECK int wr_h1_write_request_head(wr_buf *out, wr_h1_slice method, wr_h1_slice target,
                                           int version_minor, const wr_h1_header *h, size_t n);
/* reason.len == 0 (or reason.p NULL) uses wr_h1_status_text(status). */
WR_MUST_CHECK int wr_h1_write_response_head(wr_buf *out, int version_minor, int status,
                                            wr_h1_slice reason, const wr_h1_header *h, size_t n);

/* Chunked encoding. A chunk is wr_h1_chunk_start(n), n data bytes, then
 * wr_h1_chunk_end; callers that copy use wr_h1_write_chunk. n == 0 is not a
 * chunk (it would end the body): wr_h1_chunk_start returns WR_ERR_INVAL. */
WR_MUST_CHECK int wr_h1_chunk_start(wr_buf *out, uint64_t n);
WR_MUST_CHECK int wr_h1_chunk_end(wr_buf *out);
WR_MUST_CHECK int wr_h1_write_chunk(wr_buf *out, const void *data, size_t n);
/* The last chunk, trailer fields (may be none) and the final CRLF. */
WR_MUST_CHECK int wr_h1_write_last_chunk(wr_buf *out, const wr_h1_header *trailers, size_t n);

#endif
