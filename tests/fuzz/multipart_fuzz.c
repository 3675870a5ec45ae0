/* Fuzzes the streaming multipart parser: the input's first byte picks the
 * feed size, the rest is the body for boundary "b". Every event stays inside
 * the bytes given, a caller never has to keep more than a delimiter, and the
 * same body fed whole gives the same part data as fed in pieces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http/multipart.h"

/* Returns the concatenated part data (and -1 on error) into out. */
static long run(const uint8_t *body, size_t len, size_t step, uint8_t *out, size_t cap) {
  wr_mp_parser p;
  if (wr_mp_init(&p, "b", 1) != 0)
    abort();
  static uint8_t win[1 << 16];
  size_t have = 0, off = 0, w = 0;
  for (;;) {
    size_t take = len - off < step ? len - off : step;
    memcpy(win + have, body + off, take);
    have += take;
    off += take;
    size_t start = 0;
    for (int guard = 0;; guard++) {
      if (guard > 100000)
        abort(); /* no progress */
      size_t used = 0;
      wr_mp_event ev;
      int e = wr_mp_parse(&p, win + start, have - start, &used, &ev);
      if (e < 0) {
        if (!wr_mp_reason(&p)[0])
          abort();
        return -1;
      }
      if (used > have - start)
        abort();
      if (e == WR_MP_EV_DATA) {
        if (ev.data != win + start || ev.len != used || ev.len == 0)
          abort();
        if (w + ev.len > cap)
          abort();
        memcpy(out + w, ev.data, ev.len);
        w += ev.len;
      }
      start += used;
      if (e == WR_MP_EV_DONE)
        return (long)w;
      if (e == WR_MP_EV_NEED_MORE && used == 0)
        break;
    }
    memmove(win, win + start, have - start);
    have -= start;
    if (have > 5) /* "\r\n--b" */
      abort();
    if (off == len)
      return wr_mp_finish(&p) == 0 ? (long)w : -1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 16384)
    return 0;
  size_t step = (size_t)data[0] % 64 + 1;
  static uint8_t a[16384], b[16384];
  long x = run(data + 1, size - 1, step, a, sizeof a);
  long y = run(data + 1, size - 1, size, b, sizeof b);
  if (x != y || (x > 0 && memcmp(a, b, (size_t)x) != 0))
    abort();
  return 0;
}
