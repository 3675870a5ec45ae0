#include "content/dagio.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "content/pinning.h"
#include "store/dag.h"

static void set_err(wr_dagio_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(wr_dagio_error *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
}

static void cid_str(const wr_cid *cid, char *out) {
  if (wr_cid_format(cid, 0, out, WR_CID_MAX_STR) < 0)
    snprintf(out, WR_CID_MAX_STR, "(unprintable CID)");
}

static const char *walk_why(int rc) {
  switch (rc) {
  case WR_ERR_NOTFOUND: return "is not in the local store";
  case WR_ERR_CORRUPT: return "is corrupted (its bytes do not match its hash)";
  case WR_ERR_MALFORMED: return "is not valid dag-pb";
  case WR_ERR_UNSUPPORTED: return "uses a codec whose links warren cannot follow yet";
  default: return wr_strerror(rc);
  }
}

/* --- export -------------------------------------------------------------- */

static int write_section(void *arg, const wr_cid *cid, const uint8_t *block, size_t len) {
  FILE *out = arg;
  uint8_t head[WR_CAR_SECTION_HEAD_MAX];
  int n = wr_car_section_head(head, sizeof head, cid, len);
  if (n < 0)
    return n;
  if (fwrite(head, 1, (size_t)n, out) != (size_t)n || fwrite(block, 1, len, out) != len)
    return WR_ERR_IO;
  return 0;
}

int wr_dagio_export(wr_bs *bs, const wr_cid *root, FILE *out, wr_dagio_error *err) {
  wr_buf hdr;
  wr_bs_txn *t = NULL;
  wr_cid bad;
  char r[WR_CID_MAX_STR], b[WR_CID_MAX_STR];
  cid_str(root, r);
  wr_buf_init(&hdr, WR_CAR_MAX_HEADER);
  int rc = wr_bs_txn_begin(bs, WR_BS_READ, &t);
  if (rc != 0) {
    set_err(err, "cannot read the store: %s", wr_strerror(rc));
    goto out;
  }
  wr_bs_blocks src;
  wr_blocks *blocks = wr_bs_blocks_init(&src, t);
  /* Check the root before writing anything, so a missing root gives no
   * output at all. */
  if ((rc = wr_blocks_has(blocks, root)) != 1) {
    rc = rc == 0 ? WR_ERR_NOTFOUND : rc;
    set_err(err, "block %s %s", r, walk_why(rc));
    goto out;
  }
  if ((rc = wr_car_write_header(&hdr, root, 1)) != 0) {
    set_err(err, "cannot write the CAR header: %s", wr_strerror(rc));
    goto out;
  }
  if (fwrite(hdr.data, 1, hdr.len, out) != hdr.len) {
    rc = WR_ERR_IO;
    set_err(err, "cannot write the output: %s", strerror(errno));
    goto out;
  }
  rc = wr_dag_walk(blocks, root, NULL, 0, write_section, out, &bad);
  if (rc == WR_ERR_IO) {
    set_err(err, "cannot write the output: %s", strerror(errno));
  } else if (rc != 0) {
    cid_str(&bad, b);
    set_err(err, "block %s of the DAG %s %s; the CAR written so far is incomplete", b, r,
            walk_why(rc));
  } else if (fflush(out) != 0) {
    rc = WR_ERR_IO;
    set_err(err, "cannot write the output: %s", strerror(errno));
  }
out:
  wr_bs_txn_abort(t);
  wr_buf_free(&hdr);
  return rc;
}

/* --- import -------------------------------------------------------------- */

/* Read size per read(2), and the window's cap: the largest section plus room
 * to read ahead. */
#define READ_CHUNK ((size_t)1 << 20)
#define WINDOW_MAX (WR_CAR_DEFAULT_MAX_SECTION + 2 * READ_CHUNK)

static ssize_t fd_read(void *arg, uint8_t *buf, size_t n) {
  int fd = *(int *)arg;
  ssize_t r;
  do
    r = read(fd, buf, n);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

int wr_dagio_import(wr_bs *bs, int fd, const char *name, int pin_roots,
                    wr_dagio_import_result *res, wr_dagio_error *err) {
  return wr_dagio_import_read(bs, fd_read, &fd, name, pin_roots, res, err);
}

int wr_dagio_import_read(wr_bs *bs, wr_dagio_read_fn rdf, void *rarg, const char *name,
                         int pin_roots, wr_dagio_import_result *res, wr_dagio_error *err) {
  wr_car_reader rd;
  wr_car_reader_init(&rd, 0);
  memset(res, 0, sizeof *res);
  uint8_t *win = wr_malloc(WINDOW_MAX);
  size_t start = 0, end = 0; /* unconsumed bytes are win[start, end) */
  int eof = 0, rc;
  wr_bs_txn *t = NULL;
  if (!win) {
    set_err(err, "out of memory");
    return WR_ERR_NOMEM;
  }
  if ((rc = wr_bs_txn_begin(bs, WR_BS_WRITE, &t)) != 0) {
    set_err(err, "cannot write to the store: %s", wr_strerror(rc));
    goto out;
  }
  wr_bs_blocks src;
  wr_blocks *blocks = wr_bs_blocks_init(&src, t);
  for (;;) {
    size_t consumed = 0, need = 0;
    wr_car_block blk;
    const char *reason = NULL;
    int ev = wr_car_reader_next(&rd, win + start, end - start, eof, &consumed, &need, &blk,
                                &reason);
    if (ev == WR_CAR_EV_BLOCK) {
      /* Verified by the put: the bytes come from outside. */
      if ((rc = wr_blocks_put(blocks, &blk.cid, blk.data, blk.len, 0)) != 0) {
        char c[WR_CID_MAX_STR];
        cid_str(&blk.cid, c);
        if (rc == WR_ERR_CORRUPT)
          set_err(err, "%s: block %s at byte %llu does not match its CID (hash mismatch)",
                  name, c, (unsigned long long)blk.offset);
        else if (rc == WR_ERR_UNSUPPORTED)
          set_err(err, "%s: block %s at byte %llu uses a hash function warren cannot check",
                  name, c, (unsigned long long)blk.offset);
        else
          set_err(err, "cannot store a block: %s", wr_strerror(rc));
        goto out;
      }
      res->blocks++;
      res->bytes += blk.len;
    } else if (ev == WR_CAR_EV_HEADER) {
      res->nroots = rd.nroots;
      memcpy(res->roots, rd.roots, rd.nroots * sizeof rd.roots[0]);
    } else if (ev == WR_CAR_EV_END) {
      break;
    } else if (ev != WR_ERR_AGAIN) {
      rc = ev;
      if (ev == WR_ERR_TRUNCATED)
        set_err(err, "%s: the CAR file is truncated: %s; nothing was pinned", name,
                reason ? reason : "it ends inside a section");
      else
        set_err(err, "%s: not a valid CAR file at byte %llu: %s; nothing was pinned", name,
                (unsigned long long)rd.pos, reason ? reason : wr_strerror(ev));
      goto out;
    }
    start += consumed;
    /* Progress without an event (CARv2 pragma, header, padding): call again
     * before reading, since what it needs next may already be here. */
    if (ev != WR_ERR_AGAIN || consumed > 0)
      continue;
    if (eof) { /* the reader must not ask for more after eof */
      rc = WR_ERR_TRUNCATED;
      set_err(err, "%s: the CAR file is truncated", name);
      goto out;
    }
    /* Make room: slide the unconsumed bytes to the front when the window's
     * tail cannot hold what the reader needs plus a chunk. */
    size_t have = end - start;
    if (need > WINDOW_MAX - READ_CHUNK) {
      rc = WR_ERR_LIMIT;
      set_err(err, "%s: a section is larger than warren's limit", name);
      goto out;
    }
    if (start > 0 && end + READ_CHUNK > WINDOW_MAX) {
      memmove(win, win + start, have);
      start = 0;
      end = have;
    }
    ssize_t n = rdf(rarg, win + end,
                    WINDOW_MAX - end < READ_CHUNK ? WINDOW_MAX - end : READ_CHUNK);
    if (n < 0) {
      rc = WR_ERR_IO;
      set_err(err, "%s: cannot read: %s", name, rdf == fd_read ? strerror((int)-n)
                                                                : wr_strerror((int)n));
      goto out;
    }
    if (n == 0)
      eof = 1;
    end += (size_t)n;
  }
  /* Pin each root whose DAG is complete, in the transaction that holds the
   * last blocks: the pin and its blocks commit together. */
  for (size_t i = 0; pin_roots && i < res->nroots; i++) {
    wr_pinning_fault pf;
    int w = wr_pinning_add_txn(t, &res->roots[i], WR_PIN_RECURSIVE, &pf);
    if (w == WR_ERR_NOMEM || w == WR_ERR_IO || w == WR_ERR_LIMIT) {
      rc = w;
      set_err(err, "cannot pin the roots: %s", wr_strerror(w));
      goto out;
    }
    res->pin_err[i] = w;
    if (w != 0) {
      char c[WR_CID_MAX_STR];
      cid_str(&pf.block, c);
      snprintf(res->pin_msg[i], sizeof res->pin_msg[i], "block %s %s", c, walk_why(w));
    }
  }
  rc = wr_bs_txn_commit(t);
  t = NULL;
  if (rc != 0)
    set_err(err, "cannot commit to the store: %s", wr_strerror(rc));
out:
  wr_bs_txn_abort(t);
  wr_free(win);
  return rc;
}
