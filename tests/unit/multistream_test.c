/* multistream_test.c: multistream-select messages and both negotiators. */
#include "proto/p2p/multistream.h"
#include "test.h"

static int supports(void *ctx, const char *proto) {
  (void)ctx;
  return strcmp(proto, "/noise") == 0;
}

static void test_messages(void) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  CHECK_EQ(wr_ms_put(&b, "/multistream/1.0.0"), 0);
  CHECK_EQ(b.len, 20);
  CHECK_EQ(b.data[0], 19);
  CHECK_MEMEQ(b.data + 1, "/multistream/1.0.0\n", 19);
  const char *line, *why = NULL;
  size_t len, used;
  CHECK_EQ(wr_ms_decode(b.data, b.len - 1, &line, &len, &used, &why), WR_ERR_TRUNCATED);
  CHECK_EQ(wr_ms_decode(b.data, b.len, &line, &len, &used, &why), 0);
  CHECK_EQ(used, 20);
  CHECK_EQ(len, 18);
  CHECK_EQ(wr_ms_decode((const uint8_t *)"\x03na ", 4, &line, &len, &used, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "multistream message does not end with a newline");
  CHECK_EQ(wr_ms_decode((const uint8_t *)"\x03n\n\n", 4, &line, &len, &used, &why),
           WR_ERR_MALFORMED);
  CHECK_STREQ(why, "multistream message holds a newline before its end");
  CHECK_EQ(wr_ms_decode((const uint8_t *)"\x00", 1, &line, &len, &used, &why), WR_ERR_MALFORMED);
  CHECK_EQ(wr_ms_decode((const uint8_t *)"\x81\x10", 2, &line, &len, &used, &why), WR_ERR_LIMIT);
  CHECK_EQ(wr_ms_put(&b, "a\nb"), WR_ERR_INVAL);
  wr_buf_free(&b);
}

/* Runs a dialer and a listener against each other, byte by byte. */
static void test_negotiate(void) {
  const char *offers[] = {"/tls/1.0.0", "/noise"};
  wr_ms d, l;
  wr_buf d2l, l2d;
  wr_buf_init(&d2l, 4096);
  wr_buf_init(&l2d, 4096);
  CHECK_EQ(wr_ms_dialer_init(&d, offers, 2, &d2l), 0);
  CHECK_EQ(wr_ms_listener_init(&l, supports, NULL, &l2d), 0);
  int dd = 0, ld = 0;
  for (int round = 0; round < 10 && !(dd && ld); round++) {
    /* Feed one byte more each time until the side consumes. */
    size_t used;
    const char *why = NULL;
    for (size_t k = 1; !ld && k <= d2l.len; k++) {
      int rv = wr_ms_input(&l, d2l.data, k, &used, &l2d, &why);
      CHECK(rv >= 0);
      if (used) {
        wr_buf_consume(&d2l, used);
        k = 0;
      }
      if (rv == WR_MS_DONE)
        ld = 1;
    }
    for (size_t k = 1; !dd && k <= l2d.len; k++) {
      int rv = wr_ms_input(&d, l2d.data, k, &used, &d2l, &why);
      CHECK(rv >= 0);
      if (used) {
        wr_buf_consume(&l2d, used);
        k = 0;
      }
      if (rv == WR_MS_DONE)
        dd = 1;
    }
  }
  CHECK(dd && ld);
  CHECK_STREQ(d.selected, "/noise");
  CHECK_STREQ(l.selected, "/noise");
  CHECK_EQ(d2l.len, 0);
  CHECK_EQ(l2d.len, 0);
  wr_buf_free(&d2l);
  wr_buf_free(&l2d);
}

static void test_refused(void) {
  const char *offers[] = {"/tls/1.0.0"};
  wr_ms d;
  wr_buf out;
  wr_buf_init(&out, 4096);
  CHECK_EQ(wr_ms_dialer_init(&d, offers, 1, &out), 0);
  wr_buf in;
  wr_buf_init(&in, 4096);
  CHECK_EQ(wr_ms_put(&in, "/multistream/1.0.0"), 0);
  CHECK_EQ(wr_ms_put(&in, "na"), 0);
  size_t used;
  const char *why = NULL;
  CHECK_EQ(wr_ms_input(&d, in.data, in.len, &used, &out, &why), WR_ERR_NOTFOUND);
  CHECK_STREQ(why, "peer supports none of the protocols offered");
  /* A listener gives up after 16 proposals. */
  wr_ms l;
  wr_buf_reset(&in);
  wr_buf_reset(&out);
  CHECK_EQ(wr_ms_listener_init(&l, supports, NULL, &out), 0);
  CHECK_EQ(wr_ms_put(&in, "/multistream/1.0.0"), 0);
  for (int i = 0; i < 17; i++)
    CHECK_EQ(wr_ms_put(&in, "/nope"), 0);
  CHECK_EQ(wr_ms_input(&l, in.data, in.len, &used, &out, &why), WR_ERR_LIMIT);
  /* A header that is not multistream's. */
  wr_buf_reset(&in);
  CHECK_EQ(wr_ms_listener_init(&l, supports, NULL, &out), 0);
  CHECK_EQ(wr_ms_put(&in, "/multistream/2.0.0"), 0);
  CHECK_EQ(wr_ms_input(&l, in.data, in.len, &used, &out, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "peer does not speak multistream-select 1.0");
  wr_buf_free(&in);
  wr_buf_free(&out);
}

int main(void) {
  RUN(test_messages);
  RUN(test_negotiate);
  RUN(test_refused);
  return test_done();
}
