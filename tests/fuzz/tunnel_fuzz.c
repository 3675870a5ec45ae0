/* Fuzzes the tunnel protocol decoder. Byte 0 picks a split step; the rest is
 * a stream of messages. Properties: the split does not change which messages
 * come out or the error; every message decoded re-encodes to exactly the
 * bytes it came from (the encoding is canonical); nothing reads out of
 * bounds. */
#include <stdlib.h>
#include <string.h>

#include "proto/tunnel/tunnel.h"

/* Decodes in pieces of step bytes (0: all at once); appends the re-encoding
 * of every message to out and returns the final status. */
static int run(const uint8_t *in, size_t n, size_t step, wr_buf *out, const char **preason) {
  wr_tunnel_decoder d;
  wr_tunnel_limits lim = {.max_payload = 4096, .max_headers = 32};
  if (wr_tunnel_decoder_init(&d, &lim))
    abort();
  size_t off = 0;
  int rv = 0;
  while (off < n) {
    size_t len = step && step < n - off ? step : n - off;
    size_t used;
    wr_tunnel_msg m;
    rv = wr_tunnel_decode(&d, in + off, len, &used, &m);
    if (rv < 0)
      break;
    if (used > len)
      abort();
    if (rv == 0 && used != len)
      abort();
    if (rv == 1) {
      size_t mark = out->len;
      if (wr_tunnel_encode(out, &m))
        abort(); /* whatever decodes must encode */
      /* The re-encoding equals the input bytes of this message. */
      size_t mlen = out->len - mark;
      if (mlen > off + used)
        abort();
      if (memcmp(out->data + mark, in + off + used - mlen, mlen) != 0)
        abort();
    }
    off += used;
  }
  *preason = rv < 0 ? wr_tunnel_decoder_reason(&d) : NULL;
  if (rv > 0)
    rv = 0;
  wr_tunnel_decoder_free(&d);
  return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t step = (size_t)(data[0] & 0x0f) + 1;
  data++;
  size--;
  wr_buf a, b;
  wr_buf_init(&a, 1u << 24);
  wr_buf_init(&b, 1u << 24);
  const char *ra, *rb;
  int x = run(data, size, 0, &a, &ra);
  int y = run(data, size, step, &b, &rb);
  if (x != y || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
    abort();
  if ((ra == NULL) != (rb == NULL) || (ra && strcmp(ra, rb) != 0))
    abort();
  wr_buf_free(&a);
  wr_buf_free(&b);
  return 0;
}
