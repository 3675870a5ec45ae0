/* weblinks.c: http URLs, reference resolution and HTML links (see
 * weblinks.h). */
#include "proto/http/weblinks.h"

#include <string.h>

static int fail(const char **preason, const char *why, int rv) {
  if (preason)
    *preason = why;
  return rv;
}

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

/* RFC 3986 pchar and '/' (and '?' in a query), '%' only before two hex
 * digits. */
static int check_chars(const char *s, size_t n, int query, const char **preason) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
        return fail(preason, "a URL has a '%' that does not start a percent-escape",
                    WR_ERR_MALFORMED);
      i += 2;
      continue;
    }
    if (is_alpha(c) || is_digit(c) || (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL) ||
        (query && c == '?'))
      continue;
    return fail(preason, "a URL holds a character that must be percent-encoded", WR_ERR_MALFORMED);
  }
  return 0;
}

/* Removes "." and ".." segments from an absolute path (RFC 3986 5.2.4),
 * in place. */
static void remove_dots(char *path) {
  char out[WR_URL_PATH_MAX];
  size_t on = 0;
  const char *p = path + 1; /* after the leading '/' */
  int trailing = 0;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    trailing = 0;
    if (len == 1 && p[0] == '.') {
      trailing = 1;
    } else if (len == 2 && p[0] == '.' && p[1] == '.') {
      while (on > 0 && out[on - 1] != '/')
        on--;
      if (on > 0)
        on--; /* the slash before the popped segment */
      trailing = 1;
    } else {
      out[on++] = '/';
      memcpy(out + on, p, len);
      on += len;
    }
    if (!slash)
      break;
    p = slash + 1;
  }
  if (trailing || on == 0)
    out[on++] = '/';
  out[on] = '\0';
  memcpy(path, out, on + 1);
}

/* Copies s (n bytes) into dst of cap bytes with a NUL. */
static int copy(char *dst, size_t cap, const char *s, size_t n, const char **preason) {
  if (n >= cap)
    return fail(preason, "a URL is longer than 2048 bytes", WR_ERR_LIMIT);
  memcpy(dst, s, n);
  dst[n] = '\0';
  return 0;
}

/* Sets the path and query of u from s (n bytes: "path[?query]", fragment
 * already gone); the path must start with '/'. */
static int set_path_query(wr_url *u, const char *s, size_t n, const char **preason) {
  const char *q = memchr(s, '?', n);
  size_t pl = q ? (size_t)(q - s) : n;
  int rv = check_chars(s, pl, 0, preason);
  if (rv)
    return rv;
  if (pl == 0) {
    strcpy(u->path, "/");
  } else if ((rv = copy(u->path, sizeof u->path, s, pl, preason)) != 0) {
    return rv;
  }
  u->has_query = q != NULL;
  u->query[0] = '\0';
  if (q) {
    size_t ql = n - pl - 1;
    if ((rv = check_chars(q + 1, ql, 1, preason)) != 0 ||
        (rv = copy(u->query, sizeof u->query, q + 1, ql, preason)) != 0)
      return rv;
  }
  remove_dots(u->path);
  return 0;
}

/* The length of a scheme followed by ':' at the start of s, or 0. */
static size_t scheme_len(const char *s, size_t n) {
  if (n == 0 || !is_alpha(s[0]))
    return 0;
  for (size_t i = 1; i < n; i++) {
    if (s[i] == ':')
      return i;
    if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.')
      return 0;
  }
  return 0;
}

int wr_url_parse(const char *s, size_t n, wr_url *u, const char **preason) {
  memset(u, 0, sizeof *u);
  const char *hash = memchr(s, '#', n);
  if (hash)
    n = (size_t)(hash - s);
  size_t sl = scheme_len(s, n);
  if (sl == 0)
    return fail(preason, "not an absolute URL (it has no scheme such as http:)", WR_ERR_MALFORMED);
  if (sl != 4 || lower(s[0]) != 'h' || lower(s[1]) != 't' || lower(s[2]) != 't' ||
      lower(s[3]) != 'p')
    return fail(preason, "only http URLs are fetched", WR_ERR_UNSUPPORTED);
  if (n < 7 || s[5] != '/' || s[6] != '/')
    return fail(preason, "an http URL has //HOST after http:", WR_ERR_MALFORMED);
  const char *a = s + 7, *end = s + n, *ae = a;
  while (ae < end && *ae != '/' && *ae != '?')
    ae++;
  if (memchr(a, '@', (size_t)(ae - a)))
    return fail(preason, "user names and passwords in URLs are not accepted", WR_ERR_MALFORMED);
  const char *he, *portp = NULL;
  if (a < ae && *a == '[') {
    he = memchr(a, ']', (size_t)(ae - a));
    if (!he || he - a < 3)
      return fail(preason, "an IPv6 host in a URL lacks its ']'", WR_ERR_MALFORMED);
    for (const char *c = a + 1; c < he; c++)
      if (!is_hex(*c) && *c != ':' && *c != '.')
        return fail(preason, "an IPv6 host in a URL holds a bad character", WR_ERR_MALFORMED);
    he++;
    if (he < ae && *he != ':')
      return fail(preason, "a URL has text after its IPv6 host", WR_ERR_MALFORMED);
    portp = he < ae ? he : NULL;
  } else {
    he = a;
    while (he < ae && *he != ':')
      he++;
    if (he == a)
      return fail(preason, "a URL has no host", WR_ERR_MALFORMED);
    for (const char *c = a; c < he; c++)
      if (!is_alpha(*c) && !is_digit(*c) && *c != '-' && *c != '.')
        return fail(preason,
                    "a URL's host holds a character other than letters, digits, '-' "
                    "and '.'",
                    WR_ERR_MALFORMED);
    portp = he < ae ? he : NULL;
  }
  if ((size_t)(he - a) >= sizeof u->host)
    return fail(preason, "a URL's host is longer than 255 bytes", WR_ERR_LIMIT);
  for (size_t i = 0; i < (size_t)(he - a); i++)
    u->host[i] = lower(a[i]);
  u->host[he - a] = '\0';
  u->port = 80;
  if (portp && portp + 1 < ae) { /* "host:" alone means the default */
    unsigned long v = 0;
    for (const char *c = portp + 1; c < ae; c++) {
      if (!is_digit(*c) || c - portp > 5)
        return fail(preason, "a URL's port is not a number up to 65535", WR_ERR_MALFORMED);
      v = v * 10 + (unsigned long)(*c - '0');
    }
    if (v == 0 || v > 65535)
      return fail(preason, "a URL's port is not a number up to 65535", WR_ERR_MALFORMED);
    u->port = (uint16_t)v;
  }
  if (ae < end && *ae == '?') {
    /* "http://host?q": the path is "/" */
    char tmp[WR_URL_PATH_MAX + 2];
    size_t rest = (size_t)(end - ae);
    if (rest + 1 >= sizeof tmp)
      return fail(preason, "a URL is longer than 2048 bytes", WR_ERR_LIMIT);
    tmp[0] = '/';
    memcpy(tmp + 1, ae, rest);
    return set_path_query(u, tmp, rest + 1, preason);
  }
  return set_path_query(u, ae, (size_t)(end - ae), preason);
}

int wr_url_resolve(const wr_url *base, const char *ref, size_t n, wr_url *out,
                   const char **preason) {
  while (n && is_space(ref[0]))
    ref++, n--;
  while (n && is_space(ref[n - 1]))
    n--;
  const char *hash = memchr(ref, '#', n);
  if (hash)
    n = (size_t)(hash - ref);
  if (scheme_len(ref, n))
    return wr_url_parse(ref, n, out, preason);
  if (n >= 2 && ref[0] == '/' && ref[1] == '/') {
    char abs[WR_URL_PATH_MAX * 2 + WR_URL_HOST_MAX + 16];
    if (n + 5 >= sizeof abs)
      return fail(preason, "a URL is longer than 2048 bytes", WR_ERR_LIMIT);
    memcpy(abs, "http:", 5);
    memcpy(abs + 5, ref, n);
    return wr_url_parse(abs, n + 5, out, preason);
  }
  if (out != base)
    *out = *base;
  if (n == 0)
    return 0;
  if (ref[0] == '?') {
    int rv = check_chars(ref + 1, n - 1, 1, preason);
    if (rv == 0)
      rv = copy(out->query, sizeof out->query, ref + 1, n - 1, preason);
    out->has_query = 1;
    return rv;
  }
  if (ref[0] == '/')
    return set_path_query(out, ref, n, preason);
  /* A relative path: the base's folder, then ref. */
  char merged[WR_URL_PATH_MAX * 2];
  const char *slash = strrchr(base->path, '/');
  size_t dl = slash ? (size_t)(slash - base->path) + 1 : 1;
  if (dl + n >= sizeof merged)
    return fail(preason, "a URL is longer than 2048 bytes", WR_ERR_LIMIT);
  memcpy(merged, base->path, dl);
  memcpy(merged + dl, ref, n);
  return set_path_query(out, merged, dl + n, preason);
}

int wr_url_same_origin(const wr_url *a, const wr_url *b) {
  return a->port == b->port && strcmp(a->host, b->host) == 0;
}

long wr_url_format(const wr_url *u, char *out, size_t cap) {
  size_t need = 7 + strlen(u->host) + strlen(u->path) + (u->has_query ? 1 + strlen(u->query) : 0) +
                (u->port != 80 ? 6 : 0) + 1;
  if (need > cap)
    return WR_ERR_LIMIT;
  size_t len = 0;
  memcpy(out, "http://", 7);
  len = 7;
  size_t hl = strlen(u->host);
  memcpy(out + len, u->host, hl);
  len += hl;
  if (u->port != 80) {
    char digits[6];
    int k = 0;
    for (unsigned v = u->port; v; v /= 10)
      digits[k++] = (char)('0' + v % 10);
    out[len++] = ':';
    while (k)
      out[len++] = digits[--k];
  }
  size_t pl = strlen(u->path);
  memcpy(out + len, u->path, pl);
  len += pl;
  if (u->has_query) {
    out[len++] = '?';
    size_t ql = strlen(u->query);
    memcpy(out + len, u->query, ql);
    len += ql;
  }
  out[len] = '\0';
  return (long)len;
}

/* ---- HTML ---- */

static int ci_prefix(const uint8_t *p, size_t n, const char *lit) {
  size_t l = strlen(lit);
  if (n < l)
    return 0;
  for (size_t i = 0; i < l; i++)
    if (lower((char)p[i]) != lit[i])
      return 0;
  return 1;
}

/* Decodes character references of v (n bytes) into out (cap bytes). The
 * length, or -1 when it does not fit. */
static long decode_refs(const uint8_t *v, size_t n, char *out, size_t cap) {
  static const struct {
    const char *name;
    char c;
  } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    char c = (char)v[i];
    size_t used = 1;
    if (c == '&') {
      int done = 0;
      for (size_t k = 0; k < sizeof named / sizeof named[0] && !done; k++)
        if (ci_prefix(v + i + 1, n - i - 1, named[k].name)) {
          c = named[k].c;
          used = 1 + strlen(named[k].name);
          done = 1;
        }
      if (!done && i + 2 < n && v[i + 1] == '#') {
        size_t j = i + 2;
        int hex = j < n && (v[j] == 'x' || v[j] == 'X');
        unsigned long cp = 0;
        size_t digits = 0;
        for (j += (size_t)hex; j < n && digits < 7; j++, digits++) {
          char d = (char)v[j];
          if (is_digit(d))
            cp = cp * (hex ? 16u : 10u) + (unsigned long)(d - '0');
          else if (hex && is_hex(d))
            cp = cp * 16u + (unsigned long)(lower(d) - 'a' + 10);
          else
            break;
        }
        /* Only ASCII references are decoded; others stay as written (a
         * URL needs them percent-encoded anyway). */
        if (digits && j < n && v[j] == ';' && cp > 0 && cp < 0x80) {
          c = (char)cp;
          used = j + 1 - i;
        }
      }
    }
    if (o + 1 >= cap)
      return -1;
    out[o++] = c;
    i += used;
  }
  out[o] = '\0';
  return (long)o;
}

static int is_name_char(uint8_t c) {
  return !is_space((char)c) && c != '=' && c != '>' && c != '/' && c != '"' && c != '\'' &&
         c != '<';
}

int wr_html_links(const uint8_t *p, size_t n, size_t max_links, wr_html_link_fn fn, void *arg,
                  const char **preason) {
  if (memchr(p, '\0', n))
    return fail(preason, "the page holds a NUL byte: not an HTML text", WR_ERR_MALFORMED);
  size_t links = 0;
  char value[WR_URL_PATH_MAX];
  size_t i = 0;
  while (i < n) {
    const uint8_t *lt = memchr(p + i, '<', n - i);
    if (!lt)
      break;
    i = (size_t)(lt - p) + 1;
    if (ci_prefix(p + i, n - i, "!--")) {
      size_t j = i + 3;
      while (j + 2 < n && !(p[j] == '-' && p[j + 1] == '-' && p[j + 2] == '>'))
        j++;
      i = j + 3;
      continue;
    }
    if (i >= n || !is_alpha((char)p[i]))
      continue; /* "</x>", "<!doctype>", "a < b": no attributes we want */
    size_t ns = i;
    while (i < n && (is_alpha((char)p[i]) || is_digit((char)p[i])))
      i++;
    int raw = (i - ns == 6 && ci_prefix(p + ns, 6, "script")) ||
              (i - ns == 5 && ci_prefix(p + ns, 5, "style"));
    const char *raw_end = !raw ? NULL : i - ns == 6 ? "</script" : "</style";
    /* Attributes until '>'. */
    while (i < n && p[i] != '>') {
      if (is_space((char)p[i]) || p[i] == '/') {
        i++;
        continue;
      }
      size_t an = i;
      while (i < n && is_name_char(p[i]))
        i++;
      size_t alen = i - an;
      if (alen == 0) {
        i++; /* a stray quote or '<' */
        continue;
      }
      while (i < n && is_space((char)p[i]))
        i++;
      if (i >= n || p[i] != '=')
        continue; /* an attribute without a value */
      i++;
      while (i < n && is_space((char)p[i]))
        i++;
      size_t vs, ve;
      if (i < n && (p[i] == '"' || p[i] == '\'')) {
        uint8_t q = p[i++];
        vs = i;
        const uint8_t *e = memchr(p + i, q, n - i);
        if (!e)
          return 0; /* the page ends inside a value */
        ve = (size_t)(e - p);
        i = ve + 1;
      } else {
        vs = i;
        while (i < n && !is_space((char)p[i]) && p[i] != '>')
          i++;
        ve = i;
      }
      int want =
          (alen == 4 && ci_prefix(p + an, 4, "href")) || (alen == 3 && ci_prefix(p + an, 3, "src"));
      if (!want)
        continue;
      long vl = decode_refs(p + vs, ve - vs, value, sizeof value);
      if (vl < 0)
        continue; /* longer than any URL we take */
      if (++links > max_links)
        return fail(preason, "the page has more links than the crawl takes from one page",
                    WR_ERR_LIMIT);
      int rv = fn(arg, value, (size_t)vl);
      if (rv)
        return rv;
    }
    i++; /* the '>' */
    if (raw_end) {
      size_t el = strlen(raw_end);
      while (i < n && !ci_prefix(p + i, n - i, raw_end))
        i++;
      i += i < n ? el : 0;
    }
  }
  return 0;
}
