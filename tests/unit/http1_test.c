#include "proto/http/http1.h"

#include <stdlib.h>

#include "base/mem.h"
#include "test.h"

/* Rejection tables leave the optional length field out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- a driver that turns parser events into a transcript ---- */

static const char *framing_name(wr_h1_framing f) {
  switch (f) {
  case WR_H1_BODY_NONE: return "none";
  case WR_H1_BODY_LENGTH: return "len";
  case WR_H1_BODY_CHUNKED: return "chunked";
  case WR_H1_BODY_UNTIL_CLOSE: return "close";
  }
  return "?";
}

static void put_slice(wr_buf *t, wr_h1_slice s) {
  if (s.len && wr_buf_append(t, s.p, s.len))
    abort();
}

static void put(wr_buf *t, const char *s) {
  if (wr_buf_puts(t, s))
    abort();
}

static void put_fields(wr_buf *t, const wr_h1_header *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    put(t, " [");
    put_slice(t, h[i].name);
    put(t, ": ");
    put_slice(t, h[i].value);
    put(t, "]");
  }
}

static void put_head(wr_buf *t, const wr_h1_head *h, wr_h1_kind kind) {
  char tmp[128];
  put(t, "HEAD ");
  if (kind == WR_H1_REQUEST) {
    put_slice(t, h->method);
    put(t, " ");
    put_slice(t, h->target);
    snprintf(tmp, sizeof tmp, " 1.%d host=", h->version_minor);
    put(t, tmp);
    put_slice(t, h->host);
  } else {
    snprintf(tmp, sizeof tmp, "1.%d %d ", h->version_minor, h->status);
    put(t, tmp);
    put_slice(t, h->reason);
  }
  snprintf(tmp, sizeof tmp, " flags=%s%s%s%s%s framing=%s cl=%llu",
           h->flags & WR_H1_F_KEEP_ALIVE ? "K" : "", h->flags & WR_H1_F_EXPECT_CONTINUE ? "E" : "",
           h->flags & WR_H1_F_UPGRADE ? "U" : "", h->flags & WR_H1_F_CONNECT ? "C" : "",
           h->flags & WR_H1_F_CONNECTION_CLOSE ? "X" : "", framing_name(h->framing),
           (unsigned long long)h->content_length);
  put(t, tmp);
  put_fields(t, h->headers, h->nheaders);
  put(t, "\n");
}

typedef struct result {
  wr_buf t;      /* transcript */
  int rv;        /* last return: the error, or the last event */
  int status;
  const char *reason;
} result;

/* Feeds in[0..n) as a first piece of `cut` bytes, then pieces of `step`
 * bytes (0: the rest at once), then calls finish. */
static void drive(result *r, wr_h1_kind kind, wr_h1_method m, const wr_h1_limits *lim,
                  const char *in, size_t n, size_t cut, size_t step) {
  wr_buf_init(&r->t, 1 << 24);
  r->rv = 0;
  r->status = 0;
  r->reason = NULL;
  wr_h1_parser p;
  if (wr_h1_parser_init(&p, kind, lim))
    abort();
  wr_h1_parser_set_request_method(&p, m);
  size_t off = 0;
  int in_body = 0;
  char tmp[160];
  while (off < n || off == 0) {
    size_t piece = off == 0 && cut ? cut : (step ? step : n - off);
    if (piece > n - off)
      piece = n - off;
    const uint8_t *d = (const uint8_t *)in + off;
    size_t len = piece;
    off += piece;
    for (;;) {
      size_t used;
      wr_h1_event ev;
      int rv = wr_h1_parse(&p, d, len, &used, &ev);
      r->rv = rv;
      if (rv < 0) {
        if (in_body)
          put(&r->t, "\n");
        snprintf(tmp, sizeof tmp, "ERR %d %d %s\n", rv, wr_h1_parser_status(&p),
                 wr_h1_parser_reason(&p));
        put(&r->t, tmp);
        r->status = wr_h1_parser_status(&p);
        r->reason = wr_h1_parser_reason(&p);
        goto out;
      }
      if (used > len)
        abort();
      d += used;
      len -= used;
      if (rv == WR_H1_EV_NEED_MORE) {
        CHECK_EQ(len, 0);
        break;
      }
      if (rv == WR_H1_EV_BODY) {
        if (!in_body)
          put(&r->t, "BODY ");
        in_body = 1;
        if (wr_buf_append(&r->t, ev.data, ev.len))
          abort();
        continue;
      }
      if (in_body)
        put(&r->t, "\n");
      in_body = 0;
      if (rv == WR_H1_EV_HEAD) {
        put_head(&r->t, ev.head, kind);
      } else if (rv == WR_H1_EV_DONE) {
        put(&r->t, "DONE");
        put_fields(&r->t, ev.trailers, ev.ntrailers);
        put(&r->t, "\n");
      } else if (rv == WR_H1_EV_PAUSED) {
        snprintf(tmp, sizeof tmp, "PAUSED rest=%zu\n", len + (n - off));
        put(&r->t, tmp);
        goto out;
      }
    }
    if (n == 0)
      break;
  }
  {
    wr_h1_event ev;
    int rv = wr_h1_parser_finish(&p, &ev);
    if (in_body)
      put(&r->t, "\n");
    r->rv = rv;
    if (rv < 0) {
      snprintf(tmp, sizeof tmp, "ERR %d %d %s\n", rv, wr_h1_parser_status(&p),
               wr_h1_parser_reason(&p));
      put(&r->t, tmp);
      r->status = wr_h1_parser_status(&p);
      r->reason = wr_h1_parser_reason(&p);
    } else if (rv == WR_H1_EV_DONE) {
      put(&r->t, "DONE at EOF\n");
    } else {
      put(&r->t, "EOF\n");
    }
  }
out:
  if (wr_buf_append(&r->t, "", 1)) /* NUL-terminate */
    abort();
  wr_h1_parser_free(&p);
}

/* Parses in whole, byte by byte and split in two at every position; checks
 * all give the same transcript, and returns it in *r. */
static void run_all(result *r, wr_h1_kind kind, wr_h1_method m, const wr_h1_limits *lim,
                    const char *in, size_t n) {
  drive(r, kind, m, lim, in, n, 0, 0);
  for (size_t cut = 0; cut <= n; cut++) {
    result o;
    drive(&o, kind, m, lim, in, n, cut, cut == 0 ? 1 : 0);
    if (strcmp((char *)o.t.data, (char *)r->t.data) != 0) {
      fprintf(stderr, "  split at %zu%s differs:\n--- whole\n%s--- split\n%s", cut,
              cut == 0 ? " (byte by byte)" : "", (char *)r->t.data, (char *)o.t.data);
      CHECK(0);
      wr_buf_free(&o.t);
      return;
    }
    wr_buf_free(&o.t);
  }
}

static void expect(wr_h1_kind kind, wr_h1_method m, const char *in, const char *want) {
  result r;
  run_all(&r, kind, m, NULL, in, strlen(in));
  if (strcmp((char *)r.t.data, want) != 0) {
    fprintf(stderr, "  input: %s\n  got:\n%s  want:\n%s", in, (char *)r.t.data, want);
    CHECK(0);
  }
  wr_buf_free(&r.t);
}

#define REQ(in, want) expect(WR_H1_REQUEST, WR_H1_M_OTHER, in, want)
#define RESP(m, in, want) expect(WR_H1_RESPONSE, m, in, want)

/* ---- valid requests ---- */

static void test_request_get(void) {
  REQ("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.88\r\n\r\n",
      "HEAD GET /index.html?q=1 1.1 host=example.com flags=K framing=none cl=0"
      " [Host: example.com] [User-Agent: curl/7.88]\nDONE\nEOF\n");
  /* Optional whitespace around values is trimmed, empty values are fine,
   * obs-text in values passes through. */
  REQ("GET / HTTP/1.1\r\nHost:a.b:8080\r\nX-Empty:\r\nX-Pad: \t v v \t\r\nX-Utf8: caf\xc3\xa9\r\n\r\n",
      "HEAD GET / 1.1 host=a.b:8080 flags=K framing=none cl=0 [Host: a.b:8080] [X-Empty: ]"
      " [X-Pad: v v] [X-Utf8: caf\xc3\xa9]\nDONE\nEOF\n");
  /* Leading empty lines before a request line are skipped (RFC 9112 2.2). */
  REQ("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "HEAD GET / 1.1 host=h flags=K framing=none cl=0 [Host: h]\nDONE\nEOF\n");
  REQ("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
      "HEAD OPTIONS * 1.1 host=h flags=K framing=none cl=0 [Host: h]\nDONE\nEOF\n");
  REQ("GET http://h.example/x HTTP/1.1\r\nHost: h.example\r\n\r\n",
      "HEAD GET http://h.example/x 1.1 host=h.example flags=K framing=none cl=0"
      " [Host: h.example]\nDONE\nEOF\n");
  /* absolute-form: its authority routes the request, not Host (RFC 9112 3.2.2). */
  REQ("GET http://real.example:8080?x HTTP/1.1\r\nHost: other.example\r\n\r\n",
      "HEAD GET http://real.example:8080?x 1.1 host=real.example:8080 flags=K framing=none cl=0"
      " [Host: other.example]\nDONE\nEOF\n");
  REQ("GET https://h.example/p HTTP/1.0\r\n\r\n",
      "HEAD GET https://h.example/p 1.0 host=h.example flags= framing=none cl=0\nDONE\nEOF\n");
  /* Methods are case-sensitive tokens: any token is accepted. */
  REQ("PROPFIND /d HTTP/1.1\r\nHost: h\r\n\r\n",
      "HEAD PROPFIND /d 1.1 host=h flags=K framing=none cl=0 [Host: h]\nDONE\nEOF\n");
}

static void test_request_bodies(void) {
  REQ("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
      "HEAD POST /up 1.1 host=h flags=K framing=len cl=11 [Host: h] [Content-Length: 11]\n"
      "BODY hello world\nDONE\nEOF\n");
  REQ("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
      "HEAD POST /up 1.1 host=h flags=K framing=len cl=0 [Host: h] [Content-Length: 0]\n"
      "DONE\nEOF\n");
  /* Chunked with extensions (ignored but validated), upper-case hex and
   * leading zeros, and trailers. */
  REQ("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=val\r\nhello\r\n00B ; a ; b = \"q\\\"x\"\r\n world, etc\r\n0\r\nX-Sum: 42\r\nX-T: 2\r\n\r\n",
      "HEAD POST /c 1.1 host=h flags=K framing=chunked cl=0 [Host: h] [Transfer-Encoding: chunked]\n"
      "BODY hello world, etc\nDONE [X-Sum: 42] [X-T: 2]\nEOF\n");
  REQ("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
      "HEAD POST /c 1.1 host=h flags=K framing=chunked cl=0 [Host: h] [Transfer-Encoding: CHUNKED]\n"
      "DONE\nEOF\n");
}

static void test_request_keepalive(void) {
  /* Two pipelined requests on one connection. */
  REQ("GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
      "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      "HEAD GET /a 1.1 host=h flags=K framing=none cl=0 [Host: h]\nDONE\n"
      "HEAD POST /b 1.1 host=h flags=K framing=len cl=2 [Host: h] [Content-Length: 2]\nBODY hi\nDONE\n"
      "HEAD GET /c 1.1 host=h flags=X framing=none cl=0 [Host: h] [Connection: close]\nDONE\nEOF\n");
  /* HTTP/1.0 closes by default, keeps alive on request; Host is optional. */
  REQ("GET / HTTP/1.0\r\n\r\n",
      "HEAD GET / 1.0 host= flags= framing=none cl=0\nDONE\nEOF\n");
  REQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
      "HEAD GET / 1.0 host= flags=K framing=none cl=0 [Connection: Keep-Alive]\nDONE\n"
      "HEAD GET /2 1.0 host= flags= framing=none cl=0\nDONE\nEOF\n");
  /* Connection is a list; close wins over keep-alive. */
  REQ("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, ,close\r\n\r\n",
      "HEAD GET / 1.1 host=h flags=X framing=none cl=0 [Host: h] [Connection: keep-alive, ,close]\n"
      "DONE\nEOF\n");
  /* Bytes after a message that closes the connection are an error. */
  REQ("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
      "HEAD GET / 1.0 host= flags= framing=none cl=0\nDONE\n"
      "ERR -12 400 data after a message that closes the connection\n");
}

static void test_request_expect_upgrade(void) {
  REQ("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc",
      "HEAD PUT /f 1.1 host=h flags=KE framing=len cl=3 [Host: h] [Expect: 100-Continue]"
      " [Content-Length: 3]\nBODY abc\nDONE\nEOF\n");
  /* Expect in HTTP/1.0 is ignored (RFC 9110 10.1.1). */
  REQ("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
      "HEAD PUT /f 1.0 host= flags= framing=len cl=1 [Expect: 100-continue] [Content-Length: 1]\n"
      "BODY x\nDONE\nEOF\n");
  /* WebSocket: the parser pauses after the head; the rest is raw bytes. */
  REQ("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81\x05hello",
      "HEAD GET /ws 1.1 host=h flags=KU framing=none cl=0 [Host: h] [Upgrade: websocket]"
      " [Connection: Upgrade] [Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==]\nDONE\nPAUSED rest=7\n");
  /* Upgrade without "Connection: upgrade" is not an upgrade. */
  REQ("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
      "HEAD GET / 1.1 host=h flags=K framing=none cl=0 [Host: h] [Upgrade: websocket]\nDONE\nEOF\n");
  REQ("CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n\x16\x03\x01",
      "HEAD CONNECT h.example:443 1.1 host=h.example:443 flags=KC framing=none cl=0"
      " [Host: h.example:443]\nDONE\nPAUSED rest=3\n");
}

static void test_resume_after_refused_upgrade(void) {
  const char *in = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
                   "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  wr_h1_parser p;
  CHECK_EQ(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL), 0);
  const uint8_t *d = (const uint8_t *)in;
  size_t len = strlen(in), used;
  wr_h1_event ev;
  CHECK_EQ(wr_h1_parse(&p, d, len, &used, &ev), WR_H1_EV_HEAD);
  d += used, len -= used;
  CHECK_EQ(wr_h1_parse(&p, d, len, &used, &ev), WR_H1_EV_DONE);
  CHECK_EQ(wr_h1_parse(&p, d, len, &used, &ev), WR_H1_EV_PAUSED);
  CHECK_EQ(used, 0);
  wr_h1_parser_resume(&p);
  CHECK(wr_h1_parser_idle(&p));
  CHECK_EQ(wr_h1_parse(&p, d, len, &used, &ev), WR_H1_EV_HEAD);
  CHECK(wr_h1_slice_eq(ev.head->target, "/next"));
  CHECK_EQ(used, len);
  wr_h1_parser_free(&p);
}

/* ---- valid responses ---- */

static void test_responses(void) {
  RESP(WR_H1_M_GET, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
       "HEAD 1.1 200 OK flags=K framing=len cl=5 [Content-Length: 5]\nBODY hello\nDONE\nEOF\n");
  RESP(WR_H1_M_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       "HEAD 1.1 200 OK flags=K framing=chunked cl=0 [Transfer-Encoding: chunked]\nBODY abc\nDONE\nEOF\n");
  /* No framing: the body runs until the connection closes. */
  RESP(WR_H1_M_GET, "HTTP/1.0 200 OK\r\n\r\nuntil close",
       "HEAD 1.0 200 OK flags= framing=close cl=0\nBODY until close\nDONE at EOF\n");
  RESP(WR_H1_M_GET, "HTTP/1.1 200 OK\r\n\r\n",
       "HEAD 1.1 200 OK flags= framing=close cl=0\nDONE at EOF\n");
  /* HEAD, 204 and 304 have no body whatever the headers say. */
  RESP(WR_H1_M_HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
       "HEAD 1.1 200 OK flags=K framing=none cl=0 [Content-Length: 1000]\nDONE\nEOF\n");
  RESP(WR_H1_M_GET, "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
       "HEAD 1.1 204 No Content flags=K framing=none cl=0\nDONE\n"
       "HEAD 1.1 304 Not Modified flags=K framing=none cl=0 [ETag: \"x\"]\nDONE\nEOF\n");
  /* 100 Continue, then the final response; a missing reason is tolerated. */
  RESP(WR_H1_M_PUT, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201\r\nContent-Length: 0\r\n\r\n",
       "HEAD 1.1 100 Continue flags=K framing=none cl=0\nDONE\n"
       "HEAD 1.1 201  flags=K framing=len cl=0 [Content-Length: 0]\nDONE\nEOF\n");
  /* HEAD is remembered across an interim response. */
  RESP(WR_H1_M_HEAD, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
       "HEAD 1.1 103 Early Hints flags=K framing=none cl=0 [Link: </s.css>]\nDONE\n"
       "HEAD 1.1 200 OK flags=K framing=none cl=0 [Content-Length: 9]\nDONE\nEOF\n");
  RESP(WR_H1_M_GET, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x7f",
       "HEAD 1.1 101 Switching Protocols flags=KU framing=none cl=0 [Upgrade: websocket]"
       " [Connection: Upgrade]\nDONE\nPAUSED rest=2\n");
  RESP(WR_H1_M_CONNECT, "HTTP/1.1 200 Connection established\r\n\r\nraw",
       "HEAD 1.1 200 Connection established flags=KC framing=none cl=0\nDONE\nPAUSED rest=3\n");
  RESP(WR_H1_M_CONNECT, "HTTP/1.1 407 No\r\nContent-Length: 1\r\n\r\nx",
       "HEAD 1.1 407 No flags=K framing=len cl=1 [Content-Length: 1]\nBODY x\nDONE\nEOF\n");
  /* Chunked response with trailers, then a keep-alive close. */
  RESP(WR_H1_M_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
       "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nGrpc-Status: 0\r\n\r\n",
       "HEAD 1.1 200 OK flags=X framing=chunked cl=0 [Transfer-Encoding: chunked] [Connection: close]\n"
       "BODY abcdefghijklmnopqrstuvwxyz\nDONE [Grpc-Status: 0]\nEOF\n");
}

/* ---- rejections ---- */

typedef struct bad_case {
  const char *in;
  int err;
  int status;
  const char *reason;
  size_t len; /* 0: strlen(in) */
} bad_case;

static void check_bad(wr_h1_kind kind, const bad_case *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    result r;
    run_all(&r, kind, WR_H1_M_GET, NULL, c[i].in, c[i].len ? c[i].len : strlen(c[i].in));
    if (r.rv != c[i].err || r.status != c[i].status || !r.reason ||
        strcmp(r.reason, c[i].reason) != 0) {
      fprintf(stderr, "  case %zu: input %s\n  got %d %d %s\n  want %d %d %s\n", i, c[i].in, r.rv,
              r.status, r.reason ? r.reason : "(none)", c[i].err, c[i].status, c[i].reason);
      CHECK(0);
    }
    wr_buf_free(&r.t);
  }
}

#define M WR_ERR_MALFORMED
static const bad_case bad_requests[] = {
    /* request line */
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "empty request-target (more than one space after the method?)"},
    {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "request line does not start with a method"},
    {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "invalid character in method"},
    {"GET\r\nHost: h\r\n\r\n", M, 400, "request line without an HTTP version (HTTP/0.9 is not supported)"},
    {"GET /\r\nHost: h\r\n\r\n", M, 400, "request line without an HTTP version (HTTP/0.9 is not supported)"},
    {"GET /\r\n", M, 400, "request line without an HTTP version (HTTP/0.9 is not supported)"},
    {"\r\nGET /index.html\r\n", M, 400, "request line without an HTTP version (HTTP/0.9 is not supported)"},
    {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "malformed HTTP version"},
    {"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "invalid character in request-target"},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "invalid character in request-target"},
    {"GET /#frag HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "fragment in request-target"},
    {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "asterisk-form target is only allowed with OPTIONS"},
    {"GET x HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "malformed request-target (not origin-form or absolute-form)"},
    {"CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "CONNECT needs an authority-form target (host:port)"},
    {"CONNECT a\"b:1 HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "invalid character in the request-target's authority"},
    {"GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "userinfo in request-target"},
    {"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "absolute-form target without a host"},
    {"GET http://h\"/x HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "invalid character in the request-target's authority"},
    {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", M, 400, "malformed HTTP version"},
    {"GET / http/1.1\r\nHost: h\r\n\r\n", M, 400, "malformed HTTP version"},
    {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", M, 400, "malformed HTTP version"},
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", WR_ERR_UNSUPPORTED, 505, "unsupported HTTP version (only 1.0 and 1.1)"},
    {"GET / HTTP/0.9\r\n\r\n", WR_ERR_UNSUPPORTED, 505, "unsupported HTTP version (only 1.0 and 1.1)"},
    {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", WR_ERR_UNSUPPORTED, 505, "unsupported HTTP version (only 1.0 and 1.1)"},
    /* line ends and control characters */
    {"GET / HTTP/1.1\nHost: h\r\n\r\n", M, 400, "bare LF (line feed without carriage return)"},
    {"GET / HTTP/1.1\r\nHost: h\n\n", M, 400, "bare LF (line feed without carriage return)"},
    {"GET / HTTP/1.1\r\nHost: h\r\n\n", M, 400, "bare LF (line feed without carriage return)"},
    {"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", M, 400, "bare LF (line feed without carriage return)"},
    {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", M, 400, "bare CR (carriage return without line feed)"},
    {"GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n", M, 400, "bare CR (carriage return without line feed)"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00" "b\r\n\r\n", M, 400, "invalid character in header value (control character)", 35},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n", M, 400, "invalid character in header value (control character)"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", M, 400, "invalid character in header value (control character)"},
    /* header field syntax */
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n", M, 400, "obs-fold (a header line starting with whitespace) is not allowed"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\tfolded\r\n\r\n", M, 400, "obs-fold (a header line starting with whitespace) is not allowed"},
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", M, 400, "whitespace between header name and colon"},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 5\r\n\r\nhello", M, 400, "whitespace between header name and colon"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n", M, 400, "invalid character in header name"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX\"Y: z\r\n\r\n", M, 400, "invalid character in header name"},
    {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", M, 400, "header line without a colon"},
    {"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", M, 400, "empty header name"},
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", M, 400, "missing Host header (required in HTTP/1.1)"},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", M, 400, "duplicate Host header"},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", M, 400, "invalid character in Host"},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", M, 400, "invalid character in Host"},
    /* Content-Length */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", M, 400, "duplicate Content-Length"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", M, 400, "conflicting Content-Length values"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello", M, 400, "invalid Content-Length (not a single number)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello", M, 400, "invalid Content-Length (not a single number)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", M, 400, "invalid Content-Length (not a single number)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", M, 400, "invalid Content-Length (not a single number)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", M, 400, "invalid Content-Length (not a number)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", M, 400, "Content-Length too large"},
    /* Transfer-Encoding and smuggling vectors */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", M, 400, "both Content-Length and Transfer-Encoding (request smuggling)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX", M, 400, "both Content-Length and Transfer-Encoding (request smuggling)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", M, 400, "chunked is not the final transfer coding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", M, 400, "chunked is not the final transfer coding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", M, 400, "chunked is not the final transfer coding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", M, 400, "chunked is applied more than once"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", M, 400, "chunked is applied more than once"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", WR_ERR_UNSUPPORTED, 501, "unsupported transfer coding (only chunked)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", M, 400, "chunked is not the final transfer coding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", M, 400, "malformed Transfer-Encoding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", M, 400, "chunked transfer coding with parameters"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked x\r\n\r\n", M, 400, "malformed Transfer-Encoding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n", M, 400, "empty Transfer-Encoding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", M, 400, "whitespace between header name and colon"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: x\r\n\tchunked\r\n\r\n", M, 400, "obs-fold (a header line starting with whitespace) is not allowed"},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", M, 400, "Transfer-Encoding in an HTTP/1.0 message"},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close;x\r\n\r\n", M, 400, "malformed Connection header (not a list of tokens)"},
    /* chunked body syntax */
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", M, 400, "chunk size overflow"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff0\r\n", M, 400, "chunk size overflow"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", M, 400, "malformed chunk size (expected hex digits)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", M, 400, "malformed chunk size (expected hex digits)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", M, 400, "malformed chunk size (expected hex digits)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", M, 400, "malformed chunk size line"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n", M, 400, "malformed chunk size line"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", M, 400, "bare LF in chunk size line"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n", M, 400, "bare CR in chunk size line"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n", M, 400, "malformed chunk extension (expected a name)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n", M, 400, "malformed chunk extension (expected a value)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\r\nhello\r\n", M, 400, "malformed chunk extension (unterminated quoted string)"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n", M, 400, "invalid character in chunk size line"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", M, 400, "missing CRLF after chunk data"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\r\n", M, 400, "missing CRLF after chunk data"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n", M, 400, "whitespace between header name and colon"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", M, 400, "bare LF (line feed without carriage return)"},
    /* truncation at EOF */
    {"GET / HTTP/1.1\r\nHost: h\r\n", WR_ERR_TRUNCATED, 400, "connection closed inside the header section"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel", WR_ERR_TRUNCATED, 400, "connection closed inside the body"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", WR_ERR_TRUNCATED, 400, "connection closed inside the body"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", WR_ERR_TRUNCATED, 400, "connection closed inside the trailer section"},
};

static const bad_case bad_responses[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", M, 400, "both Content-Length and Transfer-Encoding (request smuggling)"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", M, 400, "conflicting Content-Length values"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", M, 400, "chunked is not the final transfer coding"},
    {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", M, 400, "Transfer-Encoding in an HTTP/1.0 message"},
    {"HTTP/1.1 2000 OK\r\n\r\n", M, 400, "malformed status line (expected SP after the status code)"},
    {"HTTP/1.1 20 OK\r\n\r\n", M, 400, "malformed status code (expected 3 digits)"},
    {"HTTP/1.1 099 X\r\n\r\n", M, 400, "status code out of range (100-599)"},
    {"HTTP/1.1 600 X\r\n\r\n", M, 400, "status code out of range (100-599)"},
    {"HTTP/1.1\r\n\r\n", M, 400, "malformed status line (expected VERSION SP CODE SP REASON)"},
    {"HTTP/2 200 OK\r\n\r\n", M, 400, "malformed status line (expected VERSION SP CODE SP REASON)"},
    {"HTTP/3.0 200 OK\r\n\r\n", WR_ERR_UNSUPPORTED, 505, "unsupported HTTP version (only 1.0 and 1.1)"},
    {"HTTP/1.1 200 O\x01K\r\n\r\n", M, 400, "invalid character in reason phrase"},
    {"\r\nHTTP/1.1 200 OK\r\n\r\n", M, 400, "malformed status line (expected VERSION SP CODE SP REASON)"},
    {"HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", M, 400, "obs-fold (a header line starting with whitespace) is not allowed"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", WR_ERR_TRUNCATED, 400, "connection closed inside the body"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nokX", WR_ERR_CLOSED, 400, "data after a message that closes the connection"},
};
#undef M

static void test_rejections(void) {
  check_bad(WR_H1_REQUEST, bad_requests, sizeof bad_requests / sizeof bad_requests[0]);
  check_bad(WR_H1_RESPONSE, bad_responses, sizeof bad_responses / sizeof bad_responses[0]);
}

/* The classic smuggling pair: what a lenient front end would read as one
 * request with a body and a lenient back end as two requests. The strict
 * parser stops at the head, before any body byte reaches anyone. */
/* An HTTP/0.9 request is whole after its line: the refusal comes at its LF,
 * not after a header section that never arrives. */
static void test_http09_refused_at_once(void) {
  wr_h1_parser p;
  CHECK(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL) == 0);
  static const char in[] = "GET /";
  size_t used = 0;
  wr_h1_event ev;
  CHECK(wr_h1_parse(&p, (const uint8_t *)in, sizeof in - 1, &used, &ev) == WR_H1_EV_NEED_MORE);
  CHECK(wr_h1_parse(&p, (const uint8_t *)"\r", 1, &used, &ev) == WR_H1_EV_NEED_MORE);
  CHECK(wr_h1_parse(&p, (const uint8_t *)"\n", 1, &used, &ev) == WR_ERR_MALFORMED);
  CHECK(wr_h1_parser_status(&p) == 400);
  wr_h1_parser_free(&p);
  /* A 1.x request line passes the early check: the parser waits for fields. */
  CHECK(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL) == 0);
  static const char ok[] = "GET / HTTP/1.1\r\n";
  CHECK(wr_h1_parse(&p, (const uint8_t *)ok, sizeof ok - 1, &used, &ev) == WR_H1_EV_NEED_MORE);
  CHECK(used == sizeof ok - 1);
  wr_h1_parser_free(&p);
}

/* Between requests a parser gives its memory back and parses the next
 * request as before; mid-head it keeps what it has. */
static void test_trim(void) {
  wr_h1_parser p;
  CHECK_EQ(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL), 0);
  static const char req[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  for (int round = 0; round < 2; round++) {
    size_t u;
    wr_h1_event e;
    CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)req, 10, &u, &e), WR_H1_EV_NEED_MORE);
    wr_h1_parser_trim(&p); /* mid-head: nothing is freed */
    CHECK(p.hbuf.len == 10);
    CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)req + 10, sizeof req - 11, &u, &e), WR_H1_EV_HEAD);
    CHECK(e.head->target.len == 2 && memcmp(e.head->target.p, "/a", 2) == 0);
    CHECK_EQ(wr_h1_parse(&p, NULL, 0, &u, &e), WR_H1_EV_DONE);
    CHECK(wr_h1_parser_idle(&p));
    wr_h1_parser_trim(&p);
    CHECK(p.hbuf.data == NULL && p.hbuf.cap == 0 && p.fields == NULL);
  }
  wr_h1_parser_free(&p);
}

static void test_smuggling_stops_at_head(void) {
  const char *clte = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0\r\n\r\nSMUGGLED";
  wr_h1_parser p;
  CHECK_EQ(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL), 0);
  size_t used = 99;
  wr_h1_event ev;
  CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)clte, strlen(clte), &used, &ev), WR_ERR_MALFORMED);
  CHECK(ev.head == NULL);
  /* Sticky: the connection is done. */
  CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)"GET", 3, &used, &ev), WR_ERR_MALFORMED);
  CHECK_EQ(wr_h1_parser_status(&p), 400);
  wr_h1_parser_free(&p);
}

/* ---- limits ---- */

static void test_limits(void) {
  wr_h1_limits lim = {.max_head = 64, .max_headers = 2, .max_body = 10};
  result r;
  const char *big = "GET /0123456789012345678901234567890123456789 HTTP/1.1\r\nHost: h\r\n\r\n";
  run_all(&r, WR_H1_REQUEST, WR_H1_M_OTHER, &lim, big, strlen(big));
  CHECK_EQ(r.rv, WR_ERR_LIMIT);
  CHECK_EQ(r.status, 431);
  CHECK_STREQ(r.reason, "header section too large");
  wr_buf_free(&r.t);
  /* Exactly at the limit passes: 64 bytes. */
  const char *edge = "GET /012345678901234567890123456789 HTTP/1.1\r\nHost: hostname\r\n\r\n";
  CHECK_EQ(strlen(edge), 64);
  run_all(&r, WR_H1_REQUEST, WR_H1_M_OTHER, &lim, edge, strlen(edge));
  CHECK_EQ(r.rv, WR_H1_EV_NEED_MORE);
  wr_buf_free(&r.t);
  /* Skipped empty lines count too: nobody can stream CRLFs forever. */
  char crlfs[200];
  for (size_t i = 0; i < 100; i++)
    memcpy(crlfs + 2 * i, "\r\n", 2);
  run_all(&r, WR_H1_REQUEST, WR_H1_M_OTHER, &lim, crlfs, sizeof crlfs);
  CHECK_EQ(r.status, 431);
  wr_buf_free(&r.t);
  const char *many = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
  run_all(&r, WR_H1_REQUEST, WR_H1_M_OTHER, &lim, many, strlen(many));
  CHECK_EQ(r.rv, WR_ERR_LIMIT);
  CHECK_EQ(r.status, 431);
  CHECK_STREQ(r.reason, "too many header fields");
  wr_buf_free(&r.t);
  const char *cl = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
  run_all(&r, WR_H1_REQUEST, WR_H1_M_OTHER, &lim, cl, strlen(cl));
  CHECK_EQ(r.rv, WR_ERR_LIMIT);
  CHECK_EQ(r.status, 413);
  CHECK_STREQ(r.reason, "body larger than the configured limit");
  wr_buf_free(&r.t);
  const char *ch = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n5\r\nworld\r\n1\r\n!\r\n0\r\n\r\n";
  wr_h1_limits lim2 = {.max_body = 10};
  run_all(&r, WR_H1_REQUEST, WR_H1_M_OTHER, &lim2, ch, strlen(ch));
  CHECK_EQ(r.status, 413);
  CHECK(strstr((char *)r.t.data, "BODY helloworld\nERR") != NULL);
  wr_buf_free(&r.t);
  const char *tr = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  wr_h1_limits lim3 = {.max_headers = 2};
  run_all(&r, WR_H1_REQUEST, WR_H1_M_OTHER, &lim3, tr, strlen(tr));
  CHECK_EQ(r.status, 431);
  CHECK_STREQ(r.reason, "too many trailer fields");
  wr_buf_free(&r.t);
  /* An until-close response body is bounded too. */
  const char *uc = "HTTP/1.1 200 OK\r\n\r\n0123456789abc";
  run_all(&r, WR_H1_RESPONSE, WR_H1_M_GET, &lim2, uc, strlen(uc));
  CHECK_EQ(r.rv, WR_ERR_LIMIT);
  CHECK_EQ(r.status, 413);
  wr_buf_free(&r.t);
  /* A chunk line full of extensions is bounded. */
  wr_buf in;
  wr_buf_init(&in, 1 << 20);
  CHECK_EQ(wr_buf_puts(&in, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1"), 0);
  for (int i = 0; i < 3000; i++)
    CHECK_EQ(wr_buf_puts(&in, ";a"), 0);
  CHECK_EQ(wr_buf_puts(&in, "\r\nx\r\n0\r\n\r\n"), 0);
  drive(&r, WR_H1_REQUEST, WR_H1_M_OTHER, NULL, (char *)in.data, in.len, 0, 0);
  CHECK_STREQ(r.reason, "chunk size line too long (chunk extensions)");
  wr_buf_free(&r.t);
  drive(&r, WR_H1_REQUEST, WR_H1_M_OTHER, NULL, (char *)in.data, in.len, 0, 1);
  CHECK_STREQ(r.reason, "chunk size line too long (chunk extensions)");
  wr_buf_free(&r.t);
  wr_buf_free(&in);
}

/* Body events point into the caller's input: zero copy. */
static void test_zero_copy(void) {
  const char *in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  wr_h1_parser p;
  CHECK_EQ(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL), 0);
  size_t used;
  wr_h1_event ev;
  CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)in, strlen(in), &used, &ev), WR_H1_EV_HEAD);
  const wr_h1_header *cl = wr_h1_find(ev.head->headers, ev.head->nheaders, "content-LENGTH");
  CHECK(cl && wr_h1_slice_eq(cl->value, "3"));
  CHECK(wr_h1_find(ev.head->headers, ev.head->nheaders, "x") == NULL);
  size_t off = used;
  CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)in + off, strlen(in) - off, &used, &ev), WR_H1_EV_BODY);
  CHECK(ev.data == (const uint8_t *)in + off);
  CHECK_EQ(ev.len, 3);
  CHECK_EQ(wr_h1_parse(&p, NULL, 0, &used, &ev), WR_H1_EV_DONE);
  CHECK(wr_h1_parser_idle(&p));
  wr_h1_parser_free(&p);
}

static void test_hop_by_hop(void) {
  const char *in = "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"
                   "X-Kept: 2\r\nTE: trailers\r\n\r\n";
  wr_h1_parser p;
  CHECK_EQ(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL), 0);
  size_t used;
  wr_h1_event ev;
  CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)in, strlen(in), &used, &ev), WR_H1_EV_HEAD);
  const wr_h1_head *h = ev.head;
  const char *hop[] = {"Connection", "x-secret", "TE", "Transfer-Encoding", "Upgrade", "Keep-Alive"};
  const char *e2e[] = {"Host", "X-Kept", "Content-Length", "X-Secre"};
  for (size_t i = 0; i < 6; i++)
    CHECK(wr_h1_is_hop_by_hop(h, (wr_h1_slice){hop[i], strlen(hop[i])}));
  for (size_t i = 0; i < 4; i++)
    CHECK(!wr_h1_is_hop_by_hop(h, (wr_h1_slice){e2e[i], strlen(e2e[i])}));
  CHECK(!wr_h1_is_hop_by_hop(NULL, (wr_h1_slice){"X-Secret", 8}));
  CHECK(wr_h1_is_hop_by_hop(NULL, (wr_h1_slice){"trailer", 7}));
  wr_h1_parser_free(&p);
}

static void test_alloc_failure(void) {
  wr_h1_parser p;
  /* A new parser allocates nothing: its memory comes with the first bytes. */
  wr_mem_fail_after(0);
  CHECK_EQ(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL), 0);
  wr_mem_fail_after(-1);
  wr_h1_parser_free(&p);
  /* The field table comes with the first head: its failure is a clean 500. */
  CHECK_EQ(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL), 0);
  {
    static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t u;
    wr_h1_event e;
    CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)req, 16, &u, &e), WR_H1_EV_NEED_MORE);
    wr_mem_fail_after(0);
    CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)req + 16, sizeof req - 17, &u, &e), WR_ERR_NOMEM);
    wr_mem_fail_after(-1);
    CHECK_EQ(wr_h1_parser_status(&p), 500);
  }
  wr_h1_parser_free(&p);
  /* The head buffer grows on demand; an allocation failure there is a clean error. */
  CHECK_EQ(wr_h1_parser_init(&p, WR_H1_REQUEST, NULL), 0);
  wr_mem_fail_after(0);
  size_t used;
  wr_h1_event ev;
  CHECK_EQ(wr_h1_parse(&p, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, &used, &ev), WR_ERR_NOMEM);
  wr_mem_fail_after(-1);
  wr_h1_parser_free(&p);
}

/* ---- serializer ---- */

#define S(lit) ((wr_h1_slice){(lit), sizeof(lit) - 1})

static void test_serialize(void) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  wr_h1_header h[] = {{S("Host"), S("example.com")}, {S("Transfer-Encoding"), S("chunked")}};
  CHECK_EQ(wr_h1_write_request_head(&b, S("POST"), S("/up?x=1"), 1, h, 2), 0);
  CHECK_EQ(wr_h1_write_chunk(&b, "hello", 5), 0);
  CHECK_EQ(wr_h1_chunk_start(&b, 16), 0);
  CHECK_EQ(wr_buf_append(&b, "0123456789abcdef", 16), 0);
  CHECK_EQ(wr_h1_chunk_end(&b), 0);
  wr_h1_header t[] = {{S("X-Sum"), S("7")}};
  CHECK_EQ(wr_h1_write_last_chunk(&b, t, 1), 0);
  const char *want = "POST /up?x=1 HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 7\r\n\r\n";
  CHECK_EQ(b.len, strlen(want));
  CHECK_MEMEQ(b.data, want, b.len);
  /* What we write, we parse back. */
  result r;
  run_all(&r, WR_H1_REQUEST, WR_H1_M_OTHER, NULL, (char *)b.data, b.len);
  CHECK_STREQ((char *)r.t.data,
              "HEAD POST /up?x=1 1.1 host=example.com flags=K framing=chunked cl=0"
              " [Host: example.com] [Transfer-Encoding: chunked]\n"
              "BODY hello0123456789abcdef\nDONE [X-Sum: 7]\nEOF\n");
  wr_buf_free(&r.t);

  wr_buf_reset(&b);
  wr_h1_header rh[] = {{S("Content-Length"), S("0")}};
  CHECK_EQ(wr_h1_write_response_head(&b, 1, 404, (wr_h1_slice){0}, rh, 1), 0);
  CHECK_EQ(wr_h1_write_response_head(&b, 1, 599, (wr_h1_slice){0}, NULL, 0), 0);
  CHECK_EQ(wr_h1_write_response_head(&b, 0, 200, S("Fine"), NULL, 0), 0);
  const char *want2 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1 599 \r\n\r\n"
                      "HTTP/1.0 200 Fine\r\n\r\n";
  CHECK_EQ(b.len, strlen(want2));
  CHECK_MEMEQ(b.data, want2, b.len);

  /* Nothing can inject a header or a request line; out is left as it was. */
  size_t mark = b.len;
  wr_h1_header inj[] = {{S("X"), S("a\r\nEvil: 1")}};
  CHECK_EQ(wr_h1_write_response_head(&b, 1, 200, (wr_h1_slice){0}, inj, 1), WR_ERR_INVAL);
  wr_h1_header inj2[] = {{S("X Y"), S("a")}};
  CHECK_EQ(wr_h1_write_request_head(&b, S("GET"), S("/"), 1, inj2, 1), WR_ERR_INVAL);
  CHECK_EQ(wr_h1_write_request_head(&b, S("GET"), S("/ HTTP/1.1\r\nX:"), 1, NULL, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_h1_write_request_head(&b, S("G T"), S("/"), 1, NULL, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_h1_write_request_head(&b, S("GET"), S("/"), 2, NULL, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_h1_write_response_head(&b, 1, 99, (wr_h1_slice){0}, NULL, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_h1_write_response_head(&b, 1, 200, S("a\nb"), NULL, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_h1_chunk_start(&b, 0), WR_ERR_INVAL);
  CHECK_EQ(wr_h1_write_chunk(&b, "", 0), WR_ERR_INVAL);
  CHECK_EQ(b.len, mark);
  wr_buf_free(&b);

  /* A limit hit leaves the buffer as it was. */
  wr_buf small;
  wr_buf_init(&small, 20);
  CHECK_EQ(wr_h1_write_request_head(&small, S("GET"), S("/"), 1, h, 1), WR_ERR_LIMIT);
  CHECK_EQ(small.len, 0);
  CHECK_EQ(wr_h1_write_chunk(&small, "0123456789012345678901234", 25), WR_ERR_LIMIT);
  CHECK_EQ(small.len, 0);
  wr_buf_free(&small);
  CHECK_STREQ(wr_h1_status_text(502), "Bad Gateway");
  CHECK_STREQ(wr_h1_status_text(299), "");
}

int main(void) {
  RUN(test_request_get);
  RUN(test_request_bodies);
  RUN(test_request_keepalive);
  RUN(test_request_expect_upgrade);
  RUN(test_resume_after_refused_upgrade);
  RUN(test_responses);
  RUN(test_rejections);
  RUN(test_http09_refused_at_once);
  RUN(test_trim);
  RUN(test_smuggling_stops_at_head);
  RUN(test_limits);
  RUN(test_zero_copy);
  RUN(test_hop_by_hop);
  RUN(test_alloc_failure);
  RUN(test_serialize);
  return test_done();
}
