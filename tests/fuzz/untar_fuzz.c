/* Fuzzes the streaming tar reader: the input is read whole and again in
 * pieces whose sizes come from its first byte; both must agree on the
 * result and on what they saw, and every refusal carries a reason. */
#include <stdlib.h>
#include <string.h>

#include "proto/archive/untar.h"

typedef struct seen {
  uint64_t entries, data, ends;
  uint32_t sum;
} seen;

static int on_entry(void *arg, const wr_untar_entry *e) {
  seen *s = arg;
  if (!e->name[0] || strlen(e->name) > WR_UNTAR_MAX_NAME)
    abort();
  if (e->type != WR_TAR_FILE && e->size)
    abort();
  s->entries++;
  return 0;
}

static int on_data(void *arg, const uint8_t *p, size_t n) {
  seen *s = arg;
  s->data += n;
  for (size_t i = 0; i < n; i++)
    s->sum = s->sum * 31 + p[i];
  return 0;
}

static int on_end(void *arg) {
  ((seen *)arg)->ends++;
  return 0;
}

static const wr_untar_ops ops = {on_entry, on_data, on_end};
static wr_untar u;

static int run(const uint8_t *data, size_t size, size_t step, seen *s) {
  memset(s, 0, sizeof *s);
  wr_untar_init(&u, &ops, s);
  const char *why = NULL;
  int rv = 0;
  for (size_t off = 0; off < size && !rv;) {
    size_t k = size - off < step ? size - off : step;
    rv = wr_untar_feed(&u, data + off, k, &why);
    off += k;
  }
  if (!rv)
    rv = wr_untar_finish(&u, &why);
  if (rv && !why)
    abort();
  return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  seen a, b;
  int ra = run(data, size, size ? size : 1, &a);
  int rb = run(data, size, size ? (size_t)data[0] % 613 + 1 : 1, &b);
  if (ra != rb || memcmp(&a, &b, sizeof a) != 0)
    abort();
  return 0;
}
