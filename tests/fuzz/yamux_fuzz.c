/* Fuzzes a yamux session: arbitrary bytes from the peer, split at a point
 * the first byte picks; the callbacks write, consume, end and reset. */
#include <stdlib.h>
#include <string.h>

#include "proto/p2p/yamux.h"

static void on_open(wr_yamux_session *y, wr_yamux_stream *st) {
  (void)y;
  if (wr_yamux_stream_id(st) % 3 == 0)
    wr_yamux_stream_reset(st);
}
static void on_data(wr_yamux_session *y, wr_yamux_stream *st, const uint8_t *p, size_t n) {
  (void)y;
  (void)wr_yamux_stream_write(st, p, n);
  wr_yamux_stream_consume(st, n);
}
static void on_fin(wr_yamux_session *y, wr_yamux_stream *st) {
  (void)y;
  (void)wr_yamux_stream_end(st);
}

static const wr_yamux_events ev = {on_open, on_data, on_fin, NULL, NULL, NULL, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (int client = 0; client < 2; client++) {
    wr_yamux_session y;
    wr_yamux_config cfg = {.max_streams = 8, .out_limit = 1 << 16};
    if (wr_yamux_init(&y, client, &cfg, &ev, NULL) != 0)
      abort();
    wr_yamux_stream *st;
    if (wr_yamux_open(&y, NULL, &st) != 0)
      abort();
    size_t cut = size ? data[0] % (size + 1) : 0;
    const char *why = NULL;
    int rv = wr_yamux_input(&y, data, cut, &why);
    if (rv == 0)
      rv = wr_yamux_input(&y, data + cut, size - cut, &why);
    if (rv == WR_ERR_MALFORMED && !why)
      abort();
    wr_yamux_out_drained(&y);
    wr_yamux_reap(&y);
    wr_yamux_fail(&y);
    wr_yamux_reap(&y);
    if (y.nstreams != 0)
      abort();
    wr_yamux_free(&y);
  }
  return 0;
}
