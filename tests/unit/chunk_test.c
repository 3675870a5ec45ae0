#include "base/chunk.h"
#include "test.h"

static void test_reuse_up_to_max_free(void) {
  wr_chunk_pool p;
  wr_chunk_pool_init(&p, 2);
  wr_chunk *a = wr_chunk_get(&p), *b = wr_chunk_get(&p), *c = wr_chunk_get(&p);
  CHECK(a && b && c);
  a->len = 5;
  a->next = b; /* put ignores next */
  wr_chunk_put(&p, a);
  CHECK_EQ(p.nfree, 1);
  wr_chunk *again = wr_chunk_get(&p);
  CHECK(again == a); /* recycled, and handed out empty */
  CHECK_EQ(again->len, 0);
  CHECK(again->next == NULL);
  a->next = b;
  b->next = c;
  c->next = NULL;
  wr_chunk_put_list(&p, a); /* three back, two kept, one freed */
  CHECK_EQ(p.nfree, 2);
  wr_chunk_pool_free(&p);
  CHECK_EQ(p.nfree, 0);
  CHECK(p.free == NULL);
}

int main(void) {
  RUN(test_reuse_up_to_max_free);
  return test_done();
}
