/* http1_fuzz.h: the shared body of the HTTP/1 request and response fuzzers.
 *
 * Input: byte 0 picks the split step (and, for responses, the request
 * method), the rest is the stream. The stream is parsed whole and then in
 * pieces of the chosen size; both runs must give the same transcript of
 * events (heads, body bytes, trailers, the error and its reason), every
 * NEED_MORE must consume everything given, and nothing may read out of
 * bounds (ASan). */
#ifndef WR_FUZZ_HTTP1_H
#define WR_FUZZ_HTTP1_H

#include <stdlib.h>
#include <string.h>

#include "proto/http/http1.h"

static void fz_put(wr_buf *t, const void *p, size_t n) {
  if (n && wr_buf_append(t, p, n) == WR_ERR_NOMEM)
    abort();
}

static void fz_slice(wr_buf *t, wr_h1_slice s) {
  fz_put(t, s.p, s.len);
  fz_put(t, "|", 1);
}

static void fz_fields(wr_buf *t, const wr_h1_header *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    fz_slice(t, h[i].name);
    fz_slice(t, h[i].value);
  }
}

static void fz_run(wr_buf *t, wr_h1_kind kind, wr_h1_method m, const uint8_t *in, size_t n,
                   size_t step) {
  wr_h1_parser p;
  wr_h1_limits lim = {.max_head = 2048, .max_headers = 16, .max_body = 1u << 20};
  if (wr_h1_parser_init(&p, kind, &lim))
    abort();
  wr_h1_parser_set_request_method(&p, m);
  size_t off = 0;
  char tag;
  for (;;) {
    size_t piece = step && step < n - off ? step : n - off;
    const uint8_t *d = in + off;
    size_t len = piece;
    off += piece;
    for (;;) {
      size_t used;
      wr_h1_event ev;
      int rv = wr_h1_parse(&p, d, len, &used, &ev);
      if (rv < 0) {
        fz_put(t, "E", 1);
        fz_put(t, wr_h1_parser_reason(&p), strlen(wr_h1_parser_reason(&p)));
        goto out;
      }
      if (used > len)
        abort();
      d += used;
      len -= used;
      if (rv == WR_H1_EV_NEED_MORE) {
        if (len)
          abort();
        break;
      }
      if (rv == WR_H1_EV_BODY) {
        if (ev.data + ev.len > in + n || ev.data < in)
          abort(); /* body must point into the input */
        fz_put(t, ev.data, ev.len);
        continue;
      }
      if (rv == WR_H1_EV_HEAD) {
        const wr_h1_head *h = ev.head;
        tag = 'H';
        fz_put(t, &tag, 1);
        fz_slice(t, h->method);
        fz_slice(t, h->target);
        fz_slice(t, h->reason);
        fz_slice(t, h->host);
        fz_put(t, &h->status, sizeof h->status);
        fz_put(t, &h->flags, sizeof h->flags);
        fz_put(t, &h->framing, sizeof h->framing);
        fz_put(t, &h->content_length, sizeof h->content_length);
        fz_fields(t, h->headers, h->nheaders);
      } else if (rv == WR_H1_EV_DONE) {
        fz_put(t, "D", 1);
        fz_fields(t, ev.trailers, ev.ntrailers);
        /* Exercise pipelined responses to HEAD as well. */
        wr_h1_parser_set_request_method(&p, m);
      } else if (rv == WR_H1_EV_PAUSED) {
        fz_put(t, "P", 1);
        wr_h1_parser_resume(&p);
      } else {
        abort();
      }
    }
    if (off >= n)
      break;
  }
  {
    wr_h1_event ev;
    int rv = wr_h1_parser_finish(&p, &ev);
    char c = (char)('0' + (rv < 0 ? 9 : rv));
    fz_put(t, &c, 1);
  }
out:
  wr_h1_parser_free(&p);
}

static int fz_http1(wr_h1_kind kind, const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t step = (size_t)(data[0] & 0x1f) + 1;
  wr_h1_method m = (data[0] >> 5) == 1 ? WR_H1_M_HEAD
                   : (data[0] >> 5) == 2 ? WR_H1_M_CONNECT
                                         : WR_H1_M_GET;
  data++;
  size--;
  wr_buf a, b;
  wr_buf_init(&a, 1u << 24);
  wr_buf_init(&b, 1u << 24);
  fz_run(&a, kind, m, data, size, 0);
  fz_run(&b, kind, m, data, size, step);
  if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
    abort(); /* the split changed the outcome */
  wr_buf_free(&a);
  wr_buf_free(&b);
  return 0;
}

#endif
