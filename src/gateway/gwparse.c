/* gwparse.c: the gateway's request grammar (gateway/gwparse.h). */
#include "gateway/gwparse.h"

#include <string.h>

static const char *fmt_names[] = {"",         "raw",  "car",  "tar",        "dag-json",
                                  "dag-cbor", "json", "cbor", "ipns-record"};

const char *wr_gw_format_name(wr_gw_format f) {
  return (unsigned)f < sizeof fmt_names / sizeof fmt_names[0] ? fmt_names[f] : "";
}

static int why(const char **pwhy, const char *s, int err) {
  if (pwhy)
    *pwhy = s;
  return err;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes [s, s+n) into out (cap bytes with the NUL); '+' stays '+'
 * in paths and is a space in query values (plus_space). */
static int decode(const char *s, size_t n, char *out, size_t cap, int plus_space, size_t *plen,
                  const char **pwhy) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n)
        return why(pwhy, "a percent escape is cut short", WR_ERR_MALFORMED);
      int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
      if (a < 0 || b < 0)
        return why(pwhy, "a percent escape is not two hex digits", WR_ERR_MALFORMED);
      c = (char)(a * 16 + b);
      if (c == '\0')
        return why(pwhy, "an escaped NUL byte (%00) is not allowed", WR_ERR_MALFORMED);
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    if (o + 1 >= cap)
      return why(pwhy, "the path or value is too long", WR_ERR_LIMIT);
    out[o++] = c;
  }
  out[o] = '\0';
  if (plen)
    *plen = o;
  return 0;
}

int wr_gw_split_target(const char *t, size_t n, char *path, size_t cap, const char **pquery,
                       size_t *pqlen, const char **pwhy) {
  if (n == 0 || t[0] != '/')
    return why(pwhy, "the request target is not a path starting with /", WR_ERR_MALFORMED);
  size_t plen = 0;
  while (plen < n && t[plen] != '?' && t[plen] != '#')
    plen++;
  if (plen < n && t[plen] == '#')
    return why(pwhy, "a request target cannot carry a fragment", WR_ERR_MALFORMED);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f || t[i] == '#')
      return why(pwhy, "the request target holds a control character, space or #",
                 WR_ERR_MALFORMED);
  int rc = decode(t, plen, path, cap, 0, NULL, pwhy);
  if (rc)
    return rc;
  *pquery = plen < n ? t + plen + 1 : t + n;
  *pqlen = plen < n ? n - plen - 1 : 0;
  return 0;
}

static int eq(const char *s, size_t n, const char *lit) {
  return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int ieq(const char *s, size_t n, const char *lit) {
  if (strlen(lit) != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char a = s[i], b = lit[i];
    if (a >= 'A' && a <= 'Z')
      a = (char)(a - 'A' + 'a');
    if (a != b)
      return 0;
  }
  return 1;
}

static wr_gw_format format_by_name(const char *s, size_t n) {
  for (size_t i = 1; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
    if (eq(s, n, fmt_names[i]))
      return (wr_gw_format)i;
  return WR_GW_FMT_NONE;
}

/* A signed decimal integer of at most 18 digits. */
static int parse_int(const char *s, size_t n, int64_t *pv) {
  int neg = 0;
  if (n && s[0] == '-') {
    neg = 1;
    s++;
    n--;
  }
  if (n == 0 || n > 18)
    return -1;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *pv = neg ? -v : v;
  return 0;
}

static int parse_entity_bytes(const char *s, size_t n, wr_gw_params *p, const char **pwhy) {
  const char *colon = memchr(s, ':', n);
  if (!colon)
    return why(pwhy, "entity-bytes must be FROM:TO (for example 0:1023 or -1024:*)", WR_ERR_INVAL);
  size_t a = (size_t)(colon - s);
  int64_t from, to = 0;
  if (parse_int(s, a, &from) != 0)
    return why(pwhy, "entity-bytes: FROM is not an integer", WR_ERR_INVAL);
  const char *t = colon + 1;
  size_t tn = n - a - 1;
  int to_end = eq(t, tn, "*");
  if (!to_end && parse_int(t, tn, &to) != 0)
    return why(pwhy, "entity-bytes: TO is not an integer or *", WR_ERR_INVAL);
  if (!to_end && from >= 0 && to >= 0 && to < from)
    return why(pwhy, "entity-bytes: TO comes before FROM", WR_ERR_INVAL);
  p->has_bytes = 1;
  p->bytes_from = from;
  p->bytes_to = to;
  p->bytes_to_end = to_end;
  return 0;
}

int wr_gw_parse_query(const char *q, size_t n, wr_gw_params *p, const char **pwhy) {
  size_t i = 0;
  int scope_given = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && q[j] != '&')
      j++;
    const char *k = q + i, *eqs = memchr(k, '=', j - i);
    size_t kn = eqs ? (size_t)(eqs - k) : j - i;
    const char *v = eqs ? eqs + 1 : q + j;
    size_t vn = eqs ? (size_t)(q + j - v) : 0;
    char val[WR_GW_NAME_MAX + 1];
    size_t vl = 0;
    int rc = decode(v, vn, val, sizeof val, 1, &vl, pwhy);
    if (rc)
      return why(pwhy,
                 rc == WR_ERR_LIMIT ? "a query value is too long"
                                    : "a query value has a bad percent escape",
                 WR_ERR_INVAL);
    if (eq(k, kn, "format")) {
      wr_gw_format f = format_by_name(val, vl);
      if (f == WR_GW_FMT_NONE)
        return why(pwhy,
                   "format must be raw, car, tar, dag-json, dag-cbor, json, cbor or "
                   "ipns-record",
                   WR_ERR_INVAL);
      p->format = f;
      p->format_in_url = 1;
    } else if (eq(k, kn, "filename")) {
      memcpy(p->filename, val, vl + 1);
    } else if (eq(k, kn, "download")) {
      p->download = eq(val, vl, "true") ? 1 : 0;
    } else if (eq(k, kn, "dag-scope")) {
      if (eq(val, vl, "all"))
        p->scope = WR_GW_SCOPE_ALL;
      else if (eq(val, vl, "entity"))
        p->scope = WR_GW_SCOPE_ENTITY;
      else if (eq(val, vl, "block"))
        p->scope = WR_GW_SCOPE_BLOCK;
      else
        return why(pwhy, "dag-scope must be block, entity or all", WR_ERR_INVAL);
      scope_given = 1;
    } else if (eq(k, kn, "entity-bytes")) {
      rc = parse_entity_bytes(val, vl, p, pwhy);
      if (rc)
        return rc;
    } else if (eq(k, kn, "car-version")) {
      if (!eq(val, vl, "1"))
        return why(pwhy, "only CAR version 1 is served (car-version=1)", WR_ERR_INVAL);
      p->car_version = 1;
    } else if (eq(k, kn, "car-dups")) {
      if (eq(val, vl, "y"))
        p->car_dups = 1;
      else if (eq(val, vl, "n"))
        p->car_dups = 0;
      else
        return why(pwhy, "car-dups must be y or n", WR_ERR_INVAL);
    } else if (eq(k, kn, "car-order")) {
      p->car_order_unk = eq(val, vl, "unk");
      p->car_bad_order = !p->car_order_unk && !eq(val, vl, "dfs");
    }
    i = j + 1;
  }
  /* entity-bytes implies entity unless the scope was given explicitly. */
  if (p->has_bytes && !scope_given)
    p->scope = WR_GW_SCOPE_ENTITY;
  return 0;
}

static const struct {
  const char *type;
  wr_gw_format f;
} media[] = {
    {"application/vnd.ipld.raw", WR_GW_FMT_RAW},
    {"application/vnd.ipld.car", WR_GW_FMT_CAR},
    {"application/x-tar", WR_GW_FMT_TAR},
    {"application/vnd.ipld.dag-json", WR_GW_FMT_DAG_JSON},
    {"application/vnd.ipld.dag-cbor", WR_GW_FMT_DAG_CBOR},
    {"application/json", WR_GW_FMT_JSON},
    {"application/cbor", WR_GW_FMT_CBOR},
    {"application/vnd.ipfs.ipns-record", WR_GW_FMT_IPNS},
};

static void trim(const char **s, size_t *n) {
  while (*n && (**s == ' ' || **s == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

/* q-value in thousandths; 1000 when absent or unreadable. */
static int qvalue(const char *s, size_t n) {
  if (n == 0 || s[0] < '0' || s[0] > '1')
    return 1000;
  int v = (s[0] - '0') * 1000, scale = 100;
  for (size_t i = 2; i < n && i < 5 && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
    v += (s[i] - '0') * scale;
  return v > 1000 ? 1000 : v;
}

int wr_gw_parse_accept(const char *v, size_t n, wr_gw_params *p, const char **pwhy) {
  size_t i = 0;
  int best_q = 0;
  wr_gw_format best = WR_GW_FMT_NONE;
  int version = 0, dups = -1, order_unk = 0, bad_order = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && v[j] != ',')
      j++;
    const char *r = v + i;
    size_t rn = j - i;
    const char *semi = memchr(r, ';', rn);
    const char *t = r;
    size_t tn = semi ? (size_t)(semi - r) : rn;
    trim(&t, &tn);
    wr_gw_format f = WR_GW_FMT_NONE;
    for (size_t m = 0; m < sizeof media / sizeof media[0]; m++)
      if (ieq(t, tn, media[m].type))
        f = media[m].f;
    int q = 1000, ver = 0, d = -1, unk = 0, bad = 0;
    const char *ps = semi ? semi + 1 : NULL;
    while (ps && ps < v + j) {
      const char *pe = memchr(ps, ';', (size_t)(v + j - ps));
      size_t pn = pe ? (size_t)(pe - ps) : (size_t)(v + j - ps);
      const char *pp = ps;
      trim(&pp, &pn);
      const char *eqs = memchr(pp, '=', pn);
      if (eqs) {
        size_t kn = (size_t)(eqs - pp), vn = pn - kn - 1;
        const char *pv = eqs + 1;
        if (ieq(pp, kn, "q"))
          q = qvalue(pv, vn);
        else if (ieq(pp, kn, "version"))
          ver = eq(pv, vn, "1") ? 1 : 2;
        else if (ieq(pp, kn, "dups"))
          d = eq(pv, vn, "y") ? 1 : eq(pv, vn, "n") ? 0 : -1;
        else if (ieq(pp, kn, "order")) {
          unk = eq(pv, vn, "unk");
          bad = !unk && !eq(pv, vn, "dfs");
        }
      }
      ps = pe ? pe + 1 : NULL;
    }
    if (f != WR_GW_FMT_NONE && q > best_q) {
      best_q = q;
      best = f;
      version = ver;
      dups = d;
      order_unk = unk;
      bad_order = bad;
    }
    i = j + 1;
  }
  if (best == WR_GW_FMT_NONE)
    return 0;
  p->format = best;
  p->accept_format = best;
  if (best == WR_GW_FMT_CAR) {
    if (version > 1)
      return why(pwhy,
                 "only CAR version 1 is served (Accept: application/vnd.ipld.car; "
                 "version=1)",
                 WR_ERR_INVAL);
    p->car_version = version;
    p->car_dups = dups;
    p->car_order_unk = order_unk;
    p->car_bad_order = bad_order;
  }
  return 0;
}

/* An unsigned decimal of at most 19 digits. */
static int parse_u64(const char *s, size_t n, uint64_t *pv) {
  if (n == 0 || n > 19)
    return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *pv = v;
  return 0;
}

int wr_gw_parse_range(const char *v, size_t n, uint64_t size, uint64_t *pfirst, uint64_t *plast) {
  trim(&v, &n);
  if (n < 6 || !ieq(v, 6, "bytes="))
    return 0;
  v += 6;
  n -= 6;
  trim(&v, &n);
  /* Several ranges: the first one alone (a single-part 206, as kubo
   * answers; the spec lets a gateway skip multi-range responses). */
  const char *comma = memchr(v, ',', n);
  if (comma) {
    n = (size_t)(comma - v);
    trim(&v, &n);
  }
  const char *dash = memchr(v, '-', n);
  if (!dash)
    return 0;
  size_t a = (size_t)(dash - v);
  const char *b = dash + 1;
  size_t bn = n - a - 1;
  uint64_t first, last;
  if (a == 0) { /* suffix: the last N bytes */
    uint64_t k;
    if (parse_u64(b, bn, &k) != 0)
      return 0;
    if (k == 0 || size == 0)
      return WR_ERR_LIMIT;
    first = k >= size ? 0 : size - k;
    last = size - 1;
  } else {
    if (parse_u64(v, a, &first) != 0)
      return 0;
    if (bn == 0)
      last = size ? size - 1 : 0;
    else if (parse_u64(b, bn, &last) != 0 || last < first)
      return 0;
    if (first >= size)
      return WR_ERR_LIMIT;
    if (last >= size)
      last = size - 1;
  }
  *pfirst = first;
  *plast = last;
  return 1;
}

int wr_gw_entity_range(const wr_gw_params *p, uint64_t size, uint64_t *pfirst, uint64_t *plast) {
  if (size == 0)
    return 0;
  int64_t s = (int64_t)(size > INT64_MAX ? INT64_MAX : size);
  int64_t from = p->bytes_from < 0 ? s + p->bytes_from : p->bytes_from;
  int64_t to = p->bytes_to_end ? s - 1 : (p->bytes_to < 0 ? s + p->bytes_to : p->bytes_to);
  if (from < 0)
    from = 0;
  if (to >= s)
    to = s - 1;
  if (from >= s || to < 0 || to < from)
    return 0;
  *pfirst = (uint64_t)from;
  *plast = (uint64_t)to;
  return 1;
}

int wr_gw_etag_match(const char *v, size_t n, const char *etag) {
  /* Compare opaque tags, ignoring W/ on either side (weak comparison). */
  const char *e = etag;
  if (strncmp(e, "W/", 2) == 0)
    e += 2;
  size_t en = strlen(e);
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && v[j] != ',')
      j++;
    const char *t = v + i;
    size_t tn = j - i;
    trim(&t, &tn);
    if (eq(t, tn, "*"))
      return 1;
    if (tn > 2 && t[0] == 'W' && t[1] == '/') {
      t += 2;
      tn -= 2;
    }
    if (tn == en && memcmp(t, e, en) == 0)
      return 1;
    i = j + 1;
  }
  return 0;
}

int wr_gw_subdomain_label(const char *host, size_t n, const char *gwhost, char label[64]) {
  /* Drop a port and one trailing dot. */
  size_t hn = n;
  for (size_t i = n; i > 0; i--) {
    if (host[i - 1] == ':') {
      hn = i - 1;
      break;
    }
    if (host[i - 1] < '0' || host[i - 1] > '9')
      break;
  }
  if (hn && host[hn - 1] == '.')
    hn--;
  size_t gn = strlen(gwhost);
  /* ".ipfs." + gwhost at the end, one label before it. */
  if (hn < gn + 7)
    return 0;
  const char *tail = host + hn - gn;
  if (!ieq(tail, gn, gwhost) || !ieq(tail - 6, 6, ".ipfs."))
    return 0;
  size_t ln = hn - gn - 6;
  if (memchr(host, '.', ln))
    return 0;
  if (ln > 63)
    return WR_ERR_LIMIT;
  for (size_t i = 0; i < ln; i++) {
    char c = host[i];
    label[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  label[ln] = '\0';
  return 1;
}
