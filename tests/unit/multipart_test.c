/* multipart_test.c: the streaming multipart/form-data parser, fed whole and
 * byte by byte, its refusals, and the Content-Type boundary. */
#include <stdlib.h>

#include "proto/http/multipart.h"
#include "test.h"

/* What a feed saw: parts as "name|filename|ctype" and their data. */
typedef struct seen {
  char parts[8][256];
  char data[8][4096];
  size_t dlen[8];
  int nparts, ends, done, err;
  const char *reason;
} seen;

/* Feeds body in pieces of step bytes, keeping unconsumed bytes as a caller
 * must (the parser never holds more than a delimiter back). */
static void feed(const char *boundary, const char *body, size_t len, size_t step, seen *s) {
  memset(s, 0, sizeof *s);
  wr_mp_parser p;
  CHECK_EQ(wr_mp_init(&p, boundary, strlen(boundary)), 0);
  char win[8192];
  size_t have = 0, off = 0;
  for (;;) {
    size_t take = len - off < step ? len - off : step;
    memcpy(win + have, body + off, take);
    have += take;
    off += take;
    size_t start = 0;
    for (;;) {
      size_t used = 0;
      wr_mp_event ev;
      int e = wr_mp_parse(&p, (const uint8_t *)win + start, have - start, &used, &ev);
      if (e < 0) {
        s->err = e;
        s->reason = wr_mp_reason(&p);
        return;
      }
      CHECK(used <= have - start);
      start += used;
      if (e == WR_MP_EV_PART) {
        snprintf(s->parts[s->nparts], sizeof s->parts[0], "%.*s|%.*s|%.*s", (int)ev.part.name.len,
                 ev.part.name.p, (int)ev.part.filename.len, ev.part.filename.p,
                 (int)ev.part.content_type.len, ev.part.content_type.p);
        s->nparts++;
      } else if (e == WR_MP_EV_DATA) {
        int i = s->nparts - 1;
        memcpy(s->data[i] + s->dlen[i], ev.data, ev.len);
        s->dlen[i] += ev.len;
      } else if (e == WR_MP_EV_PART_END) {
        s->ends++;
      } else if (e == WR_MP_EV_DONE) {
        s->done = 1;
        if (start == have)
          break;
      } else if (used == 0) {
        break; /* needs more */
      }
    }
    memmove(win, win + start, have - start);
    have -= start;
    CHECK(have <= 4 + strlen(boundary)); /* at most a delimiter is held back */
    if (off == len) {
      if (!s->done) {
        s->err = wr_mp_finish(&p);
        s->reason = wr_mp_reason(&p);
      }
      return;
    }
  }
}

static const char body1[] =
    "--AbC\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"dir%2Fa.txt\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "hello\r\n--AbX not the end\r\n-\r\n--Ab\r\n"
    "--AbC\r\n"
    "content-disposition: form-data; name=file; filename=\"q\\\"uote\"\r\n"
    "\r\n"
    "\r\n--AbC--\r\nepilogue ignored";

static void test_parts_every_split(void) {
  for (size_t step = 1; step <= sizeof body1; step++) {
    seen s;
    feed("AbC", body1, sizeof body1 - 1, step, &s);
    CHECK_EQ(s.err, 0);
    CHECK_EQ(s.nparts, 2);
    CHECK_EQ(s.ends, 2);
    CHECK(s.done);
    CHECK_STREQ(s.parts[0], "file|dir%2Fa.txt|application/octet-stream");
    CHECK_STREQ(s.parts[1], "file|q\"uote|");
    CHECK_EQ(s.dlen[0], strlen("hello\r\n--AbX not the end\r\n-\r\n--Ab"));
    CHECK(memcmp(s.data[0], "hello\r\n--AbX not the end\r\n-\r\n--Ab", s.dlen[0]) == 0);
    CHECK_EQ(s.dlen[1], 0);
  }
}

static void test_padding(void) {
  /* Transport padding after a delimiter is allowed (RFC 2046) and consumed as
   * it comes: feed() checks nothing long is held back. */
  const char *b = "--b \t \r\n\r\nx\r\n--b   \r\n\r\ny\r\n--b--";
  for (size_t step = 1; step < 8; step++) {
    seen s;
    feed("b", b, strlen(b), step, &s);
    CHECK_EQ(s.err, 0);
    CHECK_EQ(s.nparts, 2);
    CHECK(s.dlen[0] == 1 && s.data[0][0] == 'x' && s.dlen[1] == 1 && s.data[1][0] == 'y');
  }
  char many[128] = "--b";
  memset(many + 3, ' ', 70);
  strcpy(many + 73, "\r\n\r\n\r\n--b--");
  seen s;
  feed("b", many, strlen(many), 10, &s);
  CHECK_EQ(s.err, WR_ERR_MALFORMED);
  CHECK_STREQ(s.reason, "too much padding after a multipart boundary");
}

static void test_refusals(void) {
  seen s;
  feed("b", "preamble\r\n--b\r\n\r\nx\r\n--b--", 24, 7, &s);
  CHECK_EQ(s.err, WR_ERR_MALFORMED);
  CHECK_STREQ(s.reason, "the body does not start with the multipart boundary");
  const char *noclose = "--b\r\n\r\ndata";
  feed("b", noclose, strlen(noclose), 3, &s);
  CHECK_EQ(s.err, WR_ERR_TRUNCATED);
  CHECK_STREQ(s.reason, "the multipart body ends before its closing boundary");
  const char *nocolon = "--b\r\nNoColonHere\r\n\r\nx\r\n--b--";
  feed("b", nocolon, strlen(nocolon), 5, &s);
  CHECK_EQ(s.err, WR_ERR_MALFORMED);
  CHECK_STREQ(s.reason, "a part header line is not \"Name: value\"");
  const char *junk = "--b\r\nX: y\r\n\r\nx\r\n--bjunk\r\n";
  feed("b", junk, strlen(junk), 100, &s);
  CHECK_EQ(s.err, WR_ERR_MALFORMED);
  CHECK_STREQ(s.reason, "a multipart boundary is not followed by CRLF");
  const char *baddisp = "--b\r\nContent-Disposition: form-data; name=\"x\r\n\r\nx\r\n--b--";
  feed("b", baddisp, strlen(baddisp), 100, &s);
  CHECK_EQ(s.err, WR_ERR_MALFORMED);
  CHECK_STREQ(s.reason, "a part's Content-Disposition is malformed");
  /* headers past 8 KiB */
  static char big[9000 + 64];
  strcpy(big, "--b\r\nX: ");
  memset(big + 8, 'a', 9000);
  strcpy(big + 9008, "\r\n\r\n--b--");
  feed("b", big, strlen(big), 4096, &s);
  CHECK_EQ(s.err, WR_ERR_LIMIT);
  /* more than 16 fields */
  char many[1024] = "--b\r\n";
  for (int i = 0; i < 17; i++)
    strcat(many, "X: y\r\n");
  strcat(many, "\r\n\r\n--b--");
  feed("b", many, strlen(many), 100, &s);
  CHECK_EQ(s.err, WR_ERR_LIMIT);
  wr_mp_parser p;
  CHECK_EQ(wr_mp_init(&p, "", 0), WR_ERR_INVAL);
  char b71[72];
  memset(b71, 'x', 71);
  CHECK_EQ(wr_mp_init(&p, b71, 71), WR_ERR_INVAL);
}

static void test_boundary(void) {
  wr_mp_slice b;
  const char *why = NULL;
  const char *ct = "multipart/form-data; boundary=----abc123";
  CHECK_EQ(wr_mp_boundary(ct, strlen(ct), &b, &why), 0);
  CHECK(b.len == 10 && memcmp(b.p, "----abc123", 10) == 0);
  ct = "Multipart/Form-Data;charset=utf-8; boundary=\"a b\"";
  CHECK_EQ(wr_mp_boundary(ct, strlen(ct), &b, &why), 0);
  CHECK(b.len == 3 && memcmp(b.p, "a b", 3) == 0);
  ct = "application/json";
  CHECK_EQ(wr_mp_boundary(ct, strlen(ct), &b, &why), WR_ERR_UNSUPPORTED);
  CHECK_STREQ(why, "the request body is not multipart/form-data");
  ct = "multipart/form-data";
  CHECK_EQ(wr_mp_boundary(ct, strlen(ct), &b, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the multipart Content-Type has no boundary parameter");
  ct = "multipart/form-data; boundary=";
  CHECK_EQ(wr_mp_boundary(ct, strlen(ct), &b, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the multipart boundary must be 1 to 70 characters");
  ct = "multipart/form-data; boundary";
  CHECK_EQ(wr_mp_boundary(ct, strlen(ct), &b, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the multipart Content-Type's parameters are malformed");
}

int main(void) {
  RUN(test_parts_every_split);
  RUN(test_padding);
  RUN(test_refusals);
  RUN(test_boundary);
  return test_done();
}
