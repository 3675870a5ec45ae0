#include "proto/text/yamldoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void put_err(wr_yaml *y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_err(wr_yaml *y, const char *fmt, ...) {
  if (!y->err || !y->errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(y->err, y->errlen, fmt, ap);
  va_end(ap);
}

int wr_yaml_load(wr_yaml *y, const char *text, size_t len, const char *file, char *err,
                 size_t errlen) {
  memset(y, 0, sizeof *y);
  y->file = file;
  y->err = err;
  y->errlen = errlen;
  if (len > WR_YAML_MAX_SIZE) {
    put_err(y, "%s: the file is larger than %u bytes", file, WR_YAML_MAX_SIZE);
    return WR_ERR_LIMIT;
  }
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    put_err(y, "%s: out of memory", file);
    return WR_ERR_NOMEM;
  }
  /* An empty file reaches us as (NULL, 0); libyaml asserts on NULL. */
  yaml_parser_set_input_string(&p, (const unsigned char *)(text ? text : ""), len);
  int rv = 0;
  if (!yaml_parser_load(&p, &y->doc)) {
    const yaml_mark_t *m = p.problem ? &p.problem_mark : &p.context_mark;
    if (p.error == YAML_MEMORY_ERROR) {
      put_err(y, "%s: out of memory", file);
      rv = WR_ERR_NOMEM;
    } else {
      put_err(y, "%s:%lu:%lu: invalid YAML: %s%s%s", file, (unsigned long)m->line + 1,
              (unsigned long)m->column + 1, p.problem ? p.problem : "syntax error",
              p.context ? " " : "", p.context ? p.context : "");
      rv = WR_ERR_MALFORMED;
    }
    goto out;
  }
  y->loaded = 1;
  /* A second document would be silently ignored by a plain load; refuse
   * it, since the user meant something by it. */
  yaml_document_t extra;
  if (!yaml_parser_load(&p, &extra)) {
    const yaml_mark_t *m = &p.problem_mark;
    put_err(y, "%s:%lu:%lu: invalid YAML: %s", file, (unsigned long)m->line + 1,
            (unsigned long)m->column + 1, p.problem ? p.problem : "syntax error");
    rv = WR_ERR_MALFORMED;
    goto out;
  }
  if (yaml_document_get_root_node(&extra)) {
    yaml_node_t *r = yaml_document_get_root_node(&extra);
    put_err(y, "%s:%lu:%lu: a second YAML document; put everything in one", file,
            (unsigned long)r->start_mark.line + 1, (unsigned long)r->start_mark.column + 1);
    rv = WR_ERR_MALFORMED;
  }
  yaml_document_delete(&extra);
out:
  yaml_parser_delete(&p);
  return rv;
}

void wr_yaml_free(wr_yaml *y) {
  if (y->loaded)
    yaml_document_delete(&y->doc);
  y->loaded = 0;
}

yaml_node_t *wr_yaml_root(wr_yaml *y) {
  return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

yaml_node_t *wr_yaml_node(wr_yaml *y, int id) { return yaml_document_get_node(&y->doc, id); }

int wr_yaml_fail(wr_yaml *y, const yaml_node_t *n, const char *fmt, ...) {
  if (y->err && y->errlen) {
    int k = snprintf(y->err, y->errlen, "%s:%lu:%lu: ", y->file, wr_yaml_line(n), wr_yaml_col(n));
    if (k >= 0 && (size_t)k < y->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(y->err + k, y->errlen - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return WR_ERR_INVAL;
}

static const char *kind(const yaml_node_t *n) {
  switch (n->type) {
  case YAML_SCALAR_NODE: return "a value";
  case YAML_SEQUENCE_NODE: return "a list";
  case YAML_MAPPING_NODE: return "a mapping";
  default: return "nothing";
  }
}

int wr_yaml_check_mapping(wr_yaml *y, const yaml_node_t *map, const char *what) {
  if (map->type != YAML_MAPPING_NODE)
    return wr_yaml_fail(y, map, "%s must be a mapping of keys to values, not %s", what, kind(map));
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = wr_yaml_node(y, p->key);
    if (!k || k->type != YAML_SCALAR_NODE)
      return wr_yaml_fail(y, k ? k : map, "a key in %s must be a plain name", what);
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
      yaml_node_t *k2 = wr_yaml_node(y, q->key);
      if (k2 && k2->type == YAML_SCALAR_NODE && strcmp((char *)k2->data.scalar.value,
                                                       (char *)k->data.scalar.value) == 0)
        return wr_yaml_fail(y, k, "duplicate key \"%s\" in %s (first at line %lu)",
                            (char *)k->data.scalar.value, what, wr_yaml_line(k2));
    }
  }
  return 0;
}

const char *wr_yaml_scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int wr_yaml_get_string(wr_yaml *y, const yaml_node_t *n, const char *key, const char **pval) {
  const char *s = wr_yaml_scalar(n);
  if (!s)
    return wr_yaml_fail(y, n, "%s must be a string, not %s", key, kind(n));
  if (!*s || strlen(s) != n->data.scalar.length)
    return wr_yaml_fail(y, n, "%s must not be empty", key);
  *pval = s;
  return 0;
}

int wr_yaml_get_bool(wr_yaml *y, const yaml_node_t *n, const char *key, int *pval) {
  static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
  const char *s = wr_yaml_scalar(n);
  for (size_t i = 0; s && i < 3; i++) {
    if (strcasecmp(s, yes[i]) == 0)
      return *pval = 1, 0;
    if (strcasecmp(s, no[i]) == 0)
      return *pval = 0, 0;
  }
  return wr_yaml_fail(y, n, "%s must be true or false, not %s%s%s", key, s ? "\"" : "",
                      s ? s : kind(n), s ? "\"" : "");
}

int wr_yaml_get_uint(wr_yaml *y, const yaml_node_t *n, const char *key, uint64_t min, uint64_t max,
                     uint64_t *pval) {
  const char *s = wr_yaml_scalar(n);
  uint64_t v = 0;
  int ok = s && *s;
  for (const char *q = s; ok && *q; q++) {
    if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
      ok = 0;
    else
      v = v * 10 + (uint64_t)(*q - '0');
  }
  if (!ok)
    return wr_yaml_fail(y, n, "%s must be a whole number, not %s%s%s", key, s ? "\"" : "",
                        s ? s : kind(n), s ? "\"" : "");
  if (v < min || v > max)
    return wr_yaml_fail(y, n, "%s must be between %llu and %llu, not %llu", key,
                        (unsigned long long)min, (unsigned long long)max, (unsigned long long)v);
  *pval = v;
  return 0;
}

int wr_yaml_get_duration(wr_yaml *y, const yaml_node_t *n, const char *key, uint64_t *pns) {
  const char *s = wr_yaml_scalar(n);
  int rv = s ? wr_duration_parse(s, pns) : WR_ERR_INVAL;
  if (rv == WR_ERR_LIMIT)
    return wr_yaml_fail(y, n, "%s is too long a duration: \"%s\"", key, s);
  if (rv)
    return wr_yaml_fail(y, n, "%s must be a duration such as 30s, 1m30s or 500ms, not %s%s%s", key,
                        s ? "\"" : "", s ? s : kind(n), s ? "\"" : "");
  return 0;
}

static uint64_t unit_ns(const char *u, size_t n) {
  static const struct {
    const char *name;
    uint64_t ns;
  } units[] = {{"ns", 1},
               {"us", 1000},
               {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
               {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
               {"ms", 1000000},
               {"s", 1000000000},
               {"m", UINT64_C(60000000000)},
               {"h", UINT64_C(3600000000000)}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0)
      return units[i].ns;
  return 0;
}

int wr_duration_parse(const char *s, uint64_t *pns) {
  if (strcmp(s, "0") == 0)
    return *pns = 0, 0;
  if (!*s)
    return WR_ERR_INVAL;
  uint64_t total = 0;
  const char *p = s;
  while (*p) {
    uint64_t whole = 0, frac = 0, scale = 1;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (whole > (UINT64_MAX - 9) / 10)
        return WR_ERR_LIMIT;
      whole = whole * 10 + (uint64_t)(*p++ - '0');
      digits++;
    }
    if (*p == '.') {
      p++;
      while (*p >= '0' && *p <= '9') {
        if (scale < UINT64_C(1000000000000000000)) { /* digits past 1e-18 cannot matter */
          frac = frac * 10 + (uint64_t)(*p - '0');
          scale *= 10;
        }
        p++;
        digits++;
      }
    }
    if (!digits)
      return WR_ERR_INVAL;
    const char *u = p;
    while (*p && !(*p >= '0' && *p <= '9') && *p != '.')
      p++;
    uint64_t ns = unit_ns(u, (size_t)(p - u));
    if (!ns)
      return WR_ERR_INVAL;
    if (whole > UINT64_MAX / ns)
      return WR_ERR_LIMIT;
    uint64_t v = whole * ns;
    /* frac/scale of a unit; ns <= 3.6e12 and frac < scale <= 1e18 could
     * overflow a product, so divide the scale down first. */
    uint64_t sc = scale, un = ns;
    while (sc > 1 && frac > UINT64_MAX / un) {
      sc /= 10;
      frac /= 10;
    }
    v += frac * un / sc;
    if (v > UINT64_MAX - total)
      return WR_ERR_LIMIT;
    total += v;
  }
  *pns = total;
  return 0;
}

/* Appends v with its fraction (prec decimal digits, trailing zeros dropped). */
static size_t put_frac(char *o, size_t cap, uint64_t v, int prec) {
  uint64_t div = 1;
  for (int i = 0; i < prec; i++)
    div *= 10;
  uint64_t whole = v / div, frac = v % div;
  int k;
  if (!frac)
    k = snprintf(o, cap, "%llu", (unsigned long long)whole);
  else {
    char f[24];
    size_t fl = (size_t)prec; /* prec <= 9: the digits of frac, zero-padded */
    for (size_t i = fl; i-- > 0; frac /= 10)
      f[i] = (char)('0' + frac % 10);
    f[fl] = '\0';
    while (fl && f[fl - 1] == '0')
      f[--fl] = '\0';
    k = snprintf(o, cap, "%llu.%s", (unsigned long long)whole, f);
  }
  return k < 0 ? 0 : (size_t)k >= cap ? cap - 1 : (size_t)k;
}

void wr_duration_format(uint64_t ns, char *out, size_t cap) {
  if (!cap)
    return;
  out[0] = '\0';
  if (ns == 0) {
    snprintf(out, cap, "0s");
    return;
  }
  size_t o;
  if (ns < 1000) {
    snprintf(out, cap, "%lluns", (unsigned long long)ns);
    return;
  }
  if (ns < 1000000) {
    o = put_frac(out, cap, ns, 3);
    snprintf(out + o, cap - o, "\xc2\xb5s");
    return;
  }
  if (ns < 1000000000) {
    o = put_frac(out, cap, ns, 6);
    snprintf(out + o, cap - o, "ms");
    return;
  }
  uint64_t h = ns / UINT64_C(3600000000000), rest = ns % UINT64_C(3600000000000);
  uint64_t m = rest / UINT64_C(60000000000), sns = rest % UINT64_C(60000000000);
  o = 0;
  if (h) {
    int k = snprintf(out, cap, "%lluh", (unsigned long long)h);
    o = k < 0 ? 0 : (size_t)k >= cap ? cap - 1 : (size_t)k;
  }
  if (h || m) {
    int k = snprintf(out + o, cap - o, "%llum", (unsigned long long)m);
    o += k < 0 ? 0 : (size_t)k >= cap - o ? cap - o - 1 : (size_t)k;
  }
  o += put_frac(out + o, cap - o, sns, 9);
  snprintf(out + o, cap - o, "s");
}
