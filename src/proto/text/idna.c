/* idna.c: host names to their ASCII form (see idna.h). */
#include "proto/text/idna.h"

#include <stdint.h>

/* RFC 3492 section 5: the Bootstring parameters of Punycode. */
enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700, INITIAL_BIAS = 72, INITIAL_N = 128 };

#define LABEL_MAX 63

static char digit(unsigned d) { return (char)(d < 26 ? 'a' + d : '0' + (d - 26)); }

/* RFC 3492 section 6.1. */
static unsigned adapt(unsigned delta, unsigned numpoints, int first) {
  delta = first ? delta / DAMP : delta / 2;
  delta += delta / numpoints;
  unsigned k = 0;
  while (delta > ((BASE - TMIN) * TMAX) / 2) {
    delta /= BASE - TMIN;
    k += BASE;
  }
  return k + (BASE - TMIN + 1) * delta / (delta + SKEW);
}

static int put(char *out, size_t cap, size_t *pn, char c) {
  if (*pn >= cap)
    return WR_ERR_LIMIT;
  out[(*pn)++] = c;
  return 0;
}

int wr_punycode_encode(const unsigned *cp, size_t n, char *out, size_t cap, size_t *pn) {
  size_t basic = 0;
  for (size_t j = 0; j < n; j++)
    if (cp[j] < 0x80) {
      if (put(out, cap, pn, (char)cp[j]))
        return WR_ERR_LIMIT;
      basic++;
    }
  if (basic > 0 && put(out, cap, pn, '-'))
    return WR_ERR_LIMIT;
  /* Labels are at most 63 bytes, so every counter here stays far below
   * overflow: n <= 63 code points, each < 0x110000. */
  unsigned next = INITIAL_N, delta = 0, bias = INITIAL_BIAS;
  size_t h = basic;
  while (h < n) {
    unsigned m = UINT32_MAX;
    for (size_t j = 0; j < n; j++)
      if (cp[j] >= next && cp[j] < m)
        m = cp[j];
    delta += (m - next) * (unsigned)(h + 1);
    next = m;
    for (size_t j = 0; j < n; j++) {
      if (cp[j] < next)
        delta++;
      if (cp[j] != next)
        continue;
      unsigned q = delta;
      for (unsigned k = BASE;; k += BASE) {
        unsigned t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
        if (q < t)
          break;
        if (put(out, cap, pn, digit(t + (q - t) % (BASE - t))))
          return WR_ERR_LIMIT;
        q = (q - t) / (BASE - t);
      }
      if (put(out, cap, pn, digit(q)))
        return WR_ERR_LIMIT;
      bias = adapt(delta, (unsigned)(h + 1), h == basic);
      delta = 0;
      h++;
    }
    delta++;
    next++;
  }
  return 0;
}

/* Decodes one UTF-8 sequence at s[*pi] (len bytes in all) into *pcp.
 * 0, or WR_ERR_INVAL for a malformed, overlong or surrogate sequence. */
static int utf8_next(const unsigned char *s, size_t len, size_t *pi, unsigned *pcp) {
  size_t i = *pi;
  unsigned c = s[i], cp, need, min;
  if (c < 0x80) {
    *pcp = c;
    *pi = i + 1;
    return 0;
  }
  if (c >= 0xc2 && c <= 0xdf) {
    need = 1, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 2, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return WR_ERR_INVAL;
  }
  if (len - i - 1 < need)
    return WR_ERR_INVAL;
  for (unsigned k = 1; k <= need; k++) {
    unsigned cc = s[i + k];
    if ((cc & 0xc0) != 0x80)
      return WR_ERR_INVAL;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return WR_ERR_INVAL;
  *pcp = cp;
  *pi = i + 1 + need;
  return 0;
}

static int fail(const char **preason, const char *why) {
  if (preason)
    *preason = why;
  return WR_ERR_INVAL;
}

/* Appends the ASCII form of one label (bytes [s, s+len)) to out at *pn. */
static int label_to_ascii(const unsigned char *s, size_t len, char *out, size_t *pn,
                          const char **preason) {
  unsigned cp[LABEL_MAX + 1];
  size_t ncp = 0;
  int ascii = 1;
  if (len == 0)
    return fail(preason, "the host name has an empty label");
  for (size_t i = 0; i < len;) {
    unsigned c;
    if (utf8_next(s, len, &i, &c) != 0)
      return fail(preason, "the host name is not valid UTF-8");
    if (c <= ' ' || c == 0x7f)
      return fail(preason, "the host name has a space or a control character");
    if (c >= 'A' && c <= 'Z')
      c += 'a' - 'A';
    if (c >= 0x80)
      ascii = 0;
    if (ncp == LABEL_MAX)
      return fail(preason, "a label of the host name is longer than 63 characters");
    cp[ncp++] = c;
  }
  size_t start = *pn;
  size_t cap = start + LABEL_MAX < WR_IDNA_MAX ? start + LABEL_MAX : WR_IDNA_MAX;
  if (ascii) {
    for (size_t j = 0; j < ncp; j++)
      if (put(out, cap, pn, (char)cp[j]))
        goto toolong;
    return 0;
  }
  if (put(out, cap, pn, 'x') || put(out, cap, pn, 'n') || put(out, cap, pn, '-') ||
      put(out, cap, pn, '-') || wr_punycode_encode(cp, ncp, out, cap, pn) != 0)
    goto toolong;
  return 0;
toolong:
  if (*pn - start >= LABEL_MAX)
    return fail(preason, "a label of the host name is longer than 63 characters once encoded");
  return fail(preason, "the host name is longer than 253 characters once encoded");
}

int wr_idna_to_ascii(const char *host, size_t len, char *out, const char **preason) {
  const unsigned char *s = (const unsigned char *)host;
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && s[i] != '.')
      continue;
    if (start > 0 && put(out, WR_IDNA_MAX, &n, '.'))
      return fail(preason, "the host name is longer than 253 characters once encoded");
    int rv = label_to_ascii(s + start, i - start, out, &n, preason);
    if (rv)
      return rv;
    start = i + 1;
  }
  out[n] = '\0';
  return 0;
}
