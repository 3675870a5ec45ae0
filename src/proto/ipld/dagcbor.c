#include "proto/ipld/dagcbor.h"

/* Reads one item head at *pp: major type, and the argument (the value, the
 * length or the count). Returns 0 or an error with *preason set. */
static int read_head(const uint8_t **pp, const uint8_t *end, unsigned *pmajor, uint64_t *parg,
                     unsigned *pai, const char **preason) {
  const uint8_t *p = *pp;
  if (p >= end) {
    *preason = "dag-cbor item runs past the end of the block";
    return WR_ERR_TRUNCATED;
  }
  unsigned major = *p >> 5, ai = *p & 31;
  p++;
  uint64_t arg = ai;
  size_t extra = 0;
  if (ai == 24)
    extra = 1;
  else if (ai == 25)
    extra = 2;
  else if (ai == 26)
    extra = 4;
  else if (ai == 27)
    extra = 8;
  else if (ai >= 28) {
    *preason = ai == 31 ? "indefinite-length item (not allowed in dag-cbor)"
                        : "reserved CBOR additional information";
    return WR_ERR_MALFORMED;
  }
  if (extra) {
    if ((size_t)(end - p) < extra) {
      *preason = "dag-cbor item head runs past the end of the block";
      return WR_ERR_TRUNCATED;
    }
    arg = 0;
    for (size_t i = 0; i < extra; i++)
      arg = (arg << 8) | p[i];
    p += extra;
  }
  *pp = p;
  *pmajor = major;
  *parg = arg;
  *pai = ai;
  return 0;
}

int wr_dagcbor_links(const uint8_t *p, size_t n, wr_dagcbor_link_fn fn, void *arg,
                     const char **preason) {
  const char *why_local;
  if (!preason)
    preason = &why_local;
  const uint8_t *end = p + n;
  /* remaining[d]: items still to read at nesting depth d. */
  uint64_t remaining[WR_DAGCBOR_MAX_DEPTH];
  size_t depth = 1;
  remaining[0] = 1;
  int rc;
  while (depth > 0) {
    if (remaining[depth - 1] == 0) {
      depth--;
      continue;
    }
    remaining[depth - 1]--;
    unsigned major, ai;
    uint64_t v;
    if ((rc = read_head(&p, end, &major, &v, &ai, preason)) != 0)
      return rc;
    switch (major) {
    case 0: /* unsigned */
    case 1: /* negative */
      break;
    case 2: /* bytes */
    case 3: /* text */
      if (v > (uint64_t)(end - p)) {
        *preason = "dag-cbor string runs past the end of the block";
        return WR_ERR_TRUNCATED;
      }
      p += v;
      break;
    case 4: /* array */
    case 5: /* map */
      /* Every item takes at least one byte: a count larger than what is left
       * cannot be right, and checking here keeps counts from overflowing. */
      if (v > (uint64_t)(end - p) || (major == 5 && v * 2 > (uint64_t)(end - p))) {
        *preason = "dag-cbor array or map claims more items than the block holds";
        return WR_ERR_TRUNCATED;
      }
      if (v == 0)
        break;
      if (depth >= WR_DAGCBOR_MAX_DEPTH) {
        *preason = "dag-cbor nesting is too deep";
        return WR_ERR_LIMIT;
      }
      remaining[depth++] = major == 5 ? v * 2 : v;
      break;
    case 6: /* tag */
      if (v == 42) {
        unsigned m2, ai2;
        uint64_t len;
        if ((rc = read_head(&p, end, &m2, &len, &ai2, preason)) != 0)
          return rc;
        if (m2 != 2 || len < 2 || len > (uint64_t)(end - p) || p[0] != 0x00) {
          *preason = len > (uint64_t)(end - p) ? "dag-cbor link runs past the end of the block"
                                               : "tag 42 is not a 0x00-prefixed CID byte string";
          return len > (uint64_t)(end - p) ? WR_ERR_TRUNCATED : WR_ERR_MALFORMED;
        }
        wr_cid cid;
        const char *cid_why = NULL;
        if (wr_cid_from_bytes(p + 1, (size_t)len - 1, &cid, &cid_why) != 0) {
          *preason = "tag 42 holds an invalid CID";
          return WR_ERR_MALFORMED;
        }
        p += len;
        if ((rc = fn(arg, &cid)) != 0)
          return rc;
      } else {
        /* The tagged item follows and stands in for this one. */
        remaining[depth - 1]++;
      }
      break;
    default: /* 7: simple values and floats; the head holds them whole */
      if (ai == 24 && v < 32) {
        *preason = "two-byte encoding of a simple value below 32";
        return WR_ERR_MALFORMED;
      }
      break;
    }
  }
  if (p != end) {
    *preason = "trailing bytes after the dag-cbor item";
    return WR_ERR_MALFORMED;
  }
  return 0;
}
