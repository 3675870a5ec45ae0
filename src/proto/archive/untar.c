/* untar.c: a streaming ustar/PAX reader (see untar.h). */
#include "proto/archive/untar.h"

#include <stddef.h>
#include <string.h>

enum { S_HDR, S_PAX, S_DATA, S_PAD, S_END, S_FAIL };

void wr_untar_init(wr_untar *u, const wr_untar_ops *ops, void *arg) {
  memset(u, 0, offsetof(wr_untar, pax));
  u->ops = ops;
  u->arg = arg;
  u->state = S_HDR;
  u->paxlen = 0;
  u->pax_path = u->pax_link = u->pax_size = 0;
  u->size = 0;
  u->name[0] = u->link[0] = '\0';
}

static int refuse(wr_untar *u, const char **preason, const char *why) {
  u->state = S_FAIL;
  if (preason)
    *preason = why;
  return WR_ERR_MALFORMED;
}

/* An octal field: optional leading spaces, digits, then only NULs and
 * spaces. -1 otherwise (base-256, as GNU writes huge values, included). */
static int octal(const uint8_t *f, size_t w, uint64_t *pv) {
  size_t i = 0;
  while (i < w && f[i] == ' ')
    i++;
  uint64_t v = 0;
  size_t digits = 0;
  while (i < w && f[i] >= '0' && f[i] <= '7') {
    if (v >> 60)
      return -1;
    v = v * 8 + (uint64_t)(f[i] - '0');
    i++;
    digits++;
  }
  if (!digits)
    return -1;
  for (; i < w; i++)
    if (f[i] != 0 && f[i] != ' ')
      return -1;
  *pv = v;
  return 0;
}

/* Copies a NUL-padded field of at most w bytes to out (at offset *pn). */
static void field(char *out, size_t *pn, const uint8_t *f, size_t w) {
  size_t k = 0;
  while (k < w && f[k])
    k++;
  memcpy(out + *pn, f, k);
  *pn += k;
  out[*pn] = '\0';
}

/* Takes a PAX value into out (a name or a link target). */
static int pax_string(char *out, const uint8_t *v, size_t n) {
  if (n > WR_UNTAR_MAX_NAME || memchr(v, 0, n))
    return -1;
  memcpy(out, v, n);
  out[n] = '\0';
  return 0;
}

/* Reads the records "LEN key=value\n" of a PAX header: path, linkpath and
 * size apply to the next entry; other keys (times, owners) are ignored. */
static int pax_parse(wr_untar *u, const char **preason) {
  const uint8_t *p = u->pax;
  size_t n = u->paxlen, off = 0;
  while (off < n) {
    size_t i = off;
    uint64_t len = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9' && len <= n) {
      len = len * 10 + (uint64_t)(p[i] - '0');
      i++;
    }
    if (i == off || i >= n || p[i] != ' ' || len < i - off + 3 || len > n - off)
      return refuse(u, preason, "a PAX record's length is malformed");
    size_t end = off + (size_t)len;
    if (p[end - 1] != '\n')
      return refuse(u, preason, "a PAX record does not end with a newline");
    const uint8_t *key = p + i + 1;
    const uint8_t *eq = memchr(key, '=', end - 1 - (i + 1));
    if (!eq || eq == key)
      return refuse(u, preason, "a PAX record has no key=value");
    size_t klen = (size_t)(eq - key);
    const uint8_t *v = eq + 1;
    size_t vlen = (size_t)(p + end - 1 - v);
    if (klen == 4 && memcmp(key, "path", 4) == 0) {
      if (pax_string(u->name, v, vlen) != 0)
        return refuse(u, preason, "a PAX path is over 4096 bytes or holds a NUL");
      u->pax_path = 1;
    } else if (klen == 8 && memcmp(key, "linkpath", 8) == 0) {
      if (pax_string(u->link, v, vlen) != 0)
        return refuse(u, preason, "a PAX linkpath is over 4096 bytes or holds a NUL");
      u->pax_link = 1;
    } else if (klen == 4 && memcmp(key, "size", 4) == 0) {
      uint64_t s = 0;
      if (vlen == 0 || vlen > 18)
        return refuse(u, preason, "a PAX size is not a number below 10^18");
      for (size_t k = 0; k < vlen; k++) {
        if (v[k] < '0' || v[k] > '9')
          return refuse(u, preason, "a PAX size is not a number below 10^18");
        s = s * 10 + (uint64_t)(v[k] - '0');
      }
      u->size = s;
      u->pax_size = 1;
    }
    off = end;
  }
  return 0;
}

static int entry_done(wr_untar *u) {
  u->state = u->pad ? S_PAD : S_HDR;
  return u->ops->end ? u->ops->end(u->arg) : 0;
}

/* One whole 512-byte block in u->blk where a header is due. */
static int header(wr_untar *u, const char **preason) {
  const uint8_t *h = u->blk;
  int pending_pax = u->paxlen > 0 || u->pax_path || u->pax_link || u->pax_size;
  size_t z = 0;
  while (z < WR_TAR_BLOCK && h[z] == 0)
    z++;
  if (z == WR_TAR_BLOCK) {
    if (pending_pax)
      return refuse(u, preason, "a PAX header is followed by the end of the archive");
    if (++u->zeros == 2)
      u->state = S_END;
    return 0;
  }
  if (u->zeros)
    return refuse(u, preason, "a zero block is followed by more entries");
  uint64_t sum, want = 0, size, mode;
  if (octal(h + 148, 8, &sum) != 0)
    return refuse(u, preason, "a header's checksum is not an octal number");
  for (size_t i = 0; i < WR_TAR_BLOCK; i++)
    want += (i >= 148 && i < 156) ? ' ' : h[i];
  if (sum != want)
    return refuse(u, preason, "a header's checksum does not match its bytes");
  if (memcmp(h + 257, "ustar", 6) != 0 || memcmp(h + 263, "00", 2) != 0)
    return refuse(u, preason, "a header is not POSIX ustar (its magic or version differ)");
  if (octal(h + 124, 12, &size) != 0)
    return refuse(u, preason, "a header's size is not an octal number");
  if (octal(h + 100, 8, &mode) != 0)
    return refuse(u, preason, "a header's mode is not an octal number");
  int type = h[156];
  if (type == 'x') {
    if (pending_pax)
      return refuse(u, preason, "two PAX headers in a row");
    if (size > WR_UNTAR_MAX_PAX)
      return refuse(u, preason, "a PAX header is over 16 KiB");
    u->left = size;
    u->pad = wr_tar_padding(size);
    u->paxlen = 0;
    if (size == 0)
      return refuse(u, preason, "a PAX header is empty");
    u->state = S_PAX;
    return 0;
  }
  if (type == 0)
    type = WR_TAR_FILE;
  if (type == 'g')
    return refuse(u, preason, "global PAX headers are not supported");
  if (type == '1')
    return refuse(u, preason, "hard links are not supported");
  if (type != WR_TAR_FILE && type != WR_TAR_DIR && type != WR_TAR_SYMLINK)
    return refuse(u, preason,
                  "an entry is not a file, a folder or a symlink (devices, FIFOs and "
                  "others are not supported)");
  if (!u->pax_path) {
    size_t k = 0;
    u->name[0] = '\0';
    field(u->name, &k, h + 345, 155);
    if (k) {
      u->name[k++] = '/';
      u->name[k] = '\0';
    }
    field(u->name, &k, h, 100);
  }
  if (!u->pax_link) {
    size_t k = 0;
    field(u->link, &k, h + 157, 100);
  }
  if (!u->pax_size)
    u->size = size;
  size_t nl = strlen(u->name);
  if (type == WR_TAR_DIR)
    while (nl > 0 && u->name[nl - 1] == '/')
      u->name[--nl] = '\0';
  if (nl == 0)
    return refuse(u, preason, "an entry has no name");
  if (type == WR_TAR_FILE && u->name[nl - 1] == '/')
    return refuse(u, preason, "a file's name ends with /");
  if (type != WR_TAR_FILE && u->size)
    return refuse(u, preason, "a folder or symlink carries data");
  if (type == WR_TAR_SYMLINK && !u->link[0])
    return refuse(u, preason, "a symlink has no target");
  wr_untar_entry e = {.type = type,
                      .name = u->name,
                      .link = type == WR_TAR_SYMLINK ? u->link : "",
                      .size = type == WR_TAR_FILE ? u->size : 0,
                      .mode = (uint32_t)(mode & 07777)};
  u->pax_path = u->pax_link = u->pax_size = 0;
  u->paxlen = 0;
  int rv = u->ops->entry(u->arg, &e);
  if (rv)
    return rv;
  u->left = e.size;
  u->pad = wr_tar_padding(e.size);
  if (e.size) {
    u->state = S_DATA;
    return 0;
  }
  return entry_done(u);
}

int wr_untar_feed(wr_untar *u, const uint8_t *p, size_t n, const char **preason) {
  while (n) {
    size_t k;
    int rv = 0;
    switch (u->state) {
    case S_HDR:
      k = WR_TAR_BLOCK - u->blen;
      if (k > n)
        k = n;
      memcpy(u->blk + u->blen, p, k);
      u->blen += k;
      if (u->blen == WR_TAR_BLOCK) {
        u->blen = 0;
        rv = header(u, preason);
      }
      break;
    case S_PAX:
      k = u->left < n ? (size_t)u->left : n;
      memcpy(u->pax + u->paxlen, p, k);
      u->paxlen += k;
      u->left -= k;
      if (!u->left) {
        rv = pax_parse(u, preason);
        if (!rv)
          u->state = u->pad ? S_PAD : S_HDR;
      }
      break;
    case S_DATA:
      k = u->left < n ? (size_t)u->left : n;
      u->left -= k;
      rv = u->ops->data(u->arg, p, k);
      if (!rv && !u->left)
        rv = entry_done(u);
      break;
    case S_PAD:
      k = u->pad < n ? u->pad : n;
      u->pad -= k;
      if (!u->pad)
        u->state = S_HDR;
      break;
    case S_END:
      k = n;
      for (size_t i = 0; i < n; i++)
        if (p[i])
          return refuse(u, preason, "bytes other than zeros follow the end of the archive");
      break;
    default:
      return refuse(u, preason, "the archive was refused already");
    }
    if (rv) {
      if (u->state != S_FAIL)
        u->state = S_FAIL;
      return rv;
    }
    p += k;
    n -= k;
  }
  return 0;
}

int wr_untar_finish(const wr_untar *u, const char **preason) {
  if (u->state == S_END)
    return 0;
  if (preason)
    *preason = u->state == S_FAIL ? "the archive was refused"
                                  : "the archive ends early (no end-of-archive blocks)";
  return WR_ERR_MALFORMED;
}
