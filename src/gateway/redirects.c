/* redirects.c: the `_redirects` file (gateway/redirects.h). */
#include "gateway/redirects.h"

#include <string.h>

#define MAX_PLACEHOLDERS 32

typedef struct span {
  const char *p;
  size_t n;
} span;

typedef struct rule {
  span from, to;
  int status;
} rule;

static int why(const char **pwhy, const char *s, int err) {
  if (pwhy)
    *pwhy = s;
  return err;
}

static int is_ws(char c) { return c == ' ' || c == '\t'; }

static int is_name(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int span_eq(span a, const char *lit) {
  return a.n == strlen(lit) && memcmp(a.p, lit, a.n) == 0;
}

/* The next line at *pos, without its "\n" or "\r\n". 0 at the end. */
static int next_line(const char *t, size_t n, size_t *pos, span *line) {
  if (*pos >= n)
    return 0;
  const char *s = t + *pos, *nl = memchr(s, '\n', n - *pos);
  size_t len = nl ? (size_t)(nl - s) : n - *pos;
  *pos += len + (nl ? 1 : 0);
  if (len && s[len - 1] == '\r' && nl)
    len--;
  *line = (span){s, len};
  return 1;
}

/* Segment i (0-based) of a path span after its leading '/': *pseg. */
static int seg_next(span path, size_t *pos, span *pseg) {
  if (*pos >= path.n)
    return 0;
  if (path.p[*pos] == '/')
    (*pos)++;
  const char *s = path.p + *pos, *e = memchr(s, '/', path.n - *pos);
  size_t len = e ? (size_t)(e - s) : path.n - *pos;
  *pseg = (span){s, len};
  *pos += len;
  return 1;
}

static int check_from(span f, const char **pwhy) {
  if (f.n == 0 || f.p[0] != '/')
    return why(pwhy, "FROM must be a path starting with /", WR_ERR_MALFORMED);
  span names[MAX_PLACEHOLDERS];
  size_t nn = 0, pos = 0;
  span seg;
  while (seg_next(f, &pos, &seg)) {
    if (memchr(seg.p, '*', seg.n)) {
      if (seg.n != 1 || pos != f.n)
        return why(pwhy, "* may only be the last segment of FROM (/path/*)", WR_ERR_MALFORMED);
      continue;
    }
    if (seg.n && seg.p[0] == ':') {
      if (seg.n == 1)
        return why(pwhy, "a placeholder in FROM needs a name (:name)", WR_ERR_MALFORMED);
      span nm = {seg.p + 1, seg.n - 1};
      for (size_t i = 0; i < nm.n; i++)
        if (!is_name(nm.p[i]))
          return why(pwhy, "a placeholder's name has only letters, digits and _", WR_ERR_MALFORMED);
      if (span_eq(nm, "splat"))
        return why(pwhy, ":splat is the name of what * matches, not a placeholder in FROM",
                   WR_ERR_MALFORMED);
      for (size_t i = 0; i < nn; i++)
        if (names[i].n == nm.n && memcmp(names[i].p, nm.p, nm.n) == 0)
          return why(pwhy, "a placeholder is used twice in FROM", WR_ERR_MALFORMED);
      if (nn == MAX_PLACEHOLDERS)
        return why(pwhy, "FROM has more than 32 placeholders", WR_ERR_MALFORMED);
      names[nn++] = nm;
    }
  }
  return 0;
}

static int check_to(span t, const char **pwhy) {
  size_t start = 0;
  if (t.n >= 7 && memcmp(t.p, "http://", 7) == 0)
    start = 7;
  else if (t.n >= 8 && memcmp(t.p, "https://", 8) == 0)
    start = 8;
  if (start) {
    if (start == t.n || t.p[start] == '/' || t.p[start] == '?')
      return why(pwhy, "TO's URL names no host", WR_ERR_MALFORMED);
    return 0;
  }
  if (t.n == 0 || t.p[0] != '/' || (t.n > 1 && t.p[1] == '/'))
    return why(pwhy, "TO must be a path starting with / (not //) or an http(s) URL",
               WR_ERR_MALFORMED);
  if (memchr(t.p, '\\', t.n))
    return why(pwhy, "TO may not contain a backslash", WR_ERR_MALFORMED);
  const char *q = memchr(t.p, '?', t.n);
  span path = {t.p, q ? (size_t)(q - t.p) : t.n};
  size_t pos = 0;
  span seg;
  while (seg_next(path, &pos, &seg))
    if (span_eq(seg, ".") || span_eq(seg, ".."))
      return why(pwhy, "TO may not have a . or .. segment: a rule cannot leave the site",
                 WR_ERR_MALFORMED);
  return 0;
}

static int parse_status(span s, int *pstatus, const char **pwhy) {
  if (s.n && s.p[s.n - 1] == '!')
    return why(pwhy, "forced redirects (a status ending in !) are not supported", WR_ERR_MALFORMED);
  int v = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9' || s.n > 3)
      return why(pwhy, "the status must be a number", WR_ERR_MALFORMED);
    v = v * 10 + (s.p[i] - '0');
  }
  static const int ok[] = {200, 301, 302, 303, 307, 308, 404, 410, 451};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (v == ok[i]) {
      *pstatus = v;
      return 0;
    }
  return why(pwhy, "unsupported redirect status (200, 301, 302, 303, 307, 308, 404, 410 or 451)",
             WR_ERR_MALFORMED);
}

/* 0 with a rule, 1 for a line without one, or an error. */
static int parse_line(span line, rule *r, const char **pwhy) {
  for (size_t i = 0; i < line.n; i++) {
    unsigned char c = (unsigned char)line.p[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return why(pwhy, "a line holds a control character", WR_ERR_MALFORMED);
  }
  span f[4];
  size_t nf = 0, i = 0;
  while (i < line.n) {
    while (i < line.n && is_ws(line.p[i]))
      i++;
    if (i == line.n)
      break;
    size_t b = i;
    while (i < line.n && !is_ws(line.p[i]))
      i++;
    if (nf == 0 && line.p[b] == '#')
      return 1;
    if (nf == 4)
      break;
    f[nf++] = (span){line.p + b, i - b};
  }
  if (nf == 0)
    return 1;
  if (nf < 2)
    return why(pwhy, "a rule needs FROM and TO", WR_ERR_MALFORMED);
  if (nf > 3)
    return why(pwhy, "a rule has at most three fields: FROM TO [STATUS]", WR_ERR_MALFORMED);
  int rc = check_from(f[0], pwhy);
  if (rc == 0)
    rc = check_to(f[1], pwhy);
  r->status = 301;
  if (rc == 0 && nf == 3)
    rc = parse_status(f[2], &r->status, pwhy);
  r->from = f[0];
  r->to = f[1];
  return rc;
}

int wr_redirects_check(const char *text, size_t n, const char **pwhy, size_t *pline) {
  *pline = 0;
  if (n > WR_REDIRECTS_MAX_SIZE)
    return why(pwhy, "redirects file size cannot exceed 65536 bytes", WR_ERR_LIMIT);
  size_t pos = 0;
  span line;
  rule r;
  while (next_line(text, n, &pos, &line)) {
    (*pline)++;
    int rc = parse_line(line, &r, pwhy);
    if (rc < 0)
      return rc;
  }
  *pline = 0;
  return 0;
}

typedef struct binding {
  span name, value;
} binding;

/* Does FROM match path? Fills the placeholders' values and the splat. */
static int match_from(span from, span path, binding *b, size_t *pnb, span *psplat, int *phas) {
  /* one trailing '/' does not count */
  if (path.n > 1 && path.p[path.n - 1] == '/')
    path.n--;
  if (from.n > 1 && from.p[from.n - 1] == '/')
    from.n--;
  size_t fp = 0, pp = 0, nb = 0;
  span fs, ps;
  *phas = 0;
  while (seg_next(from, &fp, &fs)) {
    if (span_eq(fs, "*")) {
      size_t start = pp < path.n && path.p[pp] == '/' ? pp + 1 : pp;
      *psplat = (span){path.p + start, path.n - start};
      *phas = 1;
      *pnb = nb;
      return 1;
    }
    if (!seg_next(path, &pp, &ps))
      return 0;
    if (fs.n && fs.p[0] == ':') {
      if (ps.n == 0)
        return 0;
      b[nb++] = (binding){{fs.p + 1, fs.n - 1}, ps};
    } else if (fs.n != ps.n || memcmp(fs.p, ps.p, fs.n) != 0) {
      return 0;
    }
  }
  if (seg_next(path, &pp, &ps))
    return 0;
  *pnb = nb;
  return 1;
}

static int put(char *out, size_t cap, size_t *k, const char *p, size_t n, int escape) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    int plain = !escape || is_name((char)c) || c == '-' || c == '.' || c == '~' || c == '/';
    if (*k + (plain ? 1 : 3) >= cap)
      return WR_ERR_LIMIT;
    if (plain) {
      out[(*k)++] = (char)c;
    } else {
      out[(*k)++] = '%';
      out[(*k)++] = hex[c >> 4];
      out[(*k)++] = hex[c & 15];
    }
  }
  return 0;
}

int wr_redirects_match(const char *text, size_t n, const char *path, int escape, int *pstatus,
                       char *out, size_t cap) {
  size_t pos = 0;
  span line;
  rule r;
  span p = {path, strlen(path)};
  while (next_line(text, n, &pos, &line)) {
    if (parse_line(line, &r, NULL) != 0)
      continue;
    binding b[MAX_PLACEHOLDERS];
    size_t nb = 0;
    span splat = {"", 0};
    int has_splat;
    if (!match_from(r.from, p, b, &nb, &splat, &has_splat))
      continue;
    size_t k = 0;
    for (size_t i = 0; i < r.to.n;) {
      if (r.to.p[i] == ':' && i + 1 < r.to.n && is_name(r.to.p[i + 1])) {
        size_t e = i + 1;
        while (e < r.to.n && is_name(r.to.p[e]))
          e++;
        span nm = {r.to.p + i + 1, e - i - 1};
        const span *val = NULL;
        if (has_splat && span_eq(nm, "splat"))
          val = &splat;
        for (size_t j = 0; !val && j < nb; j++)
          if (b[j].name.n == nm.n && memcmp(b[j].name.p, nm.p, nm.n) == 0)
            val = &b[j].value;
        if (val) {
          if (put(out, cap, &k, val->p, val->n, escape) != 0)
            return WR_ERR_LIMIT;
          i = e;
          continue;
        }
      }
      if (put(out, cap, &k, r.to.p + i, 1, 0) != 0)
        return WR_ERR_LIMIT;
      i++;
    }
    if (k >= cap)
      return WR_ERR_LIMIT;
    out[k] = '\0';
    *pstatus = r.status;
    return 1;
  }
  return 0;
}
