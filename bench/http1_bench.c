/* http1_bench: how fast the tunnel codecs run, on one core.
 *
 *   build/bench/http1_bench [seconds-per-case]
 *
 * Cases: parsing a typical browser GET head (HTTP/1 request parser), a
 * chunked upload of 16 KiB chunks (body bytes per second through the parser,
 * which hands out pointers and copies nothing), and a tunnel REQUEST head
 * encoded and decoded again (warren-tunnel/1). Prints one line per case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "proto/http/http1.h"
#include "proto/tunnel/tunnel.h"

static const char get_head[] =
    "GET /static/js/app.4f1c2a.js?v=20261124 HTTP/1.1\r\n"
    "Host: app.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://app.example.com/dashboard\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=7d0a4c1e9b2f4a6c8e0d1f3a5b7c9e1f; theme=dark\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "\r\n";

static double seconds = 1.0;

static void bench_heads(void) {
  wr_h1_parser p;
  if (wr_h1_parser_init(&p, WR_H1_REQUEST, NULL))
    exit(1);
  size_t n = sizeof get_head - 1, iters = 0;
  uint64_t t0 = wr_now_ns(), limit = (uint64_t)(seconds * 1e9), el;
  do {
    for (int k = 0; k < 1000; k++) {
      size_t used;
      wr_h1_event ev;
      if (wr_h1_parse(&p, (const uint8_t *)get_head, n, &used, &ev) != WR_H1_EV_HEAD ||
          wr_h1_parse(&p, NULL, 0, &used, &ev) != WR_H1_EV_DONE)
        exit(1);
    }
    iters += 1000;
  } while ((el = wr_now_ns() - t0) < limit);
  double s = (double)el / 1e9;
  printf("%-34s %12.0f heads/s %9.1f MB/s  (%zu-byte head, 12 fields)\n", "http1 request head parse",
         (double)iters / s, (double)(iters * n) / s / 1e6, n);
  wr_h1_parser_free(&p);
}

static void bench_chunked(void) {
  /* One message: a head, then many 16 KiB chunks, fed 64 KiB at a time. */
  const size_t chunk = 16384, nchunks = 64;
  wr_buf in;
  wr_buf_init(&in, 8u << 20);
  static uint8_t data[16384];
  memset(data, 'x', sizeof data);
  for (size_t i = 0; i < nchunks; i++)
    if (wr_h1_write_chunk(&in, data, chunk))
      exit(1);
  size_t body = chunk * nchunks, iters = 0;
  const char *head = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  wr_h1_parser p;
  if (wr_h1_parser_init(&p, WR_H1_REQUEST, NULL))
    exit(1);
  size_t used;
  wr_h1_event ev;
  if (wr_h1_parse(&p, (const uint8_t *)head, strlen(head), &used, &ev) != WR_H1_EV_HEAD)
    exit(1);
  uint64_t t0 = wr_now_ns(), limit = (uint64_t)(seconds * 1e9), el, got = 0;
  do {
    for (size_t off = 0; off < in.len;) {
      size_t len = in.len - off < 65536 ? in.len - off : 65536;
      const uint8_t *d = in.data + off;
      off += len;
      while (len) {
        int rv = wr_h1_parse(&p, d, len, &used, &ev);
        if (rv < 0)
          exit(1);
        if (rv == WR_H1_EV_BODY)
          got += ev.len;
        d += used;
        len -= used;
      }
    }
    iters++;
  } while ((el = wr_now_ns() - t0) < limit);
  if (got != iters * body)
    exit(1);
  double s = (double)el / 1e9;
  printf("%-34s %12.0f chunks/s (16 KiB each; bodies are not copied, so this is the\n"
         "%-34s %12s framing cost only: %.0f MB/s of body)\n",
         "http1 chunked body parse", (double)(iters * nchunks) / s, "", "",
         (double)got / s / 1e6);
  wr_h1_parser_free(&p);
  wr_buf_free(&in);
}

static void bench_tunnel(void) {
  wr_h1_parser p;
  if (wr_h1_parser_init(&p, WR_H1_REQUEST, NULL))
    exit(1);
  size_t used;
  wr_h1_event ev;
  if (wr_h1_parse(&p, (const uint8_t *)get_head, sizeof get_head - 1, &used, &ev) != WR_H1_EV_HEAD)
    exit(1);
  wr_tunnel_msg m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REQUEST;
  m.u.request.kind = WR_TUNNEL_KIND_HTTP;
  m.u.request.dest = ev.head->host;
  m.u.request.method = ev.head->method;
  m.u.request.path = ev.head->target;
  m.u.request.headers = ev.head->headers;
  m.u.request.nheaders = ev.head->nheaders;
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  wr_tunnel_decoder d;
  if (wr_tunnel_decoder_init(&d, NULL))
    exit(1);
  size_t iters = 0, wire = 0;
  uint64_t t0 = wr_now_ns(), limit = (uint64_t)(seconds * 1e9), el;
  do {
    for (int k = 0; k < 1000; k++) {
      wr_buf_reset(&b);
      wr_tunnel_msg out;
      if (wr_tunnel_encode(&b, &m) || wr_tunnel_decode(&d, b.data, b.len, &used, &out) != 1)
        exit(1);
    }
    wire = b.len;
    iters += 1000;
  } while ((el = wr_now_ns() - t0) < limit);
  double s = (double)el / 1e9;
  printf("%-34s %12.0f heads/s  (%zu bytes on the wire for the %zu-byte HTTP/1 head)\n",
         "tunnel REQUEST encode + decode", (double)iters / s, wire, sizeof get_head - 1);
  wr_tunnel_decoder_free(&d);
  wr_buf_free(&b);
  wr_h1_parser_free(&p);
}

int main(int argc, char **argv) {
  if (argc > 1)
    seconds = atof(argv[1]);
  if (seconds <= 0)
    seconds = 1.0;
  bench_heads();
  bench_chunked();
  bench_tunnel();
  return 0;
}
