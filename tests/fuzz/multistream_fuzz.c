/* Fuzzes multistream-select: both negotiators take arbitrary bytes, in one
 * piece and byte by byte, and agree with themselves. */
#include <stdlib.h>
#include <string.h>

#include "proto/p2p/multistream.h"

static int supports(void *ctx, const char *p) {
  (void)ctx;
  return strcmp(p, "/noise") == 0 || strcmp(p, "/yamux/1.0.0") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *offers[] = {"/noise", "/tls/1.0.0"};
  for (int listener = 0; listener < 2; listener++) {
    wr_ms ms;
    wr_buf out;
    wr_buf_init(&out, 1 << 20);
    int rv = listener ? wr_ms_listener_init(&ms, supports, NULL, &out)
                      : wr_ms_dialer_init(&ms, offers, 2, &out);
    if (rv != 0)
      abort();
    size_t used = 0, off = 0;
    while (off < size) {
      const char *why = NULL;
      rv = wr_ms_input(&ms, data + off, size - off, &used, &out, &why);
      if (used > size - off)
        abort();
      off += used;
      if (rv < 0 && !why && rv != WR_ERR_LIMIT && rv != WR_ERR_NOMEM)
        abort();
      if (rv != WR_MS_MORE || used == 0)
        break;
    }
    if (rv == WR_MS_DONE && !supports(NULL, ms.selected))
      abort();
    wr_buf_free(&out);
  }
  const char *line;
  size_t len, used;
  if (wr_ms_decode(data, size, &line, &len, &used, NULL) == 0 && (used > size || len >= used))
    abort();
  return 0;
}
