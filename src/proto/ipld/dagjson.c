#include "proto/ipld/dagjson.h"

#include <string.h>

typedef struct scan {
  const uint8_t *p, *end;
  wr_dagjson_link_fn fn;
  void *arg;
  const char *why;
} scan;

static int fail(scan *s, int rc, const char *why) {
  s->why = why;
  return rc;
}

static void skip_ws(scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int is_hex(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Reads a string at s->p (which is '"'); sets *pstart and *plen to its raw
 * contents and *pescaped when it holds a backslash. */
static int read_string(scan *s, const uint8_t **pstart, size_t *plen, int *pescaped) {
  s->p++;
  const uint8_t *start = s->p;
  int escaped = 0;
  while (s->p < s->end) {
    uint8_t c = *s->p;
    if (c == '"') {
      *pstart = start;
      *plen = (size_t)(s->p - start);
      if (pescaped)
        *pescaped = escaped;
      s->p++;
      return 0;
    }
    if (c < 0x20)
      return fail(s, WR_ERR_MALFORMED, "control character inside a dag-json string");
    if (c == '\\') {
      escaped = 1;
      if (s->end - s->p < 2)
        break;
      uint8_t e = s->p[1];
      if (e == 'u') {
        if (s->end - s->p < 6)
          break;
        for (int i = 2; i < 6; i++)
          if (!is_hex(s->p[i]))
            return fail(s, WR_ERR_MALFORMED, "bad \\u escape in a dag-json string");
        s->p += 6;
        continue;
      }
      if (!strchr("\"\\/bfnrt", e) || e == 0)
        return fail(s, WR_ERR_MALFORMED, "bad escape in a dag-json string");
      s->p += 2;
      continue;
    }
    s->p++;
  }
  return fail(s, WR_ERR_TRUNCATED, "dag-json text ends inside a string");
}

static int digits(scan *s) {
  const uint8_t *start = s->p;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
    s->p++;
  return s->p > start;
}

static int read_number(scan *s) {
  if (*s->p == '-')
    s->p++;
  if (s->p < s->end && *s->p == '0')
    s->p++;
  else if (!digits(s))
    return fail(s, s->p >= s->end ? WR_ERR_TRUNCATED : WR_ERR_MALFORMED,
                "bad number in dag-json");
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (!digits(s))
      return fail(s, s->p >= s->end ? WR_ERR_TRUNCATED : WR_ERR_MALFORMED,
                  "bad fraction in dag-json");
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      s->p++;
    if (!digits(s))
      return fail(s, s->p >= s->end ? WR_ERR_TRUNCATED : WR_ERR_MALFORMED,
                  "bad exponent in dag-json");
  }
  return 0;
}

static int read_value(scan *s, unsigned depth);

static int read_object(scan *s, unsigned depth) {
  s->p++; /* '{' */
  skip_ws(s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    return 0;
  }
  for (int first = 1;; first = 0) {
    skip_ws(s);
    if (s->p >= s->end)
      return fail(s, WR_ERR_TRUNCATED, "dag-json text ends inside an object");
    if (*s->p != '"')
      return fail(s, WR_ERR_MALFORMED, "dag-json object key is not a string");
    const uint8_t *key;
    size_t keylen;
    int rc = read_string(s, &key, &keylen, NULL);
    if (rc != 0)
      return rc;
    skip_ws(s);
    if (s->p >= s->end)
      return fail(s, WR_ERR_TRUNCATED, "dag-json text ends inside an object");
    if (*s->p != ':')
      return fail(s, WR_ERR_MALFORMED, "missing ':' in a dag-json object");
    s->p++;
    skip_ws(s);
    if (first && keylen == 1 && key[0] == '/' && s->p < s->end && *s->p == '"') {
      /* Maybe a link: {"/": "<cid>"} and nothing else. */
      const uint8_t *v;
      size_t vlen;
      int escaped;
      if ((rc = read_string(s, &v, &vlen, &escaped)) != 0)
        return rc;
      skip_ws(s);
      if (s->p < s->end && *s->p == '}') {
        s->p++;
        wr_cid cid;
        if (escaped || wr_cid_parse((const char *)v, vlen, &cid, NULL) != 0)
          return fail(s, WR_ERR_MALFORMED, "dag-json link {\"/\": ...} does not hold a valid CID");
        return s->fn(s->arg, &cid);
      }
    } else if ((rc = read_value(s, depth + 1)) != 0) {
      return rc;
    }
    skip_ws(s);
    if (s->p >= s->end)
      return fail(s, WR_ERR_TRUNCATED, "dag-json text ends inside an object");
    if (*s->p == '}') {
      s->p++;
      return 0;
    }
    if (*s->p != ',')
      return fail(s, WR_ERR_MALFORMED, "missing ',' or '}' in a dag-json object");
    s->p++;
  }
}

static int read_array(scan *s, unsigned depth) {
  s->p++; /* '[' */
  skip_ws(s);
  if (s->p < s->end && *s->p == ']') {
    s->p++;
    return 0;
  }
  for (;;) {
    int rc = read_value(s, depth + 1);
    if (rc != 0)
      return rc;
    skip_ws(s);
    if (s->p >= s->end)
      return fail(s, WR_ERR_TRUNCATED, "dag-json text ends inside an array");
    if (*s->p == ']') {
      s->p++;
      return 0;
    }
    if (*s->p != ',')
      return fail(s, WR_ERR_MALFORMED, "missing ',' or ']' in a dag-json array");
    s->p++;
  }
}

static int read_literal(scan *s, const char *word) {
  size_t n = strlen(word);
  size_t left = (size_t)(s->end - s->p);
  if (left < n)
    return memcmp(s->p, word, left) == 0 ? fail(s, WR_ERR_TRUNCATED, "dag-json text ends early")
                                         : fail(s, WR_ERR_MALFORMED, "bad literal in dag-json");
  if (memcmp(s->p, word, n) != 0)
    return fail(s, WR_ERR_MALFORMED, "bad literal in dag-json");
  s->p += n;
  return 0;
}

static int read_value(scan *s, unsigned depth) {
  if (depth >= WR_DAGJSON_MAX_DEPTH)
    return fail(s, WR_ERR_LIMIT, "dag-json nesting is too deep");
  skip_ws(s);
  if (s->p >= s->end)
    return fail(s, WR_ERR_TRUNCATED, "dag-json text ends where a value should be");
  const uint8_t *str;
  size_t len;
  switch (*s->p) {
  case '{': return read_object(s, depth);
  case '[': return read_array(s, depth);
  case '"': return read_string(s, &str, &len, NULL);
  case 't': return read_literal(s, "true");
  case 'f': return read_literal(s, "false");
  case 'n': return read_literal(s, "null");
  default:
    if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
      return read_number(s);
    return fail(s, WR_ERR_MALFORMED, "unexpected character in dag-json");
  }
}

int wr_dagjson_links(const uint8_t *p, size_t n, wr_dagjson_link_fn fn, void *arg,
                     const char **preason) {
  scan s = {p, p + n, fn, arg, NULL};
  int rc = read_value(&s, 0);
  if (rc == 0) {
    skip_ws(&s);
    if (s.p != s.end)
      rc = fail(&s, WR_ERR_MALFORMED, "trailing text after the dag-json value");
  }
  if (preason && s.why)
    *preason = s.why;
  return rc;
}
