#include "proto/text/json.h"

#include <string.h>

#include "base/mem.h"

/* Recursion is bounded by max_depth, itself capped here so a caller cannot
 * ask for a stack-exhausting depth. */
#define HARD_MAX_DEPTH 256

typedef struct parser {
  const uint8_t *p, *start, *end;
  size_t depth, nodes;
  wr_json_limits lim;
  wr_json_error err;
} parser;

static int fail(parser *ps, const uint8_t *at, int code, const char *msg) {
  ps->err.offset = (size_t)(at - ps->start);
  ps->err.msg = msg;
  return code;
}

static void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is invalid
 * (overlong, a surrogate, above U+10FFFF, or cut short by end). */
static size_t utf8_len(const uint8_t *p, const uint8_t *end) {
  uint8_t c = p[0];
  if (c < 0x80)
    return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c == 0xE0)
    n = 3, lo = 0xA0;
  else if (c >= 0xE1 && c <= 0xEC)
    n = 3;
  else if (c == 0xED)
    n = 3, hi = 0x9F;
  else if (c >= 0xEE && c <= 0xEF)
    n = 3;
  else if (c == 0xF0)
    n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3)
    n = 4;
  else if (c == 0xF4)
    n = 4, hi = 0x8F;
  else
    return 0;
  if ((size_t)(end - p) < n)
    return 0;
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return n;
}

static int hex4(const uint8_t *p, const uint8_t *end, unsigned *pv) {
  if (end - p < 4)
    return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    uint8_t c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      v |= (unsigned)((c | 0x20) - 'a' + 10);
    else
      return -1;
  }
  *pv = v;
  return 0;
}

static size_t put_utf8(uint8_t *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (uint8_t)(0xC0 | (cp >> 6));
    o[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (uint8_t)(0xE0 | (cp >> 12));
    o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (uint8_t)(0xF0 | (cp >> 18));
  o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* Parses a string at ps->p (on the opening quote) into a fresh NUL-terminated
 * buffer. Two passes: the first validates and finds the end, so the output
 * (never longer than the source) is allocated once. */
static int parse_string(parser *ps, char **pout, size_t *plen) {
  const uint8_t *q = ps->p + 1;
  while (1) {
    if (q >= ps->end)
      return fail(ps, q, WR_ERR_TRUNCATED, "the text ends inside a string");
    uint8_t c = *q;
    if (c == '"')
      break;
    if (c < 0x20)
      return fail(ps, q, WR_ERR_MALFORMED, "a control character must be escaped in a string");
    if (c == '\\') {
      if (q + 1 >= ps->end)
        return fail(ps, q, WR_ERR_TRUNCATED, "the text ends inside a string");
      uint8_t e = q[1];
      if (e == 'u') {
        unsigned v;
        if (hex4(q + 2, ps->end, &v) != 0)
          return fail(ps, q, q + 6 > ps->end ? WR_ERR_TRUNCATED : WR_ERR_MALFORMED,
                      "\\u must be followed by four hex digits");
        if (v >= 0xDC00 && v <= 0xDFFF)
          return fail(ps, q, WR_ERR_MALFORMED, "a low surrogate escape without a high one");
        if (v >= 0xD800 && v <= 0xDBFF) {
          unsigned lo;
          if (q + 8 > ps->end || q[6] != '\\' || q[7] != 'u' || hex4(q + 8, ps->end, &lo) != 0 ||
              lo < 0xDC00 || lo > 0xDFFF)
            return fail(ps, q, WR_ERR_MALFORMED, "a high surrogate escape without a low one");
          q += 12;
        } else {
          q += 6;
        }
        continue;
      }
      if (!strchr("\"\\/bfnrt", e) || e == 0)
        return fail(ps, q, WR_ERR_MALFORMED, "unknown escape sequence in a string");
      q += 2;
      continue;
    }
    size_t n = utf8_len(q, ps->end);
    if (n == 0)
      return fail(ps, q, WR_ERR_MALFORMED, "invalid UTF-8 in a string");
    q += n;
  }
  size_t srclen = (size_t)(q - (ps->p + 1));
  uint8_t *out = wr_malloc(srclen + 1);
  if (!out)
    return fail(ps, ps->p, WR_ERR_NOMEM, "out of memory");
  size_t o = 0;
  for (const uint8_t *s = ps->p + 1; s < q;) {
    if (*s != '\\') {
      out[o++] = *s++;
      continue;
    }
    uint8_t e = s[1];
    unsigned v;
    switch (e) {
    case 'b': out[o++] = '\b'; s += 2; break;
    case 'f': out[o++] = '\f'; s += 2; break;
    case 'n': out[o++] = '\n'; s += 2; break;
    case 'r': out[o++] = '\r'; s += 2; break;
    case 't': out[o++] = '\t'; s += 2; break;
    case 'u':
      (void)hex4(s + 2, q, &v); /* validated in the first pass */
      s += 6;
      if (v >= 0xD800 && v <= 0xDBFF) {
        unsigned lo = 0;
        (void)hex4(s + 2, q, &lo);
        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        s += 6;
      }
      o += put_utf8(out + o, v);
      break;
    default: out[o++] = e; s += 2; break;
    }
  }
  out[o] = '\0';
  ps->p = q + 1;
  *pout = (char *)out;
  *plen = o;
  return 0;
}

static int parse_number(parser *ps, wr_json *v) {
  const uint8_t *s = ps->p, *q = s;
  if (q < ps->end && *q == '-')
    q++;
  if (q >= ps->end)
    return fail(ps, q, WR_ERR_TRUNCATED, "the text ends inside a number");
  if (*q == '0') {
    q++;
    if (q < ps->end && *q >= '0' && *q <= '9')
      return fail(ps, q, WR_ERR_MALFORMED, "a number must not have leading zeros");
  } else if (*q >= '1' && *q <= '9') {
    while (q < ps->end && *q >= '0' && *q <= '9')
      q++;
  } else {
    return fail(ps, q, WR_ERR_MALFORMED, "expected a digit");
  }
  if (q < ps->end && *q == '.') {
    q++;
    if (q >= ps->end)
      return fail(ps, q, WR_ERR_TRUNCATED, "the text ends inside a number");
    if (*q < '0' || *q > '9')
      return fail(ps, q, WR_ERR_MALFORMED, "expected a digit after the decimal point");
    while (q < ps->end && *q >= '0' && *q <= '9')
      q++;
  }
  if (q < ps->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < ps->end && (*q == '+' || *q == '-'))
      q++;
    if (q >= ps->end)
      return fail(ps, q, WR_ERR_TRUNCATED, "the text ends inside a number");
    if (*q < '0' || *q > '9')
      return fail(ps, q, WR_ERR_MALFORMED, "expected a digit in the exponent");
    while (q < ps->end && *q >= '0' && *q <= '9')
      q++;
  }
  size_t n = (size_t)(q - s);
  if (!(v->str = wr_malloc(n + 1)))
    return fail(ps, s, WR_ERR_NOMEM, "out of memory");
  memcpy(v->str, s, n);
  v->str[n] = '\0';
  v->len = n;
  ps->p = q;
  return 0;
}

static int literal(parser *ps, const char *word, wr_json_type t, wr_json *v) {
  size_t n = strlen(word);
  size_t left = (size_t)(ps->end - ps->p);
  if (left < n) {
    if (memcmp(ps->p, word, left) == 0)
      return fail(ps, ps->end, WR_ERR_TRUNCATED, "the text ends inside a value");
    return fail(ps, ps->p, WR_ERR_MALFORMED, "expected a value");
  }
  if (memcmp(ps->p, word, n) != 0)
    return fail(ps, ps->p, WR_ERR_MALFORMED, "expected a value");
  v->type = t;
  ps->p += n;
  return 0;
}

static int parse_value(parser *ps, wr_json *v);

static int new_node(parser *ps, wr_json **pn) {
  if (ps->nodes >= ps->lim.max_nodes)
    return fail(ps, ps->p, WR_ERR_LIMIT, "too many values in the text");
  if (!(*pn = wr_calloc(1, sizeof **pn)))
    return fail(ps, ps->p, WR_ERR_NOMEM, "out of memory");
  ps->nodes++;
  return 0;
}

static int parse_container(parser *ps, wr_json *v, int is_object) {
  uint8_t close = is_object ? '}' : ']';
  if (++ps->depth > ps->lim.max_depth)
    return fail(ps, ps->p, WR_ERR_LIMIT, "arrays and objects nest too deeply");
  v->type = is_object ? WR_JSON_OBJECT : WR_JSON_ARRAY;
  ps->p++;
  skip_ws(ps);
  wr_json **tail = &v->child;
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    ps->depth--;
    return 0;
  }
  while (1) {
    skip_ws(ps);
    wr_json *kid;
    int rv = new_node(ps, &kid);
    if (rv)
      return rv;
    *tail = kid;
    tail = &kid->next;
    v->nchild++;
    if (is_object) {
      if (ps->p >= ps->end)
        return fail(ps, ps->p, WR_ERR_TRUNCATED, "the text ends inside an object");
      if (*ps->p != '"')
        return fail(ps, ps->p, WR_ERR_MALFORMED, "expected a member name in double quotes");
      const uint8_t *keyat = ps->p;
      rv = parse_string(ps, &kid->key, &kid->keylen);
      if (rv)
        return rv;
      for (const wr_json *o = v->child; o != kid; o = o->next)
        if (o->keylen == kid->keylen && memcmp(o->key, kid->key, o->keylen) == 0)
          return fail(ps, keyat, WR_ERR_MALFORMED, "duplicate member name in an object");
      skip_ws(ps);
      if (ps->p >= ps->end)
        return fail(ps, ps->p, WR_ERR_TRUNCATED, "the text ends inside an object");
      if (*ps->p != ':')
        return fail(ps, ps->p, WR_ERR_MALFORMED, "expected ':' after a member name");
      ps->p++;
      skip_ws(ps);
    }
    if ((rv = parse_value(ps, kid)) != 0)
      return rv;
    skip_ws(ps);
    if (ps->p >= ps->end)
      return fail(ps, ps->p, WR_ERR_TRUNCATED,
                  is_object ? "the text ends inside an object" : "the text ends inside an array");
    if (*ps->p == ',') {
      ps->p++;
      skip_ws(ps);
      if (ps->p < ps->end && *ps->p == close)
        return fail(ps, ps->p, WR_ERR_MALFORMED, "a trailing comma is not allowed");
      continue;
    }
    if (*ps->p == close) {
      ps->p++;
      ps->depth--;
      return 0;
    }
    return fail(ps, ps->p, WR_ERR_MALFORMED,
                is_object ? "expected ',' or '}' after a member" : "expected ',' or ']' after an element");
  }
}

static int parse_value(parser *ps, wr_json *v) {
  skip_ws(ps);
  v->offset = (size_t)(ps->p - ps->start);
  if (ps->p >= ps->end)
    return fail(ps, ps->p, WR_ERR_TRUNCATED, "the text ends where a value was expected");
  switch (*ps->p) {
  case '{': return parse_container(ps, v, 1);
  case '[': return parse_container(ps, v, 0);
  case '"': v->type = WR_JSON_STRING; return parse_string(ps, &v->str, &v->len);
  case 't': return literal(ps, "true", WR_JSON_TRUE, v);
  case 'f': return literal(ps, "false", WR_JSON_FALSE, v);
  case 'n': return literal(ps, "null", WR_JSON_NULL, v);
  default:
    if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
      v->type = WR_JSON_NUMBER;
      return parse_number(ps, v);
    }
    return fail(ps, ps->p, WR_ERR_MALFORMED, "expected a value");
  }
}

int wr_json_parse(const char *text, size_t len, const wr_json_limits *limits, wr_json **proot,
                  wr_json_error *perr) {
  parser ps = {0};
  ps.start = ps.p = (const uint8_t *)text;
  ps.end = ps.start + len;
  ps.lim.max_depth = WR_JSON_DEFAULT_DEPTH;
  ps.lim.max_size = WR_JSON_DEFAULT_SIZE;
  ps.lim.max_nodes = WR_JSON_DEFAULT_NODES;
  if (limits)
    ps.lim = *limits;
  if (ps.lim.max_depth > HARD_MAX_DEPTH)
    ps.lim.max_depth = HARD_MAX_DEPTH;
  *proot = NULL;
  int rv;
  wr_json *root = NULL;
  if (len > ps.lim.max_size) {
    rv = fail(&ps, ps.start + ps.lim.max_size, WR_ERR_LIMIT, "the text is too long");
    goto out;
  }
  if ((rv = new_node(&ps, &root)) != 0)
    goto out;
  skip_ws(&ps);
  if (ps.p >= ps.end) {
    rv = fail(&ps, ps.p, WR_ERR_TRUNCATED, "the text is empty");
    goto out;
  }
  if ((rv = parse_value(&ps, root)) != 0)
    goto out;
  skip_ws(&ps);
  if (ps.p != ps.end) {
    rv = fail(&ps, ps.p, WR_ERR_MALFORMED, "unexpected text after the value");
    goto out;
  }
  *proot = root;
  root = NULL;
out:
  wr_json_del(root);
  if (perr)
    *perr = rv ? ps.err : (wr_json_error){0, NULL};
  return rv;
}

void wr_json_del(wr_json *v) {
  while (v) {
    wr_json *next = v->next;
    wr_json_del(v->child); /* depth-bounded by the parser */
    wr_free(v->key);
    wr_free(v->str);
    wr_free(v);
    v = next;
  }
}

const wr_json *wr_json_get(const wr_json *obj, const char *key) {
  if (!obj || obj->type != WR_JSON_OBJECT)
    return NULL;
  size_t n = strlen(key);
  for (const wr_json *m = obj->child; m; m = m->next)
    if (m->keylen == n && memcmp(m->key, key, n) == 0)
      return m;
  return NULL;
}

int wr_json_get_int(const wr_json *v, int64_t min, int64_t max, int64_t *pv) {
  if (!v || v->type != WR_JSON_NUMBER)
    return WR_ERR_INVAL;
  const char *s = v->str;
  int neg = *s == '-';
  if (neg)
    s++;
  uint64_t acc = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return WR_ERR_INVAL; /* fraction or exponent */
    if (acc > (UINT64_MAX - 9) / 10)
      return WR_ERR_INVAL;
    acc = acc * 10 + (uint64_t)(*s - '0');
  }
  int64_t r;
  if (neg) {
    if (acc > (uint64_t)INT64_MAX + 1)
      return WR_ERR_INVAL;
    r = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
  } else {
    if (acc > (uint64_t)INT64_MAX)
      return WR_ERR_INVAL;
    r = (int64_t)acc;
  }
  if (r < min || r > max)
    return WR_ERR_INVAL;
  *pv = r;
  return 0;
}

const char *wr_json_type_name(wr_json_type t) {
  static const char *const names[] = {"null", "false", "true", "number", "string", "array", "object"};
  return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

int wr_json_put_string(wr_buf *b, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s, *end = p + n;
  for (const uint8_t *q = p; q < end;) {
    size_t k = utf8_len(q, end);
    if (!k)
      return WR_ERR_INVAL;
    q += k;
  }
  size_t mark = b->len;
  int rv = wr_buf_append(b, "\"", 1);
  for (const uint8_t *q = p; !rv && q < end; q++) {
    uint8_t c = *q;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      rv = wr_buf_append(b, esc, 2);
    } else if (c < 0x20) {
      const char *short_esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
      rv = short_esc ? wr_buf_puts(b, short_esc) : wr_buf_printf(b, "\\u%04x", c);
    } else {
      rv = wr_buf_append(b, q, 1);
    }
  }
  if (!rv)
    rv = wr_buf_append(b, "\"", 1);
  if (rv)
    b->len = mark;
  return rv;
}
