/* Fuzzes the edge's tunnels file: parse, and when it parses, encode and
 * parse again to the same tunnels (the writer's output is always valid). */
#include <stdlib.h>
#include <string.h>

#include "tunnel/tunnels_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536)
    return 0;
  wr_tunnels_file tf, back;
  wr_tunnels_init(&tf);
  wr_tunnels_init(&back);
  char err[512] = "";
  if (wr_tunnels_parse((const char *)data, size, "fuzz.yml", &tf, err, sizeof err) != 0) {
    if (!err[0] || tf.n)
      abort();
    return 0;
  }
  wr_buf b;
  wr_buf_init(&b, 1 << 22);
  if (wr_tunnels_encode(&tf, &b) != 0 ||
      wr_tunnels_parse((const char *)b.data, b.len, "enc", &back, err, sizeof err) != 0 ||
      back.n != tf.n)
    abort();
  for (size_t i = 0; i < tf.n; i++)
    if (memcmp(back.tunnels[i].id, tf.tunnels[i].id, 16) != 0 ||
        strcmp(back.tunnels[i].name, tf.tunnels[i].name) != 0 ||
        back.tunnels[i].nhostnames != tf.tunnels[i].nhostnames)
      abort();
  wr_buf_free(&b);
  wr_tunnels_free(&back);
  wr_tunnels_free(&tf);
  return 0;
}
