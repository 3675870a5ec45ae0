#include <dirent.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "store/blockstore.h"
#include "store/pin.h"
#include "store/repo.h"
#include "store_testutil.h"
#include "test.h"

STORE_TEST_FIXTURE

static void test_mh_sha256_known(void) {
  /* sha2-256("hello world\n"), the digest inside
   * bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4. */
  uint8_t mh[34];
  wr_bs_mh_sha256(mh, "hello world\n", 12);
  char s[WR_BS_KEYSTR_MAX];
  wr_bs_key_string(s, mh, sizeof mh);
  CHECK_STREQ(s, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
  CHECK_EQ(wr_bs_verify(mh, sizeof mh, "hello world\n", 12), 0);
  CHECK_EQ(wr_bs_verify(mh, sizeof mh, "hello world!", 12), WR_ERR_CORRUPT);
  uint8_t other[] = {0x13, 0x02, 0xaa, 0xbb}; /* sha2-512 code, short digest */
  CHECK_EQ(wr_bs_verify(other, sizeof other, "x", 1), WR_ERR_UNSUPPORTED);
  uint8_t bad[] = {0x12, 0x20, 0x00}; /* length says 32, one byte there */
  CHECK_EQ(wr_bs_verify(bad, sizeof bad, "x", 1), WR_ERR_MALFORMED);
  uint64_t code;
  const uint8_t *d;
  size_t dl;
  CHECK_EQ(wr_bs_mh_split(bad, sizeof bad, &code, &d, &dl), WR_ERR_TRUNCATED);
  uint8_t nonmin[] = {0x92, 0x00, 0x00}; /* code 0x12 written in two bytes */
  CHECK_EQ(wr_bs_mh_split(nonmin, sizeof nonmin, &code, &d, &dl), WR_ERR_MALFORMED);
}

static void test_put_get_has_rm(void) {
  open_fresh();
  uint8_t mh[34];
  const char *data = "some block bytes";
  wr_bs_mh_sha256(mh, data, strlen(data));
  CHECK_EQ(wr_bs_has(bs, mh, sizeof mh), 0);
  wr_buf out;
  wr_buf_init(&out, 1 << 20);
  CHECK_EQ(wr_bs_get(bs, mh, sizeof mh, &out), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_bs_put(bs, mh, sizeof mh, data, strlen(data)), 0);
  CHECK_EQ(wr_bs_put(bs, mh, sizeof mh, data, strlen(data)), 0); /* idempotent */
  CHECK_EQ(wr_bs_has(bs, mh, sizeof mh), 1);
  CHECK_EQ(wr_bs_get(bs, mh, sizeof mh, &out), 0);
  CHECK_EQ(out.len, strlen(data));
  CHECK_MEMEQ(out.data, data, out.len);
  wr_bs_txn *t;
  size_t n = 0;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_bs_txn_size(t, mh, sizeof mh, &n), 0);
  CHECK_EQ(n, strlen(data));
  uint64_t blocks = 0, bytes = 0;
  CHECK_EQ(wr_bs_txn_count(t, &blocks, &bytes), 0);
  CHECK_EQ(blocks, 1);
  CHECK_EQ(bytes, strlen(data));
  CHECK_EQ(wr_bs_txn_put(t, mh, sizeof mh, "x", 1), WR_ERR_INVAL); /* read txn */
  wr_bs_txn_abort(t);
  CHECK_EQ(wr_bs_rm(bs, mh, sizeof mh), 0);
  CHECK_EQ(wr_bs_rm(bs, mh, sizeof mh), WR_ERR_NOTFOUND);
  CHECK_EQ(wr_bs_has(bs, mh, sizeof mh), 0);
  wr_buf_free(&out);
  close_fresh();
}

static void test_identity(void) {
  open_fresh();
  uint8_t mh[] = {0x00, 0x03, 'a', 'b', 'c'};
  CHECK_EQ(wr_bs_put(bs, mh, sizeof mh, "abc", 3), 0);
  CHECK_EQ(wr_bs_has(bs, mh, sizeof mh), 1);
  wr_buf out;
  wr_buf_init(&out, 100);
  CHECK_EQ(wr_bs_get(bs, mh, sizeof mh, &out), 0);
  CHECK_EQ(out.len, 3);
  CHECK_MEMEQ(out.data, "abc", 3);
  wr_buf_free(&out);
  /* Nothing was stored: identity blocks live in their key. */
  wr_bs_txn *t;
  uint64_t blocks = 9, bytes = 9;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  CHECK_EQ(wr_bs_txn_count(t, &blocks, &bytes), 0);
  CHECK_EQ(blocks, 0);
  wr_bs_txn_abort(t);
  close_fresh();
}

static void test_corrupt_read(void) {
  open_fresh();
  uint8_t mh[34];
  wr_bs_mh_sha256(mh, "good", 4);
  /* Writes trust the caller, so storing other bytes under this key is how a
   * test makes a block rot. */
  CHECK_EQ(wr_bs_put(bs, mh, sizeof mh, "evil", 4), 0);
  wr_buf out;
  wr_buf_init(&out, 100);
  wr_log_set_level(WR_LOG_ERROR + 1); /* keep the expected log line quiet */
  CHECK_EQ(wr_bs_get(bs, mh, sizeof mh, &out), WR_ERR_CORRUPT);
  wr_log_set_level(WR_LOG_INFO);
  CHECK_EQ(out.len, 0);
  CHECK_EQ(wr_bs_has(bs, mh, sizeof mh), 1);
  wr_buf_free(&out);
  close_fresh();
}

static void test_limits_and_bad_keys(void) {
  open_fresh();
  uint8_t mh[34];
  wr_bs_mh_sha256(mh, "", 0);
  void *big = wr_calloc(1, WR_BS_MAX_BLOCK + 1);
  CHECK(big != NULL);
  CHECK_EQ(wr_bs_put(bs, mh, sizeof mh, big, WR_BS_MAX_BLOCK + 1), WR_ERR_LIMIT);
  CHECK_EQ(wr_bs_put(bs, mh, 0, "", 0), WR_ERR_INVAL);
  uint8_t longkey[WR_BS_MAX_KEY + 1] = {0};
  CHECK_EQ(wr_bs_put(bs, longkey, sizeof longkey, "", 0), WR_ERR_INVAL);
  wr_free(big);
  /* A zero-byte block is fine. */
  CHECK_EQ(wr_bs_put(bs, mh, sizeof mh, "", 0), 0);
  wr_buf out;
  wr_buf_init(&out, 10);
  CHECK_EQ(wr_bs_get(bs, mh, sizeof mh, &out), 0);
  CHECK_EQ(out.len, 0);
  wr_buf_free(&out);
  close_fresh();
}

static void test_abort_discards(void) {
  open_fresh();
  uint8_t mh[34];
  wr_bs_mh_sha256(mh, "gone", 4);
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  CHECK_EQ(wr_bs_txn_put(t, mh, sizeof mh, "gone", 4), 0);
  CHECK_EQ(wr_bs_txn_has(t, mh, sizeof mh), 1); /* sees its own write */
  wr_bs_txn_abort(t);
  CHECK_EQ(wr_bs_has(bs, mh, sizeof mh), 0);
  close_fresh();
}

/* A child writes blocks and a pin in one transaction and is killed with
 * SIGKILL mid-way, many times over at different moments: the store must open
 * afterwards with either the pin and every block, or no pin. */
static void test_kill9_consistency(void) {
  open_fresh();
  wr_bs_close(bs);
  bs = NULL;
  enum { NBLOCKS = 64, BLOCK = 65536 };
  for (int round = 0; round < 6; round++) {
    /* The child says when its first commit is done, so the kill lands after
     * at least one commit however slow a loaded machine is; the delay then
     * puts it anywhere in a later transaction. */
    int ready[2];
    CHECK_EQ(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(ready[0]);
      wr_bs *cbs;
      if (wr_bs_open(dir, &cbs) != 0)
        _exit(3);
      static uint8_t buf[BLOCK];
      for (int r = 0;; r++) {
        wr_bs_txn *t;
        if (wr_bs_txn_begin(cbs, WR_BS_WRITE, &t) != 0)
          _exit(4);
        uint8_t mh[34];
        for (int i = 0; i < NBLOCKS; i++) {
          memset(buf, 0, sizeof buf);
          memcpy(buf, &r, sizeof r);
          memcpy(buf + 8, &i, sizeof i);
          buf[16] = (uint8_t)round;
          wr_bs_mh_sha256(mh, buf, sizeof buf);
          if (wr_bs_txn_put(t, mh, sizeof mh, buf, sizeof buf) != 0)
            _exit(5);
        }
        /* The "root" pinned here names the last block; the test checks all
         * NBLOCKS of this r by recomputing them. */
        uint8_t pin[40];
        memcpy(pin, &r, sizeof r);
        pin[4] = (uint8_t)round;
        if (wr_pin_put(t, pin, 5, WR_PIN_RECURSIVE) != 0 || wr_bs_txn_commit(t) != 0)
          _exit(6);
        if (r == 0 && (write(ready[1], "c", 1) != 1 || close(ready[1]) != 0))
          _exit(7);
      }
    }
    close(ready[1]);
    char c;
    struct pollfd pfd = {.fd = ready[0], .events = POLLIN};
    CHECK(poll(&pfd, 1, 60000) == 1 && read(ready[0], &c, 1) == 1);
    close(ready[0]);
    usleep((useconds_t)(20000 + 37000 * round));
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st));
  }
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  int pins_checked = 0;
  static uint8_t buf[BLOCK];
  for (int round = 0; round < 6; round++) {
    for (int r = 0; r < 100000; r++) {
      uint8_t pin[5];
      memcpy(pin, &r, sizeof r);
      pin[4] = (uint8_t)round;
      wr_pin_type type;
      if (wr_pin_get(t, pin, 5, &type) != 0)
        break;
      for (int i = 0; i < NBLOCKS; i++) {
        memset(buf, 0, sizeof buf);
        memcpy(buf, &r, sizeof r);
        memcpy(buf + 8, &i, sizeof i);
        buf[16] = (uint8_t)round;
        uint8_t mh[34];
        wr_bs_mh_sha256(mh, buf, sizeof buf);
        const uint8_t *p;
        size_t n;
        CHECK_EQ(wr_bs_txn_get(t, mh, sizeof mh, &p, &n), 0);
      }
      pins_checked++;
    }
  }
  CHECK(pins_checked > 0);
  wr_bs_txn_abort(t);
  close_fresh();
}

static void test_checkpoint_large_txn(void) {
  open_fresh();
  /* More than WR_BS_CHECKPOINT_BYTES in one transaction: put commits on the
   * way, and everything is there in the end. */
  size_t block = 1 << 20, count = WR_BS_CHECKPOINT_BYTES / block + 8;
  uint8_t *buf = wr_malloc(block);
  wr_bs_txn *t;
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_WRITE, &t), 0);
  uint8_t mh[34];
  for (size_t i = 0; i < count; i++) {
    memset(buf, (int)i, block);
    memcpy(buf, &i, sizeof i); /* distinct past 256 blocks too */
    wr_bs_mh_sha256(mh, buf, block);
    CHECK_EQ(wr_bs_txn_put(t, mh, sizeof mh, buf, block), 0);
  }
  CHECK_EQ(wr_bs_txn_commit(t), 0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), 0);
  uint64_t blocks, bytes;
  CHECK_EQ(wr_bs_txn_count(t, &blocks, &bytes), 0);
  CHECK_EQ(blocks, count);
  CHECK_EQ(bytes, count * block);
  wr_bs_txn_abort(t);
  wr_free(buf);
  close_fresh();
}

static void test_repo_resolve_init_open(void) {
  char out[WR_REPO_PATH_MAX], base[4096], path[4200];
  CHECK_EQ(wr_repo_resolve("/x/y/", out, sizeof out), 0);
  CHECK_STREQ(out, "/x/y");
  setenv("WARREN_PATH", "/from/env", 1);
  CHECK_EQ(wr_repo_resolve(NULL, out, sizeof out), 0);
  CHECK_STREQ(out, "/from/env");
  unsetenv("WARREN_PATH");
  setenv("HOME", "/home/someone", 1);
  CHECK_EQ(wr_repo_resolve(NULL, out, sizeof out), 0);
  CHECK_STREQ(out, "/home/someone/.warren");
  CHECK_EQ(wr_repo_resolve("/abc", out, 4), WR_ERR_LIMIT);

  tmpdir_make(base, sizeof base);
  snprintf(path, sizeof path, "%s/a/b/repo", base);
  int created = -1;
  CHECK_EQ(wr_repo_init(path, &created), 0);
  CHECK_EQ(created, 1);
  CHECK_EQ(wr_repo_init(path, &created), 0);
  CHECK_EQ(created, 0);
  /* The version file: exactly "1\n", mode 0644 whatever the umask, and no
   * temporary left beside it. */
  char vpath[sizeof path + 16];
  snprintf(vpath, sizeof vpath, "%s/version", path);
  struct stat st;
  CHECK_EQ(stat(vpath, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0644);
  CHECK_EQ(st.st_size, 2);
  FILE *vf = fopen(vpath, "r");
  char vbuf[8] = {0};
  CHECK(vf && fread(vbuf, 1, sizeof vbuf, vf) == 2);
  if (vf)
    fclose(vf);
  CHECK_STREQ(vbuf, "1\n");
  DIR *d = opendir(path);
  int entries = 0;
  for (struct dirent *de; d && (de = readdir(d)) != NULL;)
    entries += de->d_name[0] != '.';
  if (d)
    closedir(d);
  CHECK_EQ(entries, 2); /* store/ and version (repo.lock comes with open) */
  wr_repo *r1, *r2, *gc;
  CHECK_EQ(wr_repo_open(path, WR_REPO_SHARED, &r1), 0);
  CHECK_EQ(wr_repo_open(path, WR_REPO_SHARED, &r2), 0);
  /* flock is per open file, so a second open in this process conflicts just
   * like another process would. */
  CHECK_EQ(wr_repo_open(path, WR_REPO_EXCLUSIVE, &gc), WR_ERR_AGAIN);
  wr_repo_close(r1);
  wr_repo_close(r2);
  CHECK_EQ(wr_repo_open(path, WR_REPO_EXCLUSIVE, &gc), 0);
  wr_repo_close(gc);
  /* A file where the folder should be. */
  snprintf(path, sizeof path, "%s/file", base);
  FILE *f = fopen(path, "w");
  fclose(f);
  wr_log_set_level(WR_LOG_ERROR + 1);
  CHECK_EQ(wr_repo_init(path, &created), WR_ERR_IO);
  wr_log_set_level(WR_LOG_INFO);
  tmpdir_remove(base);
}

static void test_alloc_failure(void) {
  tmpdir_make(dir, sizeof dir);
  for (long n = 0; n < 3; n++) {
    wr_mem_fail_after(n);
    int rc = wr_bs_open(dir, &bs);
    wr_mem_fail_after(-1);
    if (rc == 0) {
      wr_bs_close(bs);
      break;
    }
    CHECK_EQ(rc, WR_ERR_NOMEM);
  }
  bs = NULL;
  CHECK_EQ(wr_bs_open(dir, &bs), 0);
  wr_bs_txn *t;
  wr_mem_fail_after(0);
  CHECK_EQ(wr_bs_txn_begin(bs, WR_BS_READ, &t), WR_ERR_NOMEM);
  wr_mem_fail_after(-1);
  close_fresh();
}

int main(void) {
  RUN(test_mh_sha256_known);
  RUN(test_put_get_has_rm);
  RUN(test_identity);
  RUN(test_corrupt_read);
  RUN(test_limits_and_bad_keys);
  RUN(test_abort_discards);
  RUN(test_checkpoint_large_txn);
  RUN(test_kill9_consistency);
  RUN(test_repo_resolve_init_open);
  RUN(test_alloc_failure);
  return test_done();
}
