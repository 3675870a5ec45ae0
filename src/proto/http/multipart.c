/* multipart.c: streaming multipart/form-data parser (see multipart.h). */
#include "proto/http/multipart.h"

#include <string.h>

enum {
  S_START = 0, /* expecting "--boundary" */
  S_AFTER,     /* after a delimiter: "--" (close) or padding and CRLF */
  S_HEAD,      /* collecting a part's header section */
  S_BODY,      /* part data until "\r\n--boundary" */
  S_DONE,      /* after the close delimiter: the epilogue is ignored */
};

static int fail(wr_mp_parser *p, int err, const char *why) {
  p->error = err;
  p->reason = why;
  return err;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int eq_ci(const char *a, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)lit[i]))
      return 0;
  return 1;
}

static int is_tchar(int c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
    return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *skip_ws(const char *s, const char *end) {
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  return s;
}

/* Reads a parameter value at *ps: a token or a quoted-string (unescaped in
 * place, which only shrinks it). */
static int param_value(char **ps, char *end, wr_mp_slice *out) {
  char *s = *ps;
  if (s < end && *s == '"') {
    char *w = ++s, *start = s;
    for (;;) {
      if (s >= end)
        return WR_ERR_MALFORMED;
      if (*s == '"')
        break;
      if (*s == '\\') {
        if (++s >= end)
          return WR_ERR_MALFORMED;
      }
      *w++ = *s++;
    }
    out->p = start;
    out->len = (size_t)(w - start);
    *ps = s + 1;
    return 0;
  }
  char *start = s;
  while (s < end && is_tchar((unsigned char)*s))
    s++;
  if (s == start)
    return WR_ERR_MALFORMED;
  out->p = start;
  out->len = (size_t)(s - start);
  *ps = s;
  return 0;
}

/* Content-Disposition: form-data; name="x"; filename="y" (other
 * dispositions are accepted as well: Go's clients send "file" for nested
 * parts). */
static int disposition(char *s, char *end, wr_mp_part *part) {
  char *t = s;
  while (s < end && is_tchar((unsigned char)*s))
    s++;
  if (s == t)
    return WR_ERR_MALFORMED;
  for (;;) {
    s = (char *)skip_ws(s, end);
    if (s == end)
      return 0;
    if (*s != ';')
      return WR_ERR_MALFORMED;
    s = (char *)skip_ws(s + 1, end);
    char *k = s;
    while (s < end && is_tchar((unsigned char)*s))
      s++;
    size_t klen = (size_t)(s - k);
    if (klen == 0 || s >= end || *s != '=')
      return WR_ERR_MALFORMED;
    s++;
    wr_mp_slice v;
    if (param_value(&s, end, &v))
      return WR_ERR_MALFORMED;
    if (eq_ci(k, klen, "name"))
      part->name = v;
    else if (eq_ci(k, klen, "filename")) {
      part->filename = v;
      part->has_filename = 1;
    }
  }
}

/* Parses the header section in p->head (head_len bytes, ending in CRLF CRLF
 * or being a lone CRLF). */
static int parse_head(wr_mp_parser *p, wr_mp_part *part) {
  memset(part, 0, sizeof *part);
  char *s = (char *)p->head, *end = s + p->head_len - 2; /* drop the final CRLF */
  size_t nfields = 0;
  while (s < end) {
    char *eol = memchr(s, '\r', (size_t)(end - s));
    if (!eol || eol[1] != '\n')
      return fail(p, WR_ERR_MALFORMED, "a part header line does not end in CRLF");
    if (++nfields > WR_MP_MAX_FIELDS)
      return fail(p, WR_ERR_LIMIT, "a part has more than 16 header fields");
    char *colon = memchr(s, ':', (size_t)(eol - s));
    if (!colon || colon == s)
      return fail(p, WR_ERR_MALFORMED, "a part header line is not \"Name: value\"");
    for (char *c = s; c < colon; c++)
      if (!is_tchar((unsigned char)*c))
        return fail(p, WR_ERR_MALFORMED, "a part header name holds a character not allowed");
    for (char *c = colon + 1; c < eol; c++)
      if ((unsigned char)*c < 0x20 && *c != '\t')
        return fail(p, WR_ERR_MALFORMED, "a part header value holds a control character");
    char *v = (char *)skip_ws(colon + 1, eol), *ve = eol;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    size_t nlen = (size_t)(colon - s);
    if (eq_ci(s, nlen, "content-disposition")) {
      if (disposition(v, ve, part))
        return fail(p, WR_ERR_MALFORMED, "a part's Content-Disposition is malformed");
    } else if (eq_ci(s, nlen, "content-type")) {
      part->content_type.p = v;
      part->content_type.len = (size_t)(ve - v);
    }
    s = eol + 2;
  }
  return 0;
}

int wr_mp_boundary(const char *ctype, size_t len, wr_mp_slice *pb, const char **preason) {
  const char *why = NULL;
  const char *s = ctype, *end = ctype + len;
  const char *t = s;
  while (s < end && *s != ';' && *s != ' ' && *s != '\t')
    s++;
  if (!eq_ci(t, (size_t)(s - t), "multipart/form-data")) {
    why = "the request body is not multipart/form-data";
    if (preason)
      *preason = why;
    return WR_ERR_UNSUPPORTED;
  }
  for (;;) {
    s = skip_ws(s, end);
    if (s == end)
      break;
    if (*s != ';')
      goto bad;
    s = skip_ws(s + 1, end);
    const char *k = s;
    while (s < end && is_tchar((unsigned char)*s))
      s++;
    size_t klen = (size_t)(s - k);
    if (klen == 0 || s >= end || *s != '=')
      goto bad;
    s++;
    const char *v = s;
    size_t vlen;
    if (s < end && *s == '"') {
      v = ++s;
      while (s < end && *s != '"' && *s != '\\')
        s++;
      if (s >= end || *s != '"')
        goto bad;
      vlen = (size_t)(s - v);
      s++;
    } else {
      while (s < end && is_tchar((unsigned char)*s))
        s++;
      vlen = (size_t)(s - v);
    }
    if (eq_ci(k, klen, "boundary")) {
      if (vlen == 0 || vlen > WR_MP_MAX_BOUNDARY) {
        why = "the multipart boundary must be 1 to 70 characters";
        goto fail;
      }
      pb->p = v;
      pb->len = vlen;
      return 0;
    }
  }
  why = "the multipart Content-Type has no boundary parameter";
  goto fail;
bad:
  why = "the multipart Content-Type's parameters are malformed";
fail:
  if (preason)
    *preason = why;
  return WR_ERR_MALFORMED;
}

int wr_mp_init(wr_mp_parser *p, const char *boundary, size_t len) {
  memset(p, 0, sizeof *p);
  if (len == 0 || len > WR_MP_MAX_BOUNDARY)
    return WR_ERR_INVAL;
  memcpy(p->delim, "\r\n--", 4);
  memcpy(p->delim + 4, boundary, len);
  p->delim_len = 4 + len;
  p->state = S_START;
  return 0;
}

/* Length of the longest suffix of data that is a proper prefix of delim. */
static size_t partial_tail(const wr_mp_parser *p, const uint8_t *data, size_t len) {
  size_t k = len < p->delim_len - 1 ? len : p->delim_len - 1;
  for (; k > 0; k--)
    if (memcmp(data + len - k, p->delim, k) == 0)
      return k;
  return 0;
}

int wr_mp_parse(wr_mp_parser *p, const uint8_t *data, size_t len, size_t *pconsumed,
                wr_mp_event *ev) {
  *pconsumed = 0;
  memset(ev, 0, sizeof *ev);
  if (p->error)
    return p->error;
  switch (p->state) {
  case S_START: {
    /* The first delimiter has no CRLF before it. */
    size_t need = p->delim_len - 2;
    size_t n = len < need ? len : need;
    if (memcmp(data, p->delim + 2, n) != 0)
      return fail(p, WR_ERR_MALFORMED, "the body does not start with the multipart boundary");
    if (len < need)
      return WR_MP_EV_NEED_MORE;
    *pconsumed = need;
    p->state = S_AFTER;
    p->pad = 0;
    return WR_MP_EV_NEED_MORE;
  }
  case S_AFTER: {
    /* "--" right after the delimiter closes the body; else optional
     * padding (consumed as it comes, so nothing long is held back) and CRLF. */
    if (p->pad == 0 && len < 2)
      return WR_MP_EV_NEED_MORE;
    if (p->pad == 0 && data[0] == '-' && data[1] == '-') {
      *pconsumed = 2;
      p->state = S_DONE;
      return WR_MP_EV_DONE;
    }
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t')) {
      if (++p->pad > 64)
        return fail(p, WR_ERR_MALFORMED, "too much padding after a multipart boundary");
      i++;
    }
    if (p->pad == 0)
      p->pad = 1; /* past the place where "--" could be */
    if (len - i < 2) {
      *pconsumed = i;
      return WR_MP_EV_NEED_MORE;
    }
    if (data[i] != '\r' || data[i + 1] != '\n')
      return fail(p, WR_ERR_MALFORMED, "a multipart boundary is not followed by CRLF");
    *pconsumed = i + 2;
    p->state = S_HEAD;
    p->head_len = 0;
    return WR_MP_EV_NEED_MORE;
  }
  case S_HEAD: {
    /* Byte by byte into head until CRLF CRLF, or a lone CRLF first. */
    size_t i = 0;
    while (i < len) {
      if (p->head_len == WR_MP_MAX_HEAD)
        return fail(p, WR_ERR_LIMIT, "a part's headers are longer than 8 KiB");
      p->head[p->head_len++] = data[i++];
      size_t h = p->head_len;
      int end = (h == 2 && p->head[0] == '\r' && p->head[1] == '\n') ||
                (h >= 4 && memcmp(p->head + h - 4, "\r\n\r\n", 4) == 0);
      if (end) {
        *pconsumed = i;
        int rv = parse_head(p, &ev->part);
        if (rv)
          return rv;
        p->state = S_BODY;
        return WR_MP_EV_PART;
      }
    }
    *pconsumed = i;
    return WR_MP_EV_NEED_MORE;
  }
  case S_BODY: {
    const uint8_t *hit = len >= p->delim_len ? memmem(data, len, p->delim, p->delim_len) : NULL;
    if (hit == data) {
      *pconsumed = p->delim_len;
      p->state = S_AFTER;
      p->pad = 0;
      return WR_MP_EV_PART_END;
    }
    size_t n = hit ? (size_t)(hit - data) : len - partial_tail(p, data, len);
    if (n == 0)
      return WR_MP_EV_NEED_MORE;
    ev->data = data;
    ev->len = n;
    *pconsumed = n;
    return WR_MP_EV_DATA;
  }
  default:
    *pconsumed = len;
    return WR_MP_EV_DONE;
  }
}

int wr_mp_finish(wr_mp_parser *p) {
  if (p->state == S_DONE)
    return 0;
  if (!p->error)
    fail(p, WR_ERR_TRUNCATED, "the multipart body ends before its closing boundary");
  return WR_ERR_TRUNCATED;
}

const char *wr_mp_reason(const wr_mp_parser *p) { return p->reason ? p->reason : ""; }
