#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "test.h"

static void test_buf_limit(void) {
  wr_buf b;
  wr_buf_init(&b, 10);
  CHECK_EQ(wr_buf_append(&b, "0123456789", 10), 0);
  CHECK_EQ(b.len, 10);
  CHECK_EQ(wr_buf_append(&b, "x", 1), WR_ERR_LIMIT);
  wr_buf_consume(&b, 4);
  CHECK_EQ(b.len, 6);
  CHECK_MEMEQ(b.data, "456789", 6);
  CHECK_EQ(wr_buf_printf(&b, "%d", 1234), 0);
  CHECK_MEMEQ(b.data, "4567891234", 10);
  wr_buf_free(&b);
}

static void test_buf_alloc_failure(void) {
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  wr_mem_fail_after(0);
  CHECK_EQ(wr_buf_append(&b, "abc", 3), WR_ERR_NOMEM);
  wr_mem_fail_after(-1);
  CHECK_EQ(b.len, 0);
  CHECK_EQ(wr_buf_append(&b, "abc", 3), 0);
  wr_buf_free(&b);
}

static void test_hex(void) {
  char out[9];
  uint8_t bin[4];
  wr_hex_encode(out, "\x00\xab\x10\xff", 4);
  CHECK_STREQ(out, "00ab10ff");
  CHECK_EQ(wr_hex_decode(bin, 4, "00AB10ff", 8), 0);
  CHECK_MEMEQ(bin, "\x00\xab\x10\xff", 4);
  CHECK_EQ(wr_hex_decode(bin, 4, "00ab10f", 7), WR_ERR_MALFORMED);
  CHECK_EQ(wr_hex_decode(bin, 4, "00ab10fg", 8), WR_ERR_MALFORMED);
}

static void test_log_formats(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  wr_log_set_stream(f);
  wr_log(WR_LOG_INFO, "Registered tunnel connection", "connIndex=%d location=%s", 0, "edge a");
  wr_log(WR_LOG_DEBUG, "hidden", "x=%d", 1);
  wr_log_set_json(1);
  wr_log(WR_LOG_WARN, "say \"hi\"", "a=1 b=two words");
  wr_log(WR_LOG_WARN, "typed", "n=-12 r=0.25 id=0123 big=1234567890123456 "
                               "reason=\"peer closed: 0x0\" d=1.5s");
  wr_log_set_json(0);
  wr_log_set_stream(NULL);
  fclose(f);
  CHECK(strstr(text, "Z INF Registered tunnel connection connIndex=0 location=edge a\n") != NULL);
  CHECK(strstr(text, "hidden") == NULL);
  CHECK(strstr(text, "{\"level\":\"warn\",\"time\":\"") != NULL);
  CHECK(strstr(text, "\"message\":\"say \\\"hi\\\"\",\"a\":1,\"b\":\"two words\"}\n") != NULL);
  CHECK(strstr(text, "\"message\":\"typed\",\"n\":-12,\"r\":0.25,\"id\":\"0123\","
                     "\"big\":\"1234567890123456\",\"reason\":\"peer closed: 0x0\","
                     "\"d\":\"1.5s\"}\n") != NULL);
  free(text);
}

static void test_log_level_parse(void) {
  wr_log_level l;
  CHECK_EQ(wr_log_level_parse("debug", &l), 0);
  CHECK_EQ(l, WR_LOG_DEBUG);
  CHECK_EQ(wr_log_level_parse("WARN", &l), 0);
  CHECK_EQ(l, WR_LOG_WARN);
  CHECK_EQ(wr_log_level_parse("loud", &l), WR_ERR_INVAL);
}

int main(void) {
  RUN(test_buf_limit);
  RUN(test_buf_alloc_failure);
  RUN(test_hex);
  RUN(test_log_formats);
  RUN(test_log_level_parse);
  return test_done();
}
