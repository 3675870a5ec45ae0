#include <dirent.h>
#include <stdlib.h>

#include "base/mem.h"
#include "proto/ipld/car.h"
#include "proto/ipld/dagpb.h"
#include "proto/ipld/unixfs.h"
#include "test.h"

/* Feeds a whole file to a reader in chunks of `chunk` bytes through a
 * bounded window, as a streaming caller would. Returns the final result
 * (WR_CAR_EV_END or an error) and counts blocks; verify checks each block
 * hashes to its CID. */
typedef struct feed_stats {
  size_t blocks, verified, unsupported, dagpb, unixfs;
  size_t max_window;
  const char *why;
} feed_stats;

static int feed(wr_car_reader *r, const uint8_t *file, size_t size, size_t chunk, int verify,
                feed_stats *st) {
  size_t start = 0, have = 0; /* window = file[start, start+have) */
  memset(st, 0, sizeof *st);
  for (;;) {
    size_t consumed, need;
    wr_car_block blk;
    int eof = start + have == size;
    int ev = wr_car_reader_next(r, file + start, have, eof, &consumed, &need, &blk, &st->why);
    if (consumed > have)
      return -1000;
    start += consumed;
    have -= consumed;
    if (ev == WR_CAR_EV_END || (ev < 0 && ev != WR_ERR_AGAIN))
      return ev;
    if (ev == WR_CAR_EV_BLOCK) {
      st->blocks++;
      if (verify) {
        int v = wr_cid_verify(&blk.cid, blk.data, blk.len);
        if (v == 0)
          st->verified++;
        else if (v == WR_ERR_UNSUPPORTED)
          st->unsupported++;
        else
          return -2000;
      }
      if (blk.cid.codec == WR_CODEC_DAG_PB) {
        wr_dagpb_node node;
        if (wr_dagpb_decode(blk.data, blk.len, &node, &st->why) == 0) {
          st->dagpb++;
          wr_unixfs u;
          if (node.has_data && wr_unixfs_decode(node.data, node.data_len, &u, NULL) == 0)
            st->unixfs++;
        }
      }
    }
    if (ev == WR_ERR_AGAIN) {
      /* grow the window by chunk bytes, or to what the reader needs */
      size_t want = have + chunk;
      if (need > want)
        want = need;
      if (start + want > size)
        want = size - start;
      if (want == have && !eof)
        return -3000;
      have = want;
    }
    if (have > st->max_window)
      st->max_window = have;
  }
}

static void make_car(wr_buf *b, size_t nblocks, wr_cid *roots) {
  wr_buf_init(b, 1 << 20);
  wr_cid cids[64];
  for (size_t i = 0; i < nblocks; i++) {
    char data[64];
    int n = snprintf(data, sizeof data, "block number %zu", i);
    CHECK_EQ(wr_cid_sum(&cids[i], 1, WR_CODEC_RAW, data, (size_t)n), 0);
  }
  roots[0] = cids[0];
  CHECK_EQ(wr_car_write_header(b, roots, 1), 0);
  for (size_t i = 0; i < nblocks; i++) {
    char data[64];
    int n = snprintf(data, sizeof data, "block number %zu", i);
    CHECK_EQ(wr_car_write_block(b, &cids[i], data, (size_t)n), 0);
  }
}

static void test_roundtrip_chunked(void) {
  wr_buf b;
  wr_cid roots[1];
  make_car(&b, 20, roots);
  size_t chunks[] = {1, 2, 3, 7, 64, 1 << 20};
  for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
    wr_car_reader r;
    wr_car_reader_init(&r, 0);
    feed_stats st;
    CHECK_EQ(feed(&r, b.data, b.len, chunks[k], 1, &st), WR_CAR_EV_END);
    CHECK_EQ(st.blocks, 20);
    CHECK_EQ(st.verified, 20);
    CHECK_EQ(r.version, 1);
    CHECK_EQ(r.nroots, 1);
    CHECK(wr_cid_equal(&r.roots[0], &roots[0]));
    /* the window never needs more than one section */
    if (chunks[k] == 1)
      CHECK(st.max_window <= 64);
  }
  wr_buf_free(&b);
}

static void test_header_bytes(void) {
  /* {roots:[QmUNLL..(empty dir)], version:1} as @ipld/car writes it */
  wr_cid root;
  CHECK_EQ(wr_cid_parse_str("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn", &root, NULL), 0);
  wr_buf b;
  wr_buf_init(&b, 1024);
  CHECK_EQ(wr_car_write_header(&b, &root, 1), 0);
  const uint8_t want_start[] = {0x38, 0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x81, 0xd8, 0x2a,
                                0x58, 0x23, 0x00, 0x12, 0x20};
  CHECK_EQ(b.len, 1 + 0x38);
  CHECK_MEMEQ(b.data, want_start, sizeof want_start);
  CHECK_MEMEQ(b.data + b.len - 9, "\x67version\x01", 9);
  wr_buf_free(&b);
}

static void test_truncated(void) {
  wr_buf b;
  wr_cid roots[1];
  make_car(&b, 3, roots);
  for (size_t cut = 0; cut < b.len; cut++) {
    wr_car_reader r;
    wr_car_reader_init(&r, 0);
    feed_stats st;
    int rv = feed(&r, b.data, cut, 5, 1, &st);
    /* a cut exactly at a section boundary is a valid shorter CAR */
    if (rv == WR_CAR_EV_END)
      continue;
    CHECK_EQ(rv, WR_ERR_TRUNCATED);
    CHECK(st.why != NULL);
  }
  wr_car_reader r;
  wr_car_reader_init(&r, 0);
  feed_stats st;
  CHECK_EQ(feed(&r, b.data, b.len - 1, 5, 1, &st), WR_ERR_TRUNCATED);
  CHECK_STREQ(st.why, "CAR ends inside a block section");
  wr_car_reader_init(&r, 0);
  CHECK_EQ(feed(&r, b.data, 0, 5, 1, &st), WR_ERR_TRUNCATED);
  CHECK_STREQ(st.why, "empty CAR");
  wr_car_reader_init(&r, 0);
  CHECK_EQ(feed(&r, b.data, 10, 5, 1, &st), WR_ERR_TRUNCATED);
  CHECK_STREQ(st.why, "CAR ends inside the header");
  wr_buf_free(&b);
}

static void test_bad_cid_and_limits(void) {
  wr_buf b;
  wr_cid roots[1];
  make_car(&b, 1, roots);
  size_t hdr = 1 + b.data[0];
  /* corrupt the CID version byte of the first section */
  b.data[hdr + 1] = 0x05;
  wr_car_reader r;
  wr_car_reader_init(&r, 0);
  feed_stats st;
  CHECK_EQ(feed(&r, b.data, b.len, 1000, 0, &st), WR_ERR_MALFORMED);
  CHECK_STREQ(st.why, "invalid CID in a CAR block section");
  b.data[hdr + 1] = 0x01;
  /* section limit */
  wr_car_reader_init(&r, 8);
  CHECK_EQ(feed(&r, b.data, b.len, 1000, 0, &st), WR_ERR_LIMIT);
  CHECK_STREQ(st.why, "CAR section larger than the block size limit");
  /* zero-length section */
  b.data[hdr] = 0;
  wr_car_reader_init(&r, 0);
  CHECK_EQ(feed(&r, b.data, b.len, 1000, 0, &st), WR_ERR_MALFORMED);
  CHECK_STREQ(st.why, "zero-length CAR section");
  /* a reader that failed stays failed */
  size_t consumed;
  wr_car_block blk;
  CHECK_EQ(wr_car_reader_next(&r, b.data, b.len, 1, &consumed, NULL, &blk, NULL), WR_ERR_INVAL);
  wr_buf_free(&b);
}

/* Runs a CAR made of varint(len) | the given CBOR (hex) through a reader;
 * raw: the hex already holds the length prefix. */
static void run_header(const char *hex, int raw, int err, const char *why_want) {
  uint8_t buf[256];
  size_t n = strlen(hex) / 2, o = 0;
  if (!raw) {
    buf[0] = (uint8_t)n; /* the CBOR here is always shorter than 128 bytes */
    o = 1;
  }
  CHECK_EQ(wr_hex_decode(buf + o, n, hex, n * 2), 0);
  wr_car_reader r;
  wr_car_reader_init(&r, 0);
  feed_stats st;
  int rv = feed(&r, buf, n + o, 1000, 0, &st);
  CHECK_EQ(rv, err);
  if (why_want)
    CHECK_STREQ(st.why, why_want);
}
#define expect_header(hex, err, why) run_header(hex, 0, err, why)

#define ROOT "d82a5823001220" "0000000000000000000000000000000000000000000000000000000000000000"
#define ROOTS_EMPTY "65726f6f747380"
#define VERSION1 "6776657273696f6e01"

static void test_header_strictness(void) {
  /* valid, then the same with keys swapped, then with no roots */
  expect_header("a265726f6f747381" ROOT VERSION1, WR_CAR_EV_END, NULL);
  expect_header("a2" VERSION1 "65726f6f747381" ROOT, WR_CAR_EV_END, NULL);
  expect_header("a2" ROOTS_EMPTY VERSION1, WR_CAR_EV_END, NULL);
  expect_header("a2" ROOTS_EMPTY "6776657273696f6e03", WR_ERR_UNSUPPORTED,
                "unsupported CAR version (warren reads 1 and 2)");
  expect_header("a1" VERSION1, WR_ERR_MALFORMED, "CAR header has no roots");
  expect_header("a2" ROOTS_EMPTY "6776657273696f6e1801", WR_ERR_MALFORMED,
                "CAR header is not minimally encoded dag-cbor");
  expect_header("a2" ROOTS_EMPTY "6776657273696f6f01", WR_ERR_MALFORMED,
                "CAR header has a key other than roots and version");
  expect_header("a2" ROOTS_EMPTY ROOTS_EMPTY, WR_ERR_MALFORMED, "CAR header has roots twice");
  expect_header("a2" VERSION1 VERSION1, WR_ERR_MALFORMED, "CAR header has version twice");
  expect_header("bf" ROOTS_EMPTY VERSION1 "ff", WR_ERR_MALFORMED,
                "CAR header uses CBOR indefinite lengths or reserved values");
  expect_header("a265726f6f747381" VERSION1, WR_ERR_MALFORMED,
                "CAR header root is not a CID (tag 42)");
  expect_header("a265726f6f747381d82a4101" VERSION1, WR_ERR_MALFORMED,
                "CAR header root is not a 0x00-prefixed CID byte string");
  expect_header("a265726f6f747381d82a420001" VERSION1, WR_ERR_MALFORMED,
                "CAR header root is not a valid CID");
  expect_header("a2" ROOTS_EMPTY VERSION1 "00", WR_ERR_MALFORMED,
                "trailing bytes after the CAR header");
  expect_header("a3" ROOTS_EMPTY VERSION1, WR_ERR_MALFORMED,
                "CAR header is not a map of roots and version");
  expect_header("a2" ROOTS_EMPTY "67766572", WR_ERR_MALFORMED, "CAR header ends early");
  expect_header("a265726f6f7473982100", WR_ERR_LIMIT,
                "CAR header has more roots than warren accepts (32)");
  run_header("00", 1, WR_ERR_MALFORMED, "CAR header length is zero");
  run_header("ffff07", 1, WR_ERR_LIMIT, "CAR header larger than 64 KiB");
  run_header("ffffffffffffffffff01", 1, WR_ERR_MALFORMED, "bad CAR header length");
  run_header("11a2" ROOTS_EMPTY VERSION1 "80", 1, WR_ERR_TRUNCATED,
             "CAR ends inside a section length");
}

/* Wraps a v1 CAR into a v2 with `pad` bytes between header and payload and
 * some index bytes after it. */
static void make_v2(wr_buf *out, const wr_buf *v1, size_t pad) {
  wr_buf_init(out, 1 << 20);
  const uint8_t pragma[] = {0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02};
  CHECK_EQ(wr_buf_append(out, pragma, sizeof pragma), 0);
  uint8_t h[40] = {0};
  uint64_t off = 11 + 40 + pad, size = v1->len, idx = off + size;
  for (int i = 0; i < 8; i++) {
    h[16 + i] = (uint8_t)(off >> (8 * i));
    h[24 + i] = (uint8_t)(size >> (8 * i));
    h[32 + i] = (uint8_t)(idx >> (8 * i));
  }
  CHECK_EQ(wr_buf_append(out, h, sizeof h), 0);
  for (size_t i = 0; i < pad; i++)
    CHECK_EQ(wr_buf_append(out, "\xee", 1), 0);
  CHECK_EQ(wr_buf_append(out, v1->data, v1->len), 0);
  CHECK_EQ(wr_buf_append(out, "\x01\x02\x03index-bytes", 14), 0);
}

static void test_v2(void) {
  wr_buf v1, v2;
  wr_cid roots[1];
  make_car(&v1, 5, roots);
  size_t pads[] = {0, 1, 100};
  size_t chunks[] = {1, 3, 4096};
  for (size_t i = 0; i < 3; i++) {
    make_v2(&v2, &v1, pads[i]);
    for (size_t k = 0; k < 3; k++) {
      wr_car_reader r;
      wr_car_reader_init(&r, 0);
      feed_stats st;
      CHECK_EQ(feed(&r, v2.data, v2.len, chunks[k], 1, &st), WR_CAR_EV_END);
      CHECK_EQ(r.version, 2);
      CHECK_EQ(st.blocks, 5);
      CHECK_EQ(st.verified, 5);
      CHECK(wr_cid_equal(&r.roots[0], &roots[0]));
    }
    /* truncated inside the payload */
    wr_car_reader r;
    wr_car_reader_init(&r, 0);
    feed_stats st;
    CHECK_EQ(feed(&r, v2.data, 11 + 40 + pads[i] + v1.len - 2, 7, 0, &st), WR_ERR_TRUNCATED);
    wr_car_reader_init(&r, 0);
    CHECK_EQ(feed(&r, v2.data, 30, 7, 0, &st), WR_ERR_TRUNCATED);
    CHECK_STREQ(st.why, "CAR ends inside the CARv2 header");
    wr_buf_free(&v2);
  }
  /* data size that cuts a section in half */
  make_v2(&v2, &v1, 0);
  v2.data[11 + 24] = (uint8_t)(v1.len - 3);
  wr_car_reader r;
  wr_car_reader_init(&r, 0);
  feed_stats st;
  CHECK_EQ(feed(&r, v2.data, v2.len, 4096, 0, &st), WR_ERR_MALFORMED);
  CHECK_STREQ(st.why, "CAR section runs past the CARv2 data size");
  /* data offset inside the header */
  v2.data[11 + 16] = 3;
  wr_car_reader_init(&r, 0);
  CHECK_EQ(feed(&r, v2.data, v2.len, 4096, 0, &st), WR_ERR_MALFORMED);
  CHECK_STREQ(st.why, "CARv2 header has an impossible data offset or size");
  wr_buf_free(&v2);
  wr_buf_free(&v1);
}

/* The gateway-conformance fixtures: every file parses to its end, every
 * sha2-256 block hashes to its CID, and dag-pb blocks decode. */
static const char *vectors_dir(void) {
  static const char *cands[] = {"../shared/vectors/gateway-conformance",
                                "../../shared/vectors/gateway-conformance"};
  for (size_t i = 0; i < 2; i++) {
    DIR *d = opendir(cands[i]);
    if (d) {
      closedir(d);
      return cands[i];
    }
  }
  return NULL;
}

static size_t total_fixture_files;

static void check_fixture(const char *path) {
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (!f)
    return;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc((size_t)sz + 1);
  CHECK(fread(data, 1, (size_t)sz, f) == (size_t)sz);
  fclose(f);
  size_t chunks[] = {4096, 13};
  for (size_t k = 0; k < 2; k++) {
    wr_car_reader r;
    wr_car_reader_init(&r, 0);
    feed_stats st;
    int rv = feed(&r, data, (size_t)sz, chunks[k], 1, &st);
    if (rv != WR_CAR_EV_END)
      fprintf(stderr, "  %s: %d %s\n", path, rv, st.why ? st.why : "");
    CHECK_EQ(rv, WR_CAR_EV_END);
    CHECK(st.blocks > 0);
    CHECK_EQ(st.verified + st.unsupported, st.blocks);
    CHECK(r.nroots >= 1);
  }
  total_fixture_files++;
  free(data);
}

static void walk(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    size_t len = strlen(e->d_name);
    if (len > 4 && strcmp(e->d_name + len - 4, ".car") == 0)
      check_fixture(path);
    else if (e->d_type == DT_DIR)
      walk(path);
  }
  closedir(d);
}

static void test_gateway_fixtures(void) {
  const char *dir = vectors_dir();
  CHECK(dir != NULL); /* CI clones shared/ beside the repo */
  if (!dir)
    return;
  walk(dir);
  CHECK(total_fixture_files >= 20);
}

static void test_known_fixture_contents(void) {
  /* dir-with-files.car: the root is a dag-pb directory */
  const char *dir = vectors_dir();
  if (!dir)
    return;
  char path[512];
  snprintf(path, sizeof path, "%s/path_gateway_unixfs/dir-with-files.car", dir);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (!f)
    return;
  static uint8_t data[1 << 20];
  size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  wr_car_reader r;
  wr_car_reader_init(&r, 0);
  size_t off = 0, consumed;
  wr_car_block blk;
  int ev, root_seen = 0;
  while ((ev = wr_car_reader_next(&r, data + off, n - off, 1, &consumed, NULL, &blk, NULL)) > 0 &&
         ev != WR_CAR_EV_END) {
    off += consumed;
    if (ev == WR_CAR_EV_BLOCK && wr_cid_equal(&blk.cid, &r.roots[0])) {
      wr_dagpb_node node;
      CHECK_EQ(wr_dagpb_decode(blk.data, blk.len, &node, NULL), 0);
      wr_unixfs u;
      CHECK_EQ(wr_unixfs_decode(node.data, node.data_len, &u, NULL), 0);
      CHECK_EQ(u.type, WR_UNIXFS_DIRECTORY);
      CHECK(node.nlinks > 0);
      root_seen = 1;
    }
  }
  CHECK_EQ(ev, WR_CAR_EV_END);
  CHECK(root_seen);
  char s[WR_CID_MAX_STR];
  CHECK(wr_cid_format(&r.roots[0], 0, s, sizeof s) > 0);
  CHECK_STREQ(s, "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy");
}

int main(void) {
  RUN(test_roundtrip_chunked);
  RUN(test_header_bytes);
  RUN(test_truncated);
  RUN(test_bad_cid_and_limits);
  RUN(test_header_strictness);
  RUN(test_v2);
  RUN(test_gateway_fixtures);
  RUN(test_known_fixture_contents);
  return test_done();
}
