/* rbuf.c: per-thread spares of 64 KiB read buffers (base/rbuf.h). */
#include "base/rbuf.h"

#include "base/mem.h"

static _Thread_local uint8_t *spares[WR_RBUF_SPARES];
static _Thread_local size_t nspares;
static _Thread_local size_t lent;

uint8_t *wr_rbuf_get(void) {
  uint8_t *b = nspares ? spares[--nspares] : wr_malloc(WR_RBUF_SIZE);
  if (b)
    lent++;
  return b;
}

void wr_rbuf_put(uint8_t *b) {
  if (!b)
    return;
  lent--;
  if (nspares < WR_RBUF_SPARES)
    spares[nspares++] = b;
  else
    wr_free(b);
}

void wr_rbuf_trim(void) {
  while (nspares)
    wr_free(spares[--nspares]);
}

size_t wr_rbuf_lent(void) { return lent; }
