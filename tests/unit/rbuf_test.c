#include "base/mem.h"
#include "base/rbuf.h"
#include "test.h"

/* Buffers go back to the spares and come out again; past WR_RBUF_SPARES they
 * are freed; the count of lent buffers follows. */
static void test_lend_and_return(void) {
  uint8_t *b[WR_RBUF_SPARES + 2];
  for (size_t i = 0; i < WR_RBUF_SPARES + 2; i++) {
    b[i] = wr_rbuf_get();
    CHECK(b[i] != NULL);
    b[i][0] = (uint8_t)i;
    b[i][WR_RBUF_SIZE - 1] = (uint8_t)i; /* the whole size is usable */
  }
  CHECK_EQ(wr_rbuf_lent(), WR_RBUF_SPARES + 2);
  for (size_t i = 0; i < WR_RBUF_SPARES + 2; i++)
    wr_rbuf_put(b[i]);
  CHECK_EQ(wr_rbuf_lent(), 0);
  /* A spare is reused: no allocation needed for it. */
  wr_mem_fail_after(0);
  uint8_t *again = wr_rbuf_get();
  CHECK(again != NULL);
  wr_rbuf_put(again);
  wr_mem_fail_after(-1);
  wr_rbuf_put(NULL);
  CHECK_EQ(wr_rbuf_lent(), 0);
  wr_rbuf_trim();
}

/* No spare and no memory: NULL, nothing counted as lent. */
static void test_out_of_memory(void) {
  wr_rbuf_trim();
  wr_mem_fail_after(0);
  CHECK(wr_rbuf_get() == NULL);
  wr_mem_fail_after(-1);
  CHECK_EQ(wr_rbuf_lent(), 0);
}

int main(void) {
  RUN(test_lend_and_return);
  RUN(test_out_of_memory);
  return test_done();
}
