#include "proto/http/http1.h"

#include <string.h>

#include "base/mem.h"

enum {
  ST_HEAD = 0,      /* collecting the header section */
  ST_BODY_LEN,      /* Content-Length body */
  ST_BODY_CLOSE,    /* until-close body */
  ST_CHUNK_LINE,    /* collecting a chunk-size line */
  ST_CHUNK_DATA,    /* inside chunk data */
  ST_CHUNK_CR,      /* CRLF after chunk data */
  ST_CHUNK_LF,
  ST_TRAILERS,      /* collecting the trailer section */
  ST_DONE_PENDING,  /* the next call reports WR_H1_EV_DONE */
  ST_PAUSED,        /* after Upgrade/CONNECT */
  ST_CLOSED,        /* after a message that closes the connection */
  ST_ERROR,
};

/* Line scanner states: every CR must be followed by LF and every LF preceded
 * by CR (RFC 9112 2.2 lets a recipient accept a bare LF; a strict edge does
 * not, since two parsers that disagree on line ends are a smuggling vector). */
enum {
  SC_MID = 0,   /* inside a line */
  SC_CR,        /* CR inside a line */
  SC_BOL,       /* at the beginning of a line (after CRLF) */
  SC_BOL_CR,    /* CR at the beginning of a line: the section ends at the LF */
  SC_START,     /* before a request line: empty lines are skipped (RFC 9112 2.2) */
  SC_START_CR,
};

static int fail(wr_h1_parser *p, int err, int status, const char *reason) {
  p->state = ST_ERROR;
  p->error = err;
  p->err_status = status;
  p->err_reason = reason;
  return err;
}

#define BAD(p, why) fail((p), WR_ERR_MALFORMED, 400, (why))

static void start_head(wr_h1_parser *p) {
  p->state = ST_HEAD;
  p->scan = p->kind == WR_H1_REQUEST ? SC_START : SC_MID;
  p->skipped = 0;
  p->line1_done = 0;
  p->stale = 1; /* hbuf may still back the slices of the last event */
  memset(&p->head, 0, sizeof p->head);
}

int wr_h1_parser_init(wr_h1_parser *p, wr_h1_kind kind, const wr_h1_limits *lim) {
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->lim.max_head = lim && lim->max_head ? lim->max_head : WR_H1_DEFAULT_MAX_HEAD;
  p->lim.max_headers = lim && lim->max_headers ? lim->max_headers : WR_H1_DEFAULT_MAX_HEADERS;
  p->lim.max_body = lim ? lim->max_body : 0;
  /* The buffer's own cap is the head limit; chunk lines are bounded lower. */
  size_t cap = p->lim.max_head > WR_H1_MAX_CHUNK_LINE ? p->lim.max_head : WR_H1_MAX_CHUNK_LINE;
  wr_buf_init(&p->hbuf, cap);
  p->fields = NULL; /* allocated with the first head: a parser that waits holds none */
  start_head(p);
  return 0;
}

void wr_h1_parser_trim(wr_h1_parser *p) {
  if (!wr_h1_parser_idle(p))
    return;
  wr_buf_free(&p->hbuf);
  wr_free(p->fields);
  p->fields = NULL;
  p->stale = 0;
}

void wr_h1_parser_free(wr_h1_parser *p) {
  wr_buf_free(&p->hbuf);
  wr_free(p->fields);
  p->fields = NULL;
}

void wr_h1_parser_set_request_method(wr_h1_parser *p, wr_h1_method m) { p->req_method = m; }

void wr_h1_parser_resume(wr_h1_parser *p) {
  if (p->state == ST_PAUSED)
    start_head(p);
}

int wr_h1_parser_idle(const wr_h1_parser *p) {
  return p->state == ST_HEAD && (p->stale || p->hbuf.len == 0) && p->skipped == 0 &&
         (p->scan == SC_START || (p->kind == WR_H1_RESPONSE && p->scan == SC_MID));
}

const char *wr_h1_parser_reason(const wr_h1_parser *p) {
  return p->err_reason ? p->err_reason : "no error";
}

int wr_h1_parser_status(const wr_h1_parser *p) { return p->err_status; }

/* ---- character classes ---- */

/* RFC 9110 tchar, indexed by byte. */
static const uint8_t tchar_tab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int wr_h1_is_tchar(uint8_t c) { return tchar_tab[c]; }

/* field-vchar / SP / HTAB / obs-text: everything but CTLs and DEL. */
static int is_field_char(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static int is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

static uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c; }

int wr_h1_slice_eq(wr_h1_slice s, const char *lit) {
  size_t n = strlen(lit);
  return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

int wr_h1_slice_eq_ci(wr_h1_slice s, const char *lit) {
  size_t n = strlen(lit);
  if (s.len != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((uint8_t)s.p[i]) != lower((uint8_t)lit[i]))
      return 0;
  return 1;
}

const wr_h1_header *wr_h1_find(const wr_h1_header *h, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (wr_h1_slice_eq_ci(h[i].name, name))
      return &h[i];
  return NULL;
}

static wr_h1_slice trim(wr_h1_slice s) {
  while (s.len && is_ows((uint8_t)s.p[0])) {
    s.p++;
    s.len--;
  }
  while (s.len && is_ows((uint8_t)s.p[s.len - 1]))
    s.len--;
  return s;
}

/* Calls fn on each non-empty element of a comma-separated list (RFC 9110
 * 5.6.1: empty elements are ignored). Stops at the first non-zero return. */
typedef int (*list_fn)(wr_h1_parser *p, wr_h1_slice elem, void *arg);
static int each_elem(wr_h1_parser *p, wr_h1_slice v, list_fn fn, void *arg) {
  size_t i = 0;
  while (i <= v.len) {
    size_t j = i;
    while (j < v.len && v.p[j] != ',')
      j++;
    wr_h1_slice e = trim((wr_h1_slice){v.p + i, j - i});
    if (e.len) {
      int rv = fn(p, e, arg);
      if (rv)
        return rv;
    }
    i = j + 1;
  }
  return 0;
}

/* ---- the line scanner ---- */

/* The request line just ended: hbuf holds its start, tail (up to its CR) the
 * rest. A line without two spaces has no HTTP version: an HTTP/0.9 request
 * ("GET /"), whole as it is, whose sender waits for an answer while the
 * parser would wait for a header section that never comes (a 408 after the
 * header timeout). It is refused now; everything else about the line is
 * checked with the head. */
static int check_request_line(wr_h1_parser *p, const uint8_t *tail, size_t tlen) {
  size_t spaces = 0;
  for (size_t i = 0; i < p->hbuf.len; i++)
    spaces += p->hbuf.data[i] == ' ';
  for (size_t i = 0; i < tlen; i++)
    spaces += tail[i] == ' ';
  if (spaces < 2)
    return BAD(p, "request line without an HTTP version (HTTP/0.9 is not supported)");
  return 0;
}


/* Scans data for the end of a header or trailer section, appending what
 * belongs to it to hbuf. Sets *pused and *pdone. limit bounds skipped +
 * collected bytes; too_big is the reason given past it. */
static int scan_section(wr_h1_parser *p, const uint8_t *data, size_t len, size_t *pused,
                        int *pdone, size_t limit, const char *too_big) {
  size_t from = 0, i = 0;
  int done = 0;
  for (; i < len && !done; i++) {
    if (p->scan == SC_MID) {
      /* Most bytes are inside a line: skip to the next CR or LF at once. */
      size_t j = i;
      while (j < len && data[j] != '\r' && data[j] != '\n')
        j++;
      if (p->skipped + p->hbuf.len + (j - from) > limit)
        return fail(p, WR_ERR_LIMIT, 431, too_big);
      i = j;
      if (i == len)
        break;
    }
    uint8_t c = data[i];
    switch (p->scan) {
    case SC_START:
      if (c == '\r') {
        p->scan = SC_START_CR;
        p->skipped++;
        from = i + 1;
        break;
      }
      if (c == '\n')
        return BAD(p, "bare LF (line feed without carriage return)");
      p->scan = SC_MID;
      break;
    case SC_START_CR:
      if (c != '\n')
        return BAD(p, "bare CR (carriage return without line feed)");
      p->scan = SC_START;
      p->skipped++;
      from = i + 1;
      break;
    case SC_MID:
      if (c == '\r')
        p->scan = SC_CR;
      else if (c == '\n')
        return BAD(p, "bare LF (line feed without carriage return)");
      break;
    case SC_CR:
      if (c != '\n')
        return BAD(p, "bare CR (carriage return without line feed)");
      p->scan = SC_BOL;
      if (p->kind == WR_H1_REQUEST && p->state == ST_HEAD && !p->line1_done) {
        p->line1_done = 1;
        int rv = check_request_line(p, data + from, i - from);
        if (rv)
          return rv;
      }
      break;
    case SC_BOL:
      if (c == '\r')
        p->scan = SC_BOL_CR;
      else if (c == '\n')
        return BAD(p, "bare LF (line feed without carriage return)");
      else
        p->scan = SC_MID;
      break;
    case SC_BOL_CR:
      if (c != '\n')
        return BAD(p, "bare CR (carriage return without line feed)");
      done = 1;
      break;
    }
    /* Checked per byte so that the first error in the stream wins whatever
     * the split of the input. */
    if (p->skipped + p->hbuf.len + (i + 1 - from) > limit)
      return fail(p, WR_ERR_LIMIT, 431, too_big);
  }
  if (i > from) {
    int rv = wr_buf_append(&p->hbuf, data + from, i - from);
    if (rv)
      return fail(p, rv, rv == WR_ERR_LIMIT ? 431 : 500,
                  rv == WR_ERR_LIMIT ? too_big : "out of memory");
  }
  *pused = i;
  *pdone = done;
  return 0;
}

/* Splits the next CRLF-terminated line off [*pos, end). The scanner already
 * guaranteed that every CR is followed by LF. */
static wr_h1_slice next_line(const char **pos, const char *end) {
  const char *s = *pos;
  const char *cr = memchr(s, '\r', (size_t)(end - s));
  if (!cr)
    cr = end;
  *pos = cr + 2 <= end ? cr + 2 : end;
  return (wr_h1_slice){s, (size_t)(cr - s)};
}

/* Parses one field line into *h. */
static int parse_field(wr_h1_parser *p, wr_h1_slice line, wr_h1_header *h) {
  if (is_ows((uint8_t)line.p[0]))
    return BAD(p, "obs-fold (a header line starting with whitespace) is not allowed");
  size_t i = 0;
  while (i < line.len && line.p[i] != ':') {
    uint8_t c = (uint8_t)line.p[i];
    if (!wr_h1_is_tchar(c)) {
      if (is_ows(c)) {
        size_t j = i;
        while (j < line.len && is_ows((uint8_t)line.p[j]))
          j++;
        if (j < line.len && line.p[j] == ':')
          return BAD(p, "whitespace between header name and colon");
      }
      return BAD(p, "invalid character in header name");
    }
    i++;
  }
  if (i == line.len)
    return BAD(p, "header line without a colon");
  if (i == 0)
    return BAD(p, "empty header name");
  h->name = (wr_h1_slice){line.p, i};
  wr_h1_slice v = trim((wr_h1_slice){line.p + i + 1, line.len - i - 1});
  for (size_t k = 0; k < v.len; k++)
    if (!is_field_char((uint8_t)v.p[k]))
      return BAD(p, "invalid character in header value (control character)");
  h->value = v;
  return 0;
}

/* Parses field lines from pos up to the empty line into p->fields. */
static int parse_fields(wr_h1_parser *p, const char *pos, const char *end, size_t *pn,
                        const char *too_many) {
  size_t n = 0;
  if (!p->fields && !(p->fields = wr_calloc(p->lim.max_headers, sizeof *p->fields)))
    return fail(p, WR_ERR_NOMEM, 500, "out of memory");
  for (;;) {
    wr_h1_slice line = next_line(&pos, end);
    if (line.len == 0)
      break;
    if (n == p->lim.max_headers)
      return fail(p, WR_ERR_LIMIT, 431, too_many);
    int rv = parse_field(p, line, &p->fields[n]);
    if (rv)
      return rv;
    n++;
  }
  *pn = n;
  return 0;
}

/* "HTTP/1.0" or "HTTP/1.1" -> minor version; 505 for another well-formed
 * version, 400 for anything else. */
static int parse_version(wr_h1_parser *p, wr_h1_slice v) {
  if (v.len != 8 || memcmp(v.p, "HTTP/", 5) != 0 || v.p[6] != '.' || v.p[5] < '0' ||
      v.p[5] > '9' || v.p[7] < '0' || v.p[7] > '9')
    return BAD(p, "malformed HTTP version");
  if (v.p[5] != '1' || (v.p[7] != '0' && v.p[7] != '1'))
    return fail(p, WR_ERR_UNSUPPORTED, 505, "unsupported HTTP version (only 1.0 and 1.1)");
  p->head.version_minor = v.p[7] - '0';
  return 0;
}

static wr_h1_method method_id(wr_h1_slice m) {
  static const struct { const char *s; wr_h1_method id; } tab[] = {
      {"GET", WR_H1_M_GET},         {"HEAD", WR_H1_M_HEAD}, {"POST", WR_H1_M_POST},
      {"PUT", WR_H1_M_PUT},         {"CONNECT", WR_H1_M_CONNECT},
      {"OPTIONS", WR_H1_M_OPTIONS},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (wr_h1_slice_eq(m, tab[i].s))
      return tab[i].id;
  return WR_H1_M_OTHER;
}

static int is_scheme(wr_h1_slice t) {
  size_t i = 0;
  if (!t.len || !((t.p[0] | 0x20) >= 'a' && (t.p[0] | 0x20) <= 'z'))
    return 0;
  while (i < t.len && t.p[i] != ':') {
    char c = t.p[i];
    if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '-' || c == '.'))
      return 0;
    i++;
  }
  return i < t.len && i + 3 <= t.len && memcmp(t.p + i, "://", 3) == 0;
}

static int parse_request_line(wr_h1_parser *p, wr_h1_slice line) {
  wr_h1_head *h = &p->head;
  size_t i = 0;
  while (i < line.len && line.p[i] != ' ') {
    if (!wr_h1_is_tchar((uint8_t)line.p[i]))
      return BAD(p, "invalid character in method");
    i++;
  }
  if (i == 0)
    return BAD(p, "request line does not start with a method");
  if (i == line.len)
    return BAD(p, "malformed request line (expected METHOD SP TARGET SP VERSION)");
  h->method = (wr_h1_slice){line.p, i};
  h->method_id = method_id(h->method);
  size_t t0 = ++i;
  while (i < line.len && line.p[i] != ' ') {
    uint8_t c = (uint8_t)line.p[i];
    if (c <= 0x20 || c >= 0x7f)
      return BAD(p, "invalid character in request-target");
    if (c == '#')
      return BAD(p, "fragment in request-target");
    i++;
  }
  if (i == t0)
    return BAD(p, "empty request-target (more than one space after the method?)");
  if (i == line.len)
    return BAD(p, "malformed request line (expected METHOD SP TARGET SP VERSION)");
  h->target = (wr_h1_slice){line.p + t0, i - t0};
  int rv = parse_version(p, (wr_h1_slice){line.p + i + 1, line.len - i - 1});
  if (rv)
    return rv;
  wr_h1_slice t = h->target;
  if (h->method_id == WR_H1_M_CONNECT) {
    if (t.p[0] == '/' || !memchr(t.p, ':', t.len) || memchr(t.p, '/', t.len))
      return BAD(p, "CONNECT needs an authority-form target (host:port)");
  } else if (wr_h1_slice_eq(t, "*")) {
    if (h->method_id != WR_H1_M_OPTIONS)
      return BAD(p, "asterisk-form target is only allowed with OPTIONS");
  } else if (t.p[0] != '/') {
    if (!is_scheme(t))
      return BAD(p, "malformed request-target (not origin-form or absolute-form)");
    /* absolute-form: the authority after "scheme://" routes the request
     * (RFC 9112 3.2.2: Host is then ignored). */
    const char *a = (const char *)memchr(t.p, ':', t.len) + 3, *e = t.p + t.len;
    const char *q = a;
    while (q < e && *q != '/' && *q != '?')
      q++;
    if (memchr(a, '@', (size_t)(q - a)))
      return BAD(p, "userinfo in request-target");
    if (q == a)
      return BAD(p, "absolute-form target without a host");
    p->authority = (wr_h1_slice){a, (size_t)(q - a)};
  }
  if (h->method_id == WR_H1_M_CONNECT)
    p->authority = t;
  return 0;
}

static int parse_status_line(wr_h1_parser *p, wr_h1_slice line) {
  wr_h1_head *h = &p->head;
  if (line.len < 12 || line.p[8] != ' ')
    return BAD(p, "malformed status line (expected VERSION SP CODE SP REASON)");
  int rv = parse_version(p, (wr_h1_slice){line.p, 8});
  if (rv)
    return rv;
  int st = 0;
  for (size_t i = 9; i < 12; i++) {
    if (line.p[i] < '0' || line.p[i] > '9')
      return BAD(p, "malformed status code (expected 3 digits)");
    st = st * 10 + (line.p[i] - '0');
  }
  if (st < 100 || st > 599)
    return BAD(p, "status code out of range (100-599)");
  h->status = st;
  h->reason = (wr_h1_slice){line.p + 12, 0};
  if (line.len > 12) {
    /* RFC 9112 4 wants the SP even with an empty reason; many servers omit
     * it, and no framing depends on it, so only "NNN" alone is tolerated. */
    if (line.p[12] != ' ')
      return BAD(p, "malformed status line (expected SP after the status code)");
    h->reason = (wr_h1_slice){line.p + 13, line.len - 13};
    for (size_t i = 0; i < h->reason.len; i++)
      if (!is_field_char((uint8_t)h->reason.p[i]))
        return BAD(p, "invalid character in reason phrase");
  }
  return 0;
}

/* ---- header semantics ---- */

typedef struct te_state {
  int n_chunked, other, last_chunked, bad, chunked_params;
} te_state;

static int te_elem(wr_h1_parser *p, wr_h1_slice e, void *arg) {
  (void)p;
  te_state *st = arg;
  size_t i = 0;
  while (i < e.len && wr_h1_is_tchar((uint8_t)e.p[i]))
    i++;
  if (i == 0) {
    st->bad = 1;
    return 1;
  }
  wr_h1_slice name = {e.p, i};
  wr_h1_slice rest = trim((wr_h1_slice){e.p + i, e.len - i});
  if (rest.len && rest.p[0] != ';') {
    st->bad = 1;
    return 1;
  }
  if (wr_h1_slice_eq_ci(name, "chunked")) {
    st->n_chunked++;
    st->last_chunked = 1;
    if (rest.len)
      st->chunked_params = 1;
  } else {
    st->other++;
    st->last_chunked = 0;
  }
  return 0;
}

typedef struct conn_state {
  int close, keep_alive, upgrade, bad;
} conn_state;

static int conn_elem(wr_h1_parser *p, wr_h1_slice e, void *arg) {
  (void)p;
  conn_state *st = arg;
  for (size_t i = 0; i < e.len; i++)
    if (!wr_h1_is_tchar((uint8_t)e.p[i])) {
      st->bad = 1;
      return 1;
    }
  if (wr_h1_slice_eq_ci(e, "close"))
    st->close = 1;
  else if (wr_h1_slice_eq_ci(e, "keep-alive"))
    st->keep_alive = 1;
  else if (wr_h1_slice_eq_ci(e, "upgrade"))
    st->upgrade = 1;
  return 0;
}

static int valid_host(wr_h1_slice v) {
  for (size_t i = 0; i < v.len; i++) {
    char c = v.p[i];
    if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ||
          (c && strchr("-._~!$&'()*+,;=:[]%", c))))
      return 0;
  }
  return 1;
}

/* Derives framing, keep-alive and the flags from the parsed fields. */
/* One Content-Length value: a single decimal number (no list, no sign). */
static int content_length(wr_h1_parser *p, wr_h1_slice value, uint64_t *pv) {
  uint64_t v = 0;
  if (!value.len)
    return BAD(p, "invalid Content-Length (not a number)");
  for (size_t k = 0; k < value.len; k++) {
    uint8_t c = (uint8_t)value.p[k];
    if (c < '0' || c > '9')
      return BAD(p, "invalid Content-Length (not a single number)");
    if (v > (UINT64_C(0x7fffffffffffffff) - (c - '0')) / 10)
      return BAD(p, "Content-Length too large");
    v = v * 10 + (c - '0');
  }
  *pv = v;
  return 0;
}

/* A message with Transfer-Encoding: chunked exactly once and last, no
 * Content-Length beside it (request smuggling), not in HTTP/1.0. */
static int transfer_coding_ok(wr_h1_parser *p, const te_state *te, int cl_seen) {
  if (p->head.version_minor == 0)
    return BAD(p, "Transfer-Encoding in an HTTP/1.0 message");
  if (cl_seen)
    return BAD(p, "both Content-Length and Transfer-Encoding (request smuggling)");
  if (te->n_chunked == 0 && te->other == 0)
    return BAD(p, "empty Transfer-Encoding");
  if (te->n_chunked > 1)
    return BAD(p, "chunked is applied more than once");
  if (te->chunked_params)
    return BAD(p, "chunked transfer coding with parameters");
  if (!te->last_chunked)
    return BAD(p, "chunked is not the final transfer coding");
  if (te->other)
    return fail(p, WR_ERR_UNSUPPORTED, 501, "unsupported transfer coding (only chunked)");
  return 0;
}

static int head_semantics(wr_h1_parser *p) {
  wr_h1_head *h = &p->head;
  int is_req = p->kind == WR_H1_REQUEST;
  int cl_seen = 0, te_seen = 0, host_seen = 0, upgrade_hdr = 0, expect_continue = 0;
  uint64_t cl = 0;
  te_state te = {0};
  conn_state conn = {0};
  for (size_t i = 0; i < h->nheaders; i++) {
    const wr_h1_header *f = &h->headers[i];
    if (wr_h1_slice_eq_ci(f->name, "content-length")) {
      uint64_t v = 0;
      int rv = content_length(p, f->value, &v);
      if (rv)
        return rv;
      if (cl_seen)
        return BAD(p, v == cl ? "duplicate Content-Length" : "conflicting Content-Length values");
      cl_seen = 1;
      cl = v;
    } else if (wr_h1_slice_eq_ci(f->name, "transfer-encoding")) {
      te_seen = 1;
      (void)each_elem(p, f->value, te_elem, &te);
      if (te.bad)
        return BAD(p, "malformed Transfer-Encoding");
    } else if (wr_h1_slice_eq_ci(f->name, "connection")) {
      (void)each_elem(p, f->value, conn_elem, &conn);
      if (conn.bad)
        return BAD(p, "malformed Connection header (not a list of tokens)");
    } else if (is_req && wr_h1_slice_eq_ci(f->name, "host")) {
      if (host_seen)
        return BAD(p, "duplicate Host header");
      if (!valid_host(f->value))
        return BAD(p, "invalid character in Host");
      host_seen = 1;
      if (!p->authority.p)
        h->host = f->value;
    } else if (wr_h1_slice_eq_ci(f->name, "upgrade")) {
      upgrade_hdr = 1;
    } else if (is_req && wr_h1_slice_eq_ci(f->name, "expect")) {
      if (wr_h1_slice_eq_ci(f->value, "100-continue"))
        expect_continue = 1;
    }
  }
  if (te_seen) {
    int rv = transfer_coding_ok(p, &te, cl_seen);
    if (rv)
      return rv;
  }
  if (is_req && h->version_minor == 1 && !host_seen)
    return BAD(p, "missing Host header (required in HTTP/1.1)");
  if (is_req && p->authority.p) {
    if (!valid_host(p->authority))
      return BAD(p, "invalid character in the request-target's authority");
    h->host = p->authority;
  }

  int keep = h->version_minor == 1 ? !conn.close : (conn.keep_alive && !conn.close);
  if (conn.close)
    h->flags |= WR_H1_F_CONNECTION_CLOSE;

  if (is_req) {
    if (h->version_minor == 1 && expect_continue)
      h->flags |= WR_H1_F_EXPECT_CONTINUE;
    /* RFC 9110 7.8: Upgrade in an HTTP/1.0 request is ignored. */
    if (h->version_minor == 1 && upgrade_hdr && conn.upgrade)
      h->flags |= WR_H1_F_UPGRADE;
    if (h->method_id == WR_H1_M_CONNECT)
      h->flags |= WR_H1_F_CONNECT;
    if (te_seen)
      h->framing = WR_H1_BODY_CHUNKED;
    else if (cl_seen)
      h->framing = WR_H1_BODY_LENGTH;
    else
      h->framing = WR_H1_BODY_NONE;
  } else {
    int st = h->status;
    if (st == 101)
      h->flags |= WR_H1_F_UPGRADE;
    if (p->req_method == WR_H1_M_CONNECT && st >= 200 && st < 300)
      h->flags |= WR_H1_F_CONNECT;
    if (p->req_method == WR_H1_M_HEAD || st < 200 || st == 204 || st == 304 ||
        (h->flags & WR_H1_F_CONNECT))
      h->framing = WR_H1_BODY_NONE;
    else if (te_seen)
      h->framing = WR_H1_BODY_CHUNKED;
    else if (cl_seen)
      h->framing = WR_H1_BODY_LENGTH;
    else {
      h->framing = WR_H1_BODY_UNTIL_CLOSE;
      keep = 0;
    }
  }
  if (keep)
    h->flags |= WR_H1_F_KEEP_ALIVE;
  if (h->framing == WR_H1_BODY_LENGTH) {
    h->content_length = cl;
    if (p->lim.max_body && cl > p->lim.max_body)
      return fail(p, WR_ERR_LIMIT, 413, "body larger than the configured limit");
  }
  return 0;
}

static int parse_head(wr_h1_parser *p) {
  p->authority = (wr_h1_slice){NULL, 0};
  const char *pos = (const char *)p->hbuf.data;
  const char *end = pos + p->hbuf.len;
  wr_h1_slice first = next_line(&pos, end);
  int rv = p->kind == WR_H1_REQUEST ? parse_request_line(p, first) : parse_status_line(p, first);
  if (rv)
    return rv;
  rv = parse_fields(p, pos, end, &p->head.nheaders, "too many header fields");
  if (rv)
    return rv;
  p->head.headers = p->fields;
  return head_semantics(p);
}

/* ---- chunked bodies ---- */

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Validates chunk extensions: *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ). */
static int check_chunk_ext(wr_h1_parser *p, const char *s, const char *e) {
  while (s < e) {
    while (s < e && is_ows((uint8_t)*s))
      s++;
    if (s == e || *s != ';')
      return BAD(p, "malformed chunk size line");
    s++;
    while (s < e && is_ows((uint8_t)*s))
      s++;
    const char *n0 = s;
    while (s < e && wr_h1_is_tchar((uint8_t)*s))
      s++;
    if (s == n0)
      return BAD(p, "malformed chunk extension (expected a name)");
    const char *t = s;
    while (t < e && is_ows((uint8_t)*t))
      t++;
    if (t < e && *t == '=') {
      s = t + 1;
      while (s < e && is_ows((uint8_t)*s))
        s++;
      if (s < e && *s == '"') {
        s++;
        for (;;) {
          if (s == e)
            return BAD(p, "malformed chunk extension (unterminated quoted string)");
          uint8_t c = (uint8_t)*s++;
          if (c == '"')
            break;
          if (c == '\\') {
            if (s == e || !is_field_char((uint8_t)*s))
              return BAD(p, "malformed chunk extension (bad escape)");
            s++;
          } else if (!is_field_char(c)) {
            return BAD(p, "invalid character in chunk extension");
          }
        }
      } else {
        const char *v0 = s;
        while (s < e && wr_h1_is_tchar((uint8_t)*s))
          s++;
        if (s == v0)
          return BAD(p, "malformed chunk extension (expected a value)");
      }
    }
  }
  return 0;
}

/* Parses the collected chunk-size line (CRLF included). */
static int parse_chunk_line(wr_h1_parser *p, uint64_t *psize) {
  const char *s = (const char *)p->hbuf.data;
  const char *e = s + p->hbuf.len - 2;
  uint64_t v = 0;
  const char *d = s;
  while (d < e && hexval((uint8_t)*d) >= 0) {
    if (v >> 60)
      return BAD(p, "chunk size overflow");
    v = (v << 4) | (uint64_t)hexval((uint8_t)*d);
    d++;
  }
  if (d == s)
    return BAD(p, "malformed chunk size (expected hex digits)");
  int rv = check_chunk_ext(p, d, e);
  if (rv)
    return rv;
  *psize = v;
  return 0;
}

/* Collects one chunk-size line. */
static int scan_chunk_line(wr_h1_parser *p, const uint8_t *data, size_t len, size_t *pused,
                           int *pdone) {
  size_t i = 0;
  int done = 0;
  for (; i < len && !done; i++) {
    uint8_t c = data[i];
    if (p->scan == SC_CR) {
      if (c != '\n')
        return BAD(p, "bare CR in chunk size line");
      done = 1;
    } else if (c == '\r') {
      p->scan = SC_CR;
    } else if (c == '\n') {
      return BAD(p, "bare LF in chunk size line");
    } else if (!is_field_char(c)) {
      return BAD(p, "invalid character in chunk size line");
    }
    if (p->hbuf.len + i + 1 > WR_H1_MAX_CHUNK_LINE)
      return BAD(p, "chunk size line too long (chunk extensions)");
  }
  int rv = wr_buf_append(&p->hbuf, data, i);
  if (rv)
    return fail(p, rv, 500, "out of memory");
  *pused = i;
  *pdone = done;
  return 0;
}

/* ---- the driver ---- */

static void enter_chunk_line(wr_h1_parser *p) {
  p->state = ST_CHUNK_LINE;
  p->scan = SC_MID;
}

/* After WR_H1_EV_DONE: where the connection goes next. */
static void after_message(wr_h1_parser *p) {
  const wr_h1_head *h = &p->head;
  if (h->flags & (WR_H1_F_UPGRADE | WR_H1_F_CONNECT)) {
    p->state = ST_PAUSED;
    return;
  }
  if (p->kind == WR_H1_RESPONSE && h->status < 200) {
    start_head(p); /* interim: the final response follows; keep req_method */
    return;
  }
  if (p->kind == WR_H1_RESPONSE)
    p->req_method = WR_H1_M_OTHER;
  if (!(h->flags & WR_H1_F_KEEP_ALIVE)) {
    p->state = ST_CLOSED;
    return;
  }
  start_head(p);
}

int wr_h1_parse(wr_h1_parser *p, const uint8_t *data, size_t len, size_t *pconsumed,
                wr_h1_event *ev) {
  memset(ev, 0, sizeof *ev);
  *pconsumed = 0;
  if (p->stale) {
    wr_buf_reset(&p->hbuf);
    p->stale = 0;
  }
  for (;;) {
    size_t used = 0;
    int done = 0, rv;
    switch (p->state) {
    case ST_ERROR:
      return p->error;
    case ST_PAUSED:
      return WR_H1_EV_PAUSED;
    case ST_CLOSED:
      if (len)
        return fail(p, WR_ERR_CLOSED, 400, "data after a message that closes the connection");
      return WR_H1_EV_NEED_MORE;
    case ST_DONE_PENDING:
      after_message(p);
      return WR_H1_EV_DONE;
    case ST_HEAD:
      rv = scan_section(p, data, len, &used, &done, p->lim.max_head,
                        "header section too large");
      if (rv)
        return rv;
      *pconsumed += used;
      if (!done)
        return WR_H1_EV_NEED_MORE;
      if ((rv = parse_head(p)))
        return rv;
      ev->head = &p->head;
      p->stale = 1;
      switch (p->head.framing) {
      case WR_H1_BODY_NONE:
        p->state = ST_DONE_PENDING;
        break;
      case WR_H1_BODY_LENGTH:
        p->remaining = p->head.content_length;
        p->state = p->remaining ? ST_BODY_LEN : ST_DONE_PENDING;
        break;
      case WR_H1_BODY_CHUNKED:
        p->body_total = 0;
        p->state = ST_CHUNK_LINE;
        p->scan = SC_MID;
        p->skipped = 0;
        break;
      case WR_H1_BODY_UNTIL_CLOSE:
        p->body_total = 0;
        p->state = ST_BODY_CLOSE;
        break;
      }
      return WR_H1_EV_HEAD;
    case ST_BODY_LEN:
    case ST_CHUNK_DATA: {
      if (!len)
        return WR_H1_EV_NEED_MORE;
      size_t n = p->remaining < len ? (size_t)p->remaining : len;
      p->remaining -= n;
      *pconsumed += n;
      ev->data = data;
      ev->len = n;
      if (!p->remaining)
        p->state = p->state == ST_BODY_LEN ? ST_DONE_PENDING : ST_CHUNK_CR;
      return WR_H1_EV_BODY;
    }
    case ST_BODY_CLOSE:
      if (!len)
        return WR_H1_EV_NEED_MORE;
      if (p->lim.max_body) {
        /* Hand out bytes up to the limit first, so the split of the input
         * does not change what the caller sees before the error. */
        if (p->body_total == p->lim.max_body)
          return fail(p, WR_ERR_LIMIT, 413, "body larger than the configured limit");
        if (len > p->lim.max_body - p->body_total)
          len = (size_t)(p->lim.max_body - p->body_total);
      }
      p->body_total += len;
      *pconsumed += len;
      ev->data = data;
      ev->len = len;
      return WR_H1_EV_BODY;
    case ST_CHUNK_LINE: {
      rv = scan_chunk_line(p, data, len, &used, &done);
      if (rv)
        return rv;
      *pconsumed += used;
      data += used;
      len -= used;
      if (!done)
        return WR_H1_EV_NEED_MORE;
      uint64_t size;
      if ((rv = parse_chunk_line(p, &size)))
        return rv;
      if (p->lim.max_body && (size > p->lim.max_body || p->body_total > p->lim.max_body - size))
        return fail(p, WR_ERR_LIMIT, 413, "body larger than the configured limit");
      p->body_total += size;
      wr_buf_reset(&p->hbuf);
      if (size == 0) {
        p->state = ST_TRAILERS;
        p->scan = SC_BOL;
        p->skipped = 0;
      } else {
        p->remaining = size;
        p->state = ST_CHUNK_DATA;
      }
      continue;
    }
    case ST_CHUNK_CR:
    case ST_CHUNK_LF:
      if (!len)
        return WR_H1_EV_NEED_MORE;
      if (data[0] != (p->state == ST_CHUNK_CR ? '\r' : '\n'))
        return BAD(p, "missing CRLF after chunk data");
      *pconsumed += 1;
      data++;
      len--;
      if (p->state == ST_CHUNK_CR)
        p->state = ST_CHUNK_LF;
      else
        enter_chunk_line(p);
      continue;
    case ST_TRAILERS: {
      rv = scan_section(p, data, len, &used, &done, p->lim.max_head,
                        "trailer section too large");
      if (rv)
        return rv;
      *pconsumed += used;
      if (!done)
        return WR_H1_EV_NEED_MORE;
      const char *pos = (const char *)p->hbuf.data;
      size_t n = 0;
      if ((rv = parse_fields(p, pos, pos + p->hbuf.len, &n, "too many trailer fields")))
        return rv;
      ev->trailers = p->fields;
      ev->ntrailers = n;
      after_message(p);
      p->stale = 1; /* the trailers live in hbuf until the next call */
      return WR_H1_EV_DONE;
    }
    default:
      return fail(p, WR_ERR_MALFORMED, 500, "parser in an impossible state");
    }
  }
}

int wr_h1_parser_finish(wr_h1_parser *p, wr_h1_event *ev) {
  memset(ev, 0, sizeof *ev);
  switch (p->state) {
  case ST_ERROR:
    return p->error;
  case ST_HEAD:
    if (wr_h1_parser_idle(p))
      return WR_H1_EV_NEED_MORE;
    return fail(p, WR_ERR_TRUNCATED, 400, "connection closed inside the header section");
  case ST_BODY_CLOSE:
    p->state = ST_CLOSED;
    return WR_H1_EV_DONE;
  case ST_DONE_PENDING:
    after_message(p);
    return WR_H1_EV_DONE;
  case ST_TRAILERS:
    return fail(p, WR_ERR_TRUNCATED, 400, "connection closed inside the trailer section");
  case ST_PAUSED:
  case ST_CLOSED:
    return WR_H1_EV_NEED_MORE;
  default:
    return fail(p, WR_ERR_TRUNCATED, 400, "connection closed inside the body");
  }
}

/* ---- hop-by-hop fields ---- */

typedef struct named {
  wr_h1_slice name;
  int found;
} named;

static int named_elem(wr_h1_parser *p, wr_h1_slice e, void *arg) {
  (void)p;
  named *n = arg;
  if (e.len == n->name.len) {
    for (size_t i = 0; i < e.len; i++)
      if (lower((uint8_t)e.p[i]) != lower((uint8_t)n->name.p[i]))
        return 0;
    n->found = 1;
    return 1;
  }
  return 0;
}

int wr_h1_is_hop_by_hop(const wr_h1_head *h, wr_h1_slice name) {
  static const char *const fixed[] = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
      "trailer", "upgrade", "proxy-authenticate", "proxy-authorization",
  };
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    if (wr_h1_slice_eq_ci(name, fixed[i]))
      return 1;
  if (!h)
    return 0;
  /* RFC 9110 7.6.1: Connection lists further fields for this hop only. */
  named n = {name, 0};
  for (size_t i = 0; i < h->nheaders && !n.found; i++)
    if (wr_h1_slice_eq_ci(h->headers[i].name, "connection"))
      (void)each_elem(NULL, h->headers[i].value, named_elem, &n);
  return n.found;
}

/* ---- serializer ---- */

const char *wr_h1_status_text(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 417: return "Expectation Failed";
  case 421: return "Misdirected Request";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "";
  }
}

static int is_token(wr_h1_slice s) {
  if (!s.len || !s.p)
    return 0;
  for (size_t i = 0; i < s.len; i++)
    if (!wr_h1_is_tchar((uint8_t)s.p[i]))
      return 0;
  return 1;
}

static int is_value(wr_h1_slice s) {
  for (size_t i = 0; i < s.len; i++)
    if (!is_field_char((uint8_t)s.p[i]))
      return 0;
  return 1;
}

static int check_fields(const wr_h1_header *h, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_token(h[i].name) || !is_value(h[i].value))
      return WR_ERR_INVAL;
  return 0;
}

/* Appends the fields and the empty line; rolls out back on error. */
static int put_fields(wr_buf *out, size_t mark, const wr_h1_header *h, size_t n) {
  int rv = 0;
  for (size_t i = 0; i < n && !rv; i++) {
    rv = wr_buf_append(out, h[i].name.p, h[i].name.len);
    if (!rv)
      rv = wr_buf_append(out, ": ", 2);
    if (!rv && h[i].value.len)
      rv = wr_buf_append(out, h[i].value.p, h[i].value.len);
    if (!rv)
      rv = wr_buf_append(out, "\r\n", 2);
  }
  if (!rv)
    rv = wr_buf_append(out, "\r\n", 2);
  if (rv)
    out->len = mark;
  return rv;
}

int wr_h1_write_request_head(wr_buf *out, wr_h1_slice method, wr_h1_slice target,
                             int version_minor, const wr_h1_header *h, size_t n) {
  if (!is_token(method) || !target.len || (version_minor != 0 && version_minor != 1) ||
      check_fields(h, n))
    return WR_ERR_INVAL;
  for (size_t i = 0; i < target.len; i++)
    if ((uint8_t)target.p[i] <= 0x20 || (uint8_t)target.p[i] >= 0x7f)
      return WR_ERR_INVAL;
  size_t mark = out->len;
  int rv = wr_buf_append(out, method.p, method.len);
  if (!rv)
    rv = wr_buf_append(out, " ", 1);
  if (!rv)
    rv = wr_buf_append(out, target.p, target.len);
  if (!rv)
    rv = wr_buf_printf(out, " HTTP/1.%d\r\n", version_minor);
  if (rv) {
    out->len = mark;
    return rv;
  }
  return put_fields(out, mark, h, n);
}

int wr_h1_write_response_head(wr_buf *out, int version_minor, int status, wr_h1_slice reason,
                              const wr_h1_header *h, size_t n) {
  if (status < 100 || status > 599 || (version_minor != 0 && version_minor != 1) ||
      check_fields(h, n) || (reason.p && !is_value(reason)))
    return WR_ERR_INVAL;
  if (!reason.p || !reason.len) {
    reason.p = wr_h1_status_text(status);
    reason.len = strlen(reason.p);
  }
  size_t mark = out->len;
  int rv = wr_buf_printf(out, "HTTP/1.%d %03d ", version_minor, status);
  if (!rv && reason.len)
    rv = wr_buf_append(out, reason.p, reason.len);
  if (!rv)
    rv = wr_buf_append(out, "\r\n", 2);
  if (rv) {
    out->len = mark;
    return rv;
  }
  return put_fields(out, mark, h, n);
}

int wr_h1_chunk_start(wr_buf *out, uint64_t n) {
  if (n == 0)
    return WR_ERR_INVAL;
  return wr_buf_printf(out, "%llx\r\n", (unsigned long long)n);
}

int wr_h1_chunk_end(wr_buf *out) { return wr_buf_append(out, "\r\n", 2); }

int wr_h1_write_chunk(wr_buf *out, const void *data, size_t n) {
  if (n == 0)
    return WR_ERR_INVAL;
  size_t mark = out->len;
  int rv = wr_h1_chunk_start(out, n);
  if (!rv)
    rv = wr_buf_append(out, data, n);
  if (!rv)
    rv = wr_h1_chunk_end(out);
  if (rv)
    out->len = mark;
  return rv;
}

int wr_h1_write_last_chunk(wr_buf *out, const wr_h1_header *trailers, size_t n) {
  if (check_fields(trailers, n))
    return WR_ERR_INVAL;
  size_t mark = out->len;
  int rv = wr_buf_append(out, "0\r\n", 3);
  if (rv)
    return rv;
  return put_fields(out, mark, trailers, n);
}
