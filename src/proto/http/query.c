/* query.c: query strings and percent-decoding (see query.h). */
#include "proto/http/query.h"

#include <string.h>

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes s[0..len) into out at *pw (bounded by end); plus_space turns '+'
 * into ' '. 0, WR_ERR_MALFORMED, WR_ERR_LIMIT. */
static int decode(const char *s, size_t len, char *out, size_t *pw, size_t end, int plus_space) {
  size_t w = *pw;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= len)
        return WR_ERR_MALFORMED;
      int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
      if (h < 0 || l < 0)
        return WR_ERR_MALFORMED;
      c = h * 16 + l;
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    if (c == 0)
      return WR_ERR_MALFORMED;
    if (w >= end)
      return WR_ERR_LIMIT;
    out[w++] = (char)c;
  }
  *pw = w;
  return 0;
}

long wr_percent_decode(const char *s, size_t len, char *out, size_t cap) {
  if (cap == 0)
    return WR_ERR_LIMIT;
  size_t w = 0;
  int rv = decode(s, len, out, &w, cap - 1, 0);
  if (rv)
    return rv;
  out[w] = '\0';
  return (long)w;
}

int wr_query_parse(wr_query *q, const char *s, size_t len, const char **preason) {
  const char *why = NULL;
  int rv = 0;
  q->n = 0;
  size_t w = 0, end = sizeof q->text;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && s[j] != '&')
      j++;
    if (j > i) {
      if (q->n == WR_QUERY_MAX_PAIRS) {
        rv = WR_ERR_LIMIT;
        why = "the query has more than 64 parameters";
        goto fail;
      }
      const char *eq = memchr(s + i, '=', j - i);
      size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
      if (klen == 0) {
        rv = WR_ERR_MALFORMED;
        why = "a query parameter has an empty name";
        goto fail;
      }
      q->key[q->n] = q->text + w;
      rv = decode(s + i, klen, q->text, &w, end - 1, 1);
      if (!rv && w < end)
        q->text[w++] = '\0';
      if (rv)
        goto bad;
      q->val[q->n] = q->text + w;
      if (eq)
        rv = decode(eq + 1, (size_t)(s + j - eq - 1), q->text, &w, end - 1, 1);
      if (rv)
        goto bad;
      if (w >= end) {
        rv = WR_ERR_LIMIT;
        goto bad;
      }
      q->text[w++] = '\0';
      q->n++;
    }
    i = j + 1;
  }
  return 0;
bad:
  why = rv == WR_ERR_LIMIT ? "the query is longer than 16 KiB decoded"
                           : "the query holds a bad percent-escape or a NUL";
fail:
  q->n = 0;
  if (preason)
    *preason = why;
  return rv;
}

const char *wr_query_get(const wr_query *q, const char *key) {
  for (size_t i = 0; i < q->n; i++)
    if (strcmp(q->key[i], key) == 0)
      return q->val[i];
  return NULL;
}

void wr_query_split_target(const char *target, size_t len, size_t *ppath_len, const char **pquery,
                           size_t *pquery_len) {
  const char *qm = memchr(target, '?', len);
  *ppath_len = qm ? (size_t)(qm - target) : len;
  *pquery = qm ? qm + 1 : target + len;
  *pquery_len = qm ? len - (size_t)(qm - target) - 1 : 0;
}
