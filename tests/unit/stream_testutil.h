/* stream_testutil.h: one end of an io/stream connection in a test: it writes
 * total bytes of a known pattern as fast as the stream takes them (counting
 * WR_ERR_AGAIN and the queue it saw), hashes what arrives, and can shut
 * down when it has sent everything and close once the peer ended too.
 * The test adds its own on_connected. */
#ifndef WR_STREAM_TESTUTIL_H
#define WR_STREAM_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "io/stream.h"
#include "test.h"

typedef struct test_end {
  wr_stream *s;
  int connected, eof, closed, close_err, writable, again;
  char reason[320], alpn[32], sni[64];
  uint64_t sent, received, total, rx_sum, tx_sum;
  size_t max_queued;
  int close_on_eof, shut_when_sent;
  uint64_t read_allowance; /* test_end_on_data_slow pauses once this much arrived */
  uint64_t read_step;      /* and test_end_on_tick lets this much more in */
} test_end;

static inline uint8_t test_byte_at(uint64_t off) { return (uint8_t)((off * 2654435761u) >> 13); }

/* Writes on until total or WR_ERR_AGAIN (on_writable calls it again). */
static inline void test_end_pump(test_end *e) {
  uint8_t buf[16 * 1024];
  while (e->sent < e->total) {
    size_t n = e->total - e->sent < sizeof buf ? (size_t)(e->total - e->sent) : sizeof buf;
    for (size_t i = 0; i < n; i++)
      buf[i] = test_byte_at(e->sent + i);
    ssize_t w = wr_stream_write(e->s, buf, n);
    if (w == WR_ERR_AGAIN) {
      e->again++;
      return;
    }
    CHECK(w > 0);
    if (w <= 0)
      return;
    for (ssize_t i = 0; i < w; i++)
      e->tx_sum = e->tx_sum * 31 + buf[i];
    e->sent += (uint64_t)w;
    size_t q = wr_stream_queued(e->s);
    if (q > e->max_queued)
      e->max_queued = q;
  }
  if (e->shut_when_sent) {
    e->shut_when_sent = 0;
    CHECK_EQ(wr_stream_shutdown(e->s), 0);
  }
  if (e->eof && e->close_on_eof)
    wr_stream_close(e->s);
}

static inline void test_end_on_data(wr_stream *s, const uint8_t *data, size_t len) {
  test_end *e = s->user;
  for (size_t i = 0; i < len; i++)
    e->rx_sum = e->rx_sum * 31 + data[i];
  e->received += len;
}
/* on_data of a slow reader: reading pauses once read_allowance bytes
 * arrived; test_end_on_tick lets read_step more in. */
static inline void test_end_on_data_slow(wr_stream *s, const uint8_t *data, size_t len) {
  test_end *e = s->user;
  test_end_on_data(s, data, len);
  if (e->received >= e->read_allowance)
    wr_stream_read_stop(s);
}
/* A timer callback (the timer's data is the end): read_step more bytes. */
static inline void test_end_on_tick(uv_timer_t *tm) {
  test_end *e = tm->data;
  e->read_allowance += e->read_step;
  if (e->s)
    wr_stream_read_start(e->s);
}

static inline void test_end_on_eof(wr_stream *s) {
  test_end *e = s->user;
  e->eof = 1;
  if (e->close_on_eof && e->sent == e->total) /* else once all is sent */
    wr_stream_close(s);
}
static inline void test_end_on_writable(wr_stream *s) {
  test_end *e = s->user;
  e->writable++;
  test_end_pump(e);
}
static inline void test_end_on_closed(wr_stream *s, int err, const char *reason) {
  test_end *e = s->user;
  e->closed = 1;
  e->close_err = err;
  snprintf(e->reason, sizeof e->reason, "%s", reason);
  e->s = NULL;
}

#endif
