/* Fuzzes the streaming CAR reader. The same input is fed whole and in small
 * pieces (the first byte picks the piece size); both must reach the same
 * outcome with the same blocks, consume no more than they were given, and
 * never ask for more than one header or section at a time. */
#include <stdlib.h>
#include <string.h>

#include "proto/ipld/car.h"

typedef struct outcome {
  int rv;
  size_t blocks;
  uint64_t sum; /* of block offsets and lengths, to compare runs */
  wr_buf rewrite; /* the blocks written again with wr_car_write_*, when asked */
  int do_rewrite;
} outcome;

static outcome run(const uint8_t *data, size_t size, size_t piece, int do_rewrite) {
  wr_car_reader r;
  wr_car_reader_init(&r, 4096);
  outcome o;
  memset(&o, 0, sizeof o);
  o.do_rewrite = do_rewrite;
  wr_buf_init(&o.rewrite, 2 * size + 4096);
  size_t start = 0, have = piece < size ? piece : size;
  for (int guard = 0; guard < 1000000; guard++) {
    size_t consumed, need;
    wr_car_block blk;
    const char *why = NULL;
    int eof = start + have == size;
    int ev = wr_car_reader_next(&r, data + start, have, eof, &consumed, &need, &blk, &why);
    if (consumed > have)
      abort();
    start += consumed;
    have -= consumed;
    if (ev == WR_CAR_EV_BLOCK) {
      o.blocks++;
      o.sum += blk.offset * 31 + blk.len;
      if (blk.data < data || blk.data + blk.len > data + size)
        abort();
      if (o.do_rewrite && wr_car_write_block(&o.rewrite, &blk.cid, blk.data, blk.len))
        abort();
    } else if (ev == WR_ERR_AGAIN) {
      if (need > 4096 + WR_VARINT_MAX_BYTES && need > WR_CAR_MAX_HEADER + WR_VARINT_MAX_BYTES)
        abort();
      size_t want = have + piece;
      if (need > want)
        want = need;
      if (start + want > size)
        want = size - start;
      if (want == have && eof && consumed == 0)
        abort(); /* AGAIN at eof without progress would loop forever */
      have = want;
    } else if (ev == WR_CAR_EV_HEADER) {
      if (o.do_rewrite && wr_car_write_header(&o.rewrite, r.roots, r.nroots))
        abort();
    } else {
      if (ev < 0 && !why)
        abort();
      o.rv = ev;
      return o;
    }
  }
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t piece = (size_t)(data[0] % 16) + 1;
  data++;
  size--;
  outcome a = run(data, size, size ? size : 1, 1);
  outcome b = run(data, size, piece, 0);
  if (a.rv != b.rv || a.blocks != b.blocks || a.sum != b.sum)
    abort();
  /* What was read cleanly, written again by the writer, reads back the same. */
  if (a.rv == WR_CAR_EV_END) {
    outcome c = run(a.rewrite.data, a.rewrite.len, a.rewrite.len, 0);
    if (c.rv != WR_CAR_EV_END || c.blocks != a.blocks)
      abort();
    wr_buf_free(&c.rewrite);
  }
  wr_buf_free(&a.rewrite);
  wr_buf_free(&b.rewrite);
  return 0;
}
