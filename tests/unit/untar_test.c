/* untar_test.c: the streaming tar reader reads back what tar.h writes (short
 * and PAX names, long link targets, empty and multi-block files), fed whole
 * and byte by byte, reads GNU tar's own PAX archive, and refuses each
 * malformed header with its reason. */
#include <stdio.h>
#include <stdlib.h>

#include "proto/archive/untar.h"
#include "test.h"

typedef struct seen {
  char log[8192];
  size_t len;
  uint64_t data;
  uint32_t sum;
  int fail_on_entry;
} seen;

static int on_entry(void *arg, const wr_untar_entry *e) {
  seen *s = arg;
  if (s->fail_on_entry)
    return WR_ERR_IO;
  s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "%c %s %s %llu %o;", e->type,
                             e->name, e->link, (unsigned long long)e->size, e->mode);
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
  seen *s = arg;
  s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "end;");
  return 0;
}

static const wr_untar_ops ops = {on_entry, on_data, on_end};

/* Reads buf in pieces of step bytes (0: at once). */
static int read_all(const uint8_t *buf, size_t n, size_t step, seen *s, const char **why) {
  static wr_untar u;
  memset(s, 0, sizeof *s);
  wr_untar_init(&u, &ops, s);
  *why = NULL;
  for (size_t off = 0; off < n;) {
    size_t k = step && n - off > step ? step : n - off;
    int rv = wr_untar_feed(&u, buf + off, k, why);
    if (rv)
      return rv;
    off += k;
  }
  return wr_untar_finish(&u, why);
}

static void file(wr_buf *b, const char *name, const uint8_t *data, size_t n) {
  CHECK_EQ(wr_tar_header(b, name, strlen(name), WR_TAR_FILE, n, 0644, 1700000000, NULL, 0), 0);
  CHECK_EQ(wr_buf_append(b, data, n), 0);
  static const uint8_t zero[512];
  CHECK_EQ(wr_buf_append(b, zero, wr_tar_padding(n)), 0);
}

static void build(wr_buf *b, uint32_t *psum) {
  static uint8_t big[3000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)(i * 7);
  char longname[300];
  memset(longname, 'n', sizeof longname);
  memcpy(longname, "top/", 4);
  longname[299] = '\0';
  char longlink[200];
  memset(longlink, 'l', sizeof longlink);
  longlink[199] = '\0';
  CHECK_EQ(wr_tar_header(b, "top", 3, WR_TAR_DIR, 0, 0755, 0, NULL, 0), 0);
  file(b, "top/a.txt", (const uint8_t *)"hello\n", 6);
  file(b, "top/empty", NULL, 0);
  file(b, longname, big, sizeof big);
  CHECK_EQ(wr_tar_header(b, "top/ln", 6, WR_TAR_SYMLINK, 0, 0777, 0, "a.txt", 5), 0);
  CHECK_EQ(wr_tar_header(b, "top/far", 7, WR_TAR_SYMLINK, 0, 0777, 0, longlink, 199), 0);
  CHECK_EQ(wr_tar_end(b), 0);
  uint32_t sum = 0;
  for (size_t i = 0; i < 6; i++)
    sum = sum * 31 + (uint8_t) "hello\n"[i];
  for (size_t i = 0; i < sizeof big; i++)
    sum = sum * 31 + big[i];
  *psum = sum;
}

static void test_round_trip(void) {
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  uint32_t sum;
  build(&b, &sum);
  char want[4096];
  char longname[300], longlink[200];
  memset(longname, 'n', sizeof longname);
  memcpy(longname, "top/", 4);
  longname[299] = '\0';
  memset(longlink, 'l', sizeof longlink);
  longlink[199] = '\0';
  snprintf(want, sizeof want,
           "5 top  0 755;end;0 top/a.txt  6 644;end;0 top/empty  0 644;end;0 %s  3000 644;end;"
           "2 top/ln a.txt 0 777;end;2 top/far %s 0 777;end;",
           longname, longlink);
  size_t steps[] = {0, 1, 7, 511, 512, 513};
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    seen s;
    const char *why;
    CHECK_EQ(read_all(b.data, b.len, steps[i], &s, &why), 0);
    CHECK_STREQ(s.log, want);
    CHECK_EQ(s.data, 3006);
    CHECK_EQ(s.sum, sum);
  }
  /* A record's worth of zeros after the end, as GNU tar pads: fine. */
  static const uint8_t zero[10240];
  CHECK_EQ(wr_buf_append(&b, zero, sizeof zero), 0);
  seen s;
  const char *why;
  CHECK_EQ(read_all(b.data, b.len, 0, &s, &why), 0);
  wr_buf_free(&b);
}

/* GNU tar reads what we write (tar_test) and we read what it writes. */
static void test_gnu_tar(void) {
  char dir[] = "/tmp/untar_test.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "cd %s && mkdir -p d/sub && printf abc > d/sub/f && ln -s sub/f d/l && "
           "printf x > d/%0200d && tar --format=pax --sort=name -cf a.tar d",
           dir, 7);
  CHECK_EQ(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s/a.tar", dir);
  FILE *f = fopen(cmd, "rb");
  CHECK(f != NULL);
  static uint8_t buf[1 << 16];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f)
    fclose(f);
  seen s;
  const char *why;
  CHECK_EQ(read_all(buf, n, 100, &s, &why), 0);
  char want[1024];
  snprintf(want, sizeof want,
           "5 d  0 755;end;0 d/%0200d  1 644;end;2 d/l sub/f 0 777;end;"
           "5 d/sub  0 755;end;0 d/sub/f  3 644;end;",
           7);
  CHECK_STREQ(s.log, want);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_EQ(system(cmd), 0);
}

/* Writes a header with fields set by hand and a right checksum unless
 * told otherwise. */
static void raw_header(uint8_t h[512], const char *name, int type, const char *size) {
  memset(h, 0, 512);
  memcpy(h, name, strlen(name));
  memcpy(h + 100, "0000644", 8);
  memcpy(h + 108, "0000000", 8);
  memcpy(h + 116, "0000000", 8);
  memcpy(h + 124, size, strlen(size));
  memcpy(h + 136, "00000000000", 12);
  h[156] = (uint8_t)type;
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
}

static void seal(uint8_t h[512]) {
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < 512; i++)
    sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
}

static void expect_refused(const uint8_t *buf, size_t n, const char *reason) {
  seen s;
  const char *why = NULL;
  CHECK_EQ(read_all(buf, n, 0, &s, &why), WR_ERR_MALFORMED);
  CHECK(why != NULL);
  if (why && strcmp(why, reason) != 0)
    fprintf(stderr, "want \"%s\", got \"%s\"\n", reason, why);
  CHECK(why && strcmp(why, reason) == 0);
}

static void test_refusals(void) {
  static uint8_t a[4096];
  raw_header(a, "f", '0', "00000000003");
  seal(a);
  a[150] ^= 1;
  expect_refused(a, 2048, "a header's checksum does not match its bytes");
  raw_header(a, "f", '0', "00000000003");
  memcpy(a + 148, "zz", 2);
  expect_refused(a, 2048, "a header's checksum is not an octal number");
  raw_header(a, "f", '0', "00000000003");
  memcpy(a + 257, "ustar  ", 8); /* GNU's old magic */
  seal(a);
  expect_refused(a, 2048, "a header is not POSIX ustar (its magic or version differ)");
  raw_header(a, "f", '0', "0000000009");
  seal(a);
  expect_refused(a, 2048, "a header's size is not an octal number");
  raw_header(a, "f", '0', "");
  a[124] = 0x80; /* base-256 */
  seal(a);
  expect_refused(a, 2048, "a header's size is not an octal number");
  raw_header(a, "f", '1', "00000000000");
  seal(a);
  expect_refused(a, 2048, "hard links are not supported");
  raw_header(a, "f", '3', "00000000000");
  seal(a);
  expect_refused(a, 2048,
                 "an entry is not a file, a folder or a symlink (devices, FIFOs and others are "
                 "not supported)");
  raw_header(a, "f", 'g', "00000000000");
  seal(a);
  expect_refused(a, 2048, "global PAX headers are not supported");
  raw_header(a, "d/", '5', "00000000001");
  seal(a);
  expect_refused(a, 2048, "a folder or symlink carries data");
  raw_header(a, "l", '2', "00000000000");
  seal(a);
  expect_refused(a, 2048, "a symlink has no target");
  raw_header(a, "f/", '0', "00000000000");
  seal(a);
  expect_refused(a, 2048, "a file's name ends with /");
  raw_header(a, "", '0', "00000000000");
  seal(a);
  expect_refused(a, 2048, "an entry has no name");
  /* One zero block, then an entry. */
  memset(a, 0, sizeof a);
  raw_header(a + 512, "f", '0', "00000000000");
  seal(a + 512);
  expect_refused(a, 2048, "a zero block is followed by more entries");
  /* Cut short, and garbage after the end. */
  raw_header(a, "f", '0', "00000000003");
  seal(a);
  memset(a + 512, 0, 2048);
  expect_refused(a, 700, "the archive ends early (no end-of-archive blocks)");
  a[2048] = 1;
  expect_refused(a, 2049, "bytes other than zeros follow the end of the archive");
  /* PAX records. */
  const char *recs[][2] = {
      {"x path=a\n", "a PAX record's length is malformed"},
      {"99 path=a\n", "a PAX record's length is malformed"},
      {"10 path=ab!", "a PAX record does not end with a newline"},
      {"10 pathab\n", "a PAX record has no key=value"},
      {"11 size=1x\n", "a PAX size is not a number below 10^18"},
      {"12 path=a\0b\n", "a PAX path is over 4096 bytes or holds a NUL"},
  };
  for (size_t i = 0; i < sizeof recs / sizeof *recs; i++) {
    memset(a, 0, sizeof a);
    size_t rl = strlen(recs[i][0]);
    if (i == 5)
      rl = 12;
    char sz[32];
    snprintf(sz, sizeof sz, "%011zo", rl);
    raw_header(a, "PaxHeaders/x", 'x', sz);
    seal(a);
    memcpy(a + 512, recs[i][0], rl);
    raw_header(a + 1024, "f", '0', "00000000000");
    seal(a + 1024);
    expect_refused(a, 3072, recs[i][1]);
  }
  /* Two PAX headers in a row; a PAX header then the end. */
  memset(a, 0, sizeof a);
  raw_header(a, "p", 'x', "00000000011");
  seal(a);
  memcpy(a + 512, "9 path=a\n", 9);
  memcpy(a + 1024, a, 512);
  memcpy(a + 1536, a + 512, 9);
  expect_refused(a, 4096, "two PAX headers in a row");
  memset(a + 1024, 0, 1024);
  expect_refused(a, 4096, "a PAX header is followed by the end of the archive");
  raw_header(a, "p", 'x', "00000040001");
  seal(a);
  expect_refused(a, 4096, "a PAX header is over 16 KiB");
  /* A callback's error stops the feed and is returned. */
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  uint32_t sum;
  build(&b, &sum);
  static wr_untar u;
  seen s = {.fail_on_entry = 1};
  wr_untar_init(&u, &ops, &s);
  const char *why = NULL;
  CHECK_EQ(wr_untar_feed(&u, b.data, b.len, &why), WR_ERR_IO);
  CHECK_EQ(wr_untar_feed(&u, b.data, 1, &why), WR_ERR_MALFORMED);
  CHECK_STREQ(why, "the archive was refused already");
  wr_buf_free(&b);
}

int main(void) {
  RUN(test_round_trip);
  RUN(test_gnu_tar);
  RUN(test_refusals);
  return test_done();
}
