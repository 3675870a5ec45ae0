#include "proto/tunnel/tunnel.h"

#include <string.h>

#include <nettle/hmac.h>

#include "base/mem.h"
#include "proto/multiformats/varint.h"

const char *wr_tunnel_msg_name(uint64_t type) {
  switch (type) {
  case WR_TUNNEL_REGISTER: return "REGISTER";
  case WR_TUNNEL_REGISTERED: return "REGISTERED";
  case WR_TUNNEL_REGISTER_ERROR: return "REGISTER_ERROR";
  case WR_TUNNEL_UNREGISTER: return "UNREGISTER";
  case WR_TUNNEL_PING: return "PING";
  case WR_TUNNEL_PONG: return "PONG";
  case WR_TUNNEL_CLEANUP: return "CLEANUP";
  case WR_TUNNEL_CLEANED: return "CLEANED";
  case WR_TUNNEL_REQUEST: return "REQUEST";
  case WR_TUNNEL_RESPONSE: return "RESPONSE";
  case WR_TUNNEL_STREAM_ERROR: return "STREAM_ERROR";
  default: return "unknown";
  }
}

/* ---- field rules, shared by encoder and decoder ---- */

static int is_token(wr_h1_slice s) {
  for (size_t i = 0; i < s.len; i++)
    if (!wr_h1_is_tchar((uint8_t)s.p[i]))
      return 0;
  return s.len > 0;
}

/* Text for logs and header values: no control characters but HTAB. */
static int is_text(wr_h1_slice s) {
  for (size_t i = 0; i < s.len; i++) {
    uint8_t c = (uint8_t)s.p[i];
    if (c != '\t' && (c < 0x20 || c == 0x7f))
      return 0;
  }
  return 1;
}

static int is_vchars(wr_h1_slice s) {
  for (size_t i = 0; i < s.len; i++)
    if ((uint8_t)s.p[i] <= 0x20 || (uint8_t)s.p[i] >= 0x7f)
      return 0;
  return 1;
}

static int is_dest(wr_h1_slice s) {
  if (!s.len)
    return 0;
  for (size_t i = 0; i < s.len; i++) {
    char c = s.p[i];
    if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ||
          (c && strchr("-._~!$&'()*+,;=:[]%", c))))
      return 0;
  }
  return 1;
}

static int is_known_type(uint64_t t) {
  return (t >= WR_TUNNEL_REGISTER && t <= WR_TUNNEL_CLEANED) ||
         (t >= WR_TUNNEL_REQUEST && t <= WR_TUNNEL_STREAM_ERROR);
}

/* Checks a message's fields; returns NULL or the static reason it is invalid. */
static const char *check_headers(const wr_h1_header *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!is_token(h[i].name))
      return "header name is not a token";
    if (h[i].name.len > WR_TUNNEL_MAX_HEADER_NAME)
      return "header name too long";
    if (!is_text(h[i].value))
      return "control character in header value";
  }
  return NULL;
}

static const char *check_msg(const wr_tunnel_msg *m) {
  switch (m->type) {
  case WR_TUNNEL_REGISTER:
    if (m->u.reg.conn_index > 0xffff)
      return "connection index out of range (0-65535)";
    if (m->u.reg.version.len > WR_TUNNEL_MAX_SHORT_STRING)
      return "connector version too long";
    if (!is_text(m->u.reg.version))
      return "control character in connector version";
    return NULL;
  case WR_TUNNEL_REGISTERED:
    if (m->u.registered.location.len > WR_TUNNEL_MAX_SHORT_STRING)
      return "location too long";
    if (!is_text(m->u.registered.location))
      return "control character in location";
    return NULL;
  case WR_TUNNEL_REGISTER_ERROR:
  case WR_TUNNEL_UNREGISTER:
  case WR_TUNNEL_STREAM_ERROR:
    if (m->u.error.reason.len > WR_TUNNEL_MAX_REASON)
      return "reason too long";
    if (!is_text(m->u.error.reason))
      return "control character in reason";
    return NULL;
  case WR_TUNNEL_PING:
  case WR_TUNNEL_PONG:
  case WR_TUNNEL_CLEANUP:
  case WR_TUNNEL_CLEANED:
    return NULL;
  case WR_TUNNEL_REQUEST: {
    const wr_tunnel_request *r = &m->u.request;
    if (r->kind < WR_TUNNEL_KIND_HTTP || r->kind > WR_TUNNEL_KIND_TCP)
      return "unknown request kind";
    if (r->dest.len > WR_TUNNEL_MAX_DEST)
      return "destination too long";
    if (!is_dest(r->dest))
      return "invalid destination (expected host[:port])";
    if (r->kind == WR_TUNNEL_KIND_TCP) {
      if (r->method.len || r->path.len)
        return "tcp request with a method or path";
    } else {
      if (r->method.len > WR_TUNNEL_MAX_SHORT_STRING || !is_token(r->method))
        return "invalid method";
      if (!r->path.len || !is_vchars(r->path))
        return "invalid path";
    }
    return check_headers(r->headers, r->nheaders);
  }
  case WR_TUNNEL_RESPONSE:
    if (m->u.response.status < 100 || m->u.response.status > 599)
      return "status out of range (100-599)";
    return check_headers(m->u.response.headers, m->u.response.nheaders);
  default:
    return "unknown message type";
  }
}

/* ---- encoder ---- */

static int put_str(wr_buf *b, wr_h1_slice s) {
  int rv = wr_varint_put(b, s.len);
  if (!rv && s.len)
    rv = wr_buf_append(b, s.p, s.len);
  return rv;
}

static int put_headers(wr_buf *b, const wr_h1_header *h, size_t n) {
  int rv = wr_varint_put(b, n);
  for (size_t i = 0; i < n && !rv; i++) {
    rv = put_str(b, h[i].name);
    if (!rv)
      rv = put_str(b, h[i].value);
  }
  return rv;
}

static int put_payload(wr_buf *b, const wr_tunnel_msg *m) {
  int rv = 0;
  switch (m->type) {
  case WR_TUNNEL_REGISTER: {
    const wr_tunnel_register *r = &m->u.reg;
    if (!(rv = wr_buf_append(b, r->tunnel_id, WR_TUNNEL_ID_LEN)) &&
        !(rv = wr_buf_append(b, r->connector_id, WR_TUNNEL_ID_LEN)) &&
        !(rv = wr_varint_put(b, r->conn_index)) && !(rv = wr_varint_put(b, r->features)) &&
        !(rv = put_str(b, r->version)))
      rv = wr_buf_append(b, r->proof, WR_TUNNEL_PROOF_LEN);
    return rv;
  }
  case WR_TUNNEL_REGISTERED:
    if (!(rv = wr_buf_append(b, m->u.registered.connection_id, WR_TUNNEL_ID_LEN)) &&
        !(rv = put_str(b, m->u.registered.location)))
      rv = wr_varint_put(b, m->u.registered.features);
    return rv;
  case WR_TUNNEL_REGISTER_ERROR:
  case WR_TUNNEL_UNREGISTER:
  case WR_TUNNEL_STREAM_ERROR:
    if (!(rv = wr_varint_put(b, m->u.error.code)))
      rv = put_str(b, m->u.error.reason);
    return rv;
  case WR_TUNNEL_PING:
  case WR_TUNNEL_PONG:
    return wr_buf_append(b, m->u.ping.data, sizeof m->u.ping.data);
  case WR_TUNNEL_CLEANUP:
    if (!(rv = wr_buf_append(b, m->u.cleanup.tunnel_id, WR_TUNNEL_ID_LEN)) &&
        !(rv = wr_buf_append(b, m->u.cleanup.connector_id, WR_TUNNEL_ID_LEN)))
      rv = wr_buf_append(b, m->u.cleanup.proof, WR_TUNNEL_PROOF_LEN);
    return rv;
  case WR_TUNNEL_CLEANED:
    return wr_varint_put(b, m->u.cleaned.closed);
  case WR_TUNNEL_REQUEST: {
    const wr_tunnel_request *r = &m->u.request;
    if (!(rv = wr_varint_put(b, r->kind)) && !(rv = wr_varint_put(b, r->flags)) &&
        !(rv = put_str(b, r->dest)) && !(rv = put_str(b, r->method)) &&
        !(rv = put_str(b, r->path)))
      rv = put_headers(b, r->headers, r->nheaders);
    return rv;
  }
  case WR_TUNNEL_RESPONSE:
    if (!(rv = wr_varint_put(b, m->u.response.status)) &&
        !(rv = wr_varint_put(b, m->u.response.flags)))
      rv = put_headers(b, m->u.response.headers, m->u.response.nheaders);
    return rv;
  default:
    return WR_ERR_INVAL;
  }
}

int wr_tunnel_encode(wr_buf *out, const wr_tunnel_msg *m) {
  if (check_msg(m))
    return WR_ERR_INVAL;
  if ((m->type == WR_TUNNEL_REQUEST && m->u.request.nheaders > WR_TUNNEL_DEFAULT_MAX_HEADERS) ||
      (m->type == WR_TUNNEL_RESPONSE && m->u.response.nheaders > WR_TUNNEL_DEFAULT_MAX_HEADERS))
    return WR_ERR_LIMIT;
  /* The payload is written first, then moved up behind its header: its
   * length is only known once written. */
  size_t mark = out->len;
  int rv = put_payload(out, m);
  if (rv)
    goto fail;
  size_t plen = out->len - mark;
  if (plen > WR_TUNNEL_DEFAULT_MAX_PAYLOAD) {
    rv = WR_ERR_LIMIT;
    goto fail;
  }
  uint8_t hdr[2 * WR_VARINT_MAX_BYTES];
  int n1 = wr_varint_encode(hdr, m->type);
  int n2 = wr_varint_encode(hdr + n1, plen);
  size_t hlen = (size_t)(n1 + n2);
  if ((rv = wr_buf_reserve(out, hlen)))
    goto fail;
  memmove(out->data + mark + hlen, out->data + mark, plen);
  memcpy(out->data + mark, hdr, hlen);
  out->len += hlen;
  return 0;
fail:
  out->len = mark;
  return rv;
}

/* ---- parser ---- */

typedef struct rd {
  wr_cursor c;
  const char *why;
} rd;

static int get_varint(rd *r, uint64_t *pv) {
  int rv = wr_varint_decode(&r->c, pv, &r->why);
  if (rv == WR_ERR_TRUNCATED) {
    r->why = "a field runs past the end of the message";
    return WR_ERR_MALFORMED;
  }
  return rv;
}

static int get_bytes(rd *r, void *out, size_t n) {
  if (wr_cursor_left(&r->c) < n) {
    r->why = "a field runs past the end of the message";
    return WR_ERR_MALFORMED;
  }
  memcpy(out, r->c.pos, n);
  r->c.pos += n;
  return 0;
}

static int get_str(rd *r, wr_h1_slice *s, size_t max, const char *too_long) {
  uint64_t n;
  int rv = get_varint(r, &n);
  if (rv)
    return rv;
  if (n > max) {
    r->why = too_long;
    return WR_ERR_MALFORMED;
  }
  if (wr_cursor_left(&r->c) < n) {
    r->why = "a field runs past the end of the message";
    return WR_ERR_MALFORMED;
  }
  s->p = (const char *)r->c.pos;
  s->len = (size_t)n;
  r->c.pos += n;
  return 0;
}

static int get_headers(rd *r, const wr_tunnel_limits *lim, wr_h1_header *hdrs,
                       const wr_h1_header **ph, size_t *pn, size_t max_value) {
  uint64_t n;
  int rv = get_varint(r, &n);
  if (rv)
    return rv;
  if (n > lim->max_headers) {
    r->why = "too many headers";
    return WR_ERR_LIMIT;
  }
  for (size_t i = 0; i < n; i++) {
    if ((rv = get_str(r, &hdrs[i].name, WR_TUNNEL_MAX_HEADER_NAME, "header name too long")) ||
        (rv = get_str(r, &hdrs[i].value, max_value, "header value too long")))
      return rv;
  }
  *ph = hdrs;
  *pn = (size_t)n;
  return 0;
}

static int parse_payload(rd *r, const wr_tunnel_limits *lim, wr_h1_header *hdrs,
                         wr_tunnel_msg *m, size_t plen) {
  int rv = 0;
  uint64_t v;
  switch (m->type) {
  case WR_TUNNEL_REGISTER: {
    wr_tunnel_register *g = &m->u.reg;
    if ((rv = get_bytes(r, g->tunnel_id, WR_TUNNEL_ID_LEN)) ||
        (rv = get_bytes(r, g->connector_id, WR_TUNNEL_ID_LEN)) || (rv = get_varint(r, &v)))
      return rv;
    if (v > 0xffff) {
      r->why = "connection index out of range (0-65535)";
      return WR_ERR_MALFORMED;
    }
    g->conn_index = (uint32_t)v;
    if ((rv = get_varint(r, &g->features)) ||
        (rv = get_str(r, &g->version, WR_TUNNEL_MAX_SHORT_STRING, "connector version too long")))
      return rv;
    return get_bytes(r, g->proof, WR_TUNNEL_PROOF_LEN);
  }
  case WR_TUNNEL_REGISTERED:
    if ((rv = get_bytes(r, m->u.registered.connection_id, WR_TUNNEL_ID_LEN)) ||
        (rv = get_str(r, &m->u.registered.location, WR_TUNNEL_MAX_SHORT_STRING,
                      "location too long")))
      return rv;
    return get_varint(r, &m->u.registered.features);
  case WR_TUNNEL_REGISTER_ERROR:
  case WR_TUNNEL_UNREGISTER:
  case WR_TUNNEL_STREAM_ERROR:
    if ((rv = get_varint(r, &m->u.error.code)))
      return rv;
    return get_str(r, &m->u.error.reason, WR_TUNNEL_MAX_REASON, "reason too long");
  case WR_TUNNEL_PING:
  case WR_TUNNEL_PONG:
    return get_bytes(r, m->u.ping.data, sizeof m->u.ping.data);
  case WR_TUNNEL_CLEANUP:
    if ((rv = get_bytes(r, m->u.cleanup.tunnel_id, WR_TUNNEL_ID_LEN)) ||
        (rv = get_bytes(r, m->u.cleanup.connector_id, WR_TUNNEL_ID_LEN)))
      return rv;
    return get_bytes(r, m->u.cleanup.proof, WR_TUNNEL_PROOF_LEN);
  case WR_TUNNEL_CLEANED:
    return get_varint(r, &m->u.cleaned.closed);
  case WR_TUNNEL_REQUEST: {
    wr_tunnel_request *q = &m->u.request;
    if ((rv = get_varint(r, &q->kind)) || (rv = get_varint(r, &q->flags)) ||
        (rv = get_str(r, &q->dest, WR_TUNNEL_MAX_DEST, "destination too long")) ||
        (rv = get_str(r, &q->method, WR_TUNNEL_MAX_SHORT_STRING, "method too long")) ||
        (rv = get_str(r, &q->path, plen, "path too long")))
      return rv;
    return get_headers(r, lim, hdrs, &q->headers, &q->nheaders, plen);
  }
  case WR_TUNNEL_RESPONSE:
    if ((rv = get_varint(r, &m->u.response.status)) ||
        (rv = get_varint(r, &m->u.response.flags)))
      return rv;
    return get_headers(r, lim, hdrs, &m->u.response.headers, &m->u.response.nheaders, plen);
  default:
    r->why = "unknown message type";
    return WR_ERR_MALFORMED;
  }
}

static void resolve_limits(wr_tunnel_limits *out, const wr_tunnel_limits *in) {
  out->max_payload = in && in->max_payload ? in->max_payload : WR_TUNNEL_DEFAULT_MAX_PAYLOAD;
  out->max_headers = in && in->max_headers ? in->max_headers : WR_TUNNEL_DEFAULT_MAX_HEADERS;
}

/* Reads type and length. 0, WR_ERR_TRUNCATED, or an error with *preason. */
static int parse_header(const uint8_t *p, size_t n, const wr_tunnel_limits *lim,
                        uint64_t *ptype, uint64_t *plen, size_t *phlen, const char **preason) {
  wr_cursor c;
  wr_cursor_init(&c, p, n);
  int rv = wr_varint_decode(&c, ptype, preason);
  if (rv)
    return rv;
  if (!is_known_type(*ptype)) {
    *preason = "unknown message type";
    return WR_ERR_MALFORMED;
  }
  if ((rv = wr_varint_decode(&c, plen, preason)))
    return rv;
  if (*plen > lim->max_payload) {
    *preason = "message larger than the limit";
    return WR_ERR_LIMIT;
  }
  *phlen = n - wr_cursor_left(&c);
  return 0;
}

int wr_tunnel_parse(const uint8_t *p, size_t n, const wr_tunnel_limits *limp,
                    wr_h1_header *hdrs, wr_tunnel_msg *m, size_t *pconsumed,
                    const char **preason) {
  wr_tunnel_limits lim;
  resolve_limits(&lim, limp);
  const char *why = NULL;
  uint64_t type, plen;
  size_t hlen;
  int rv = parse_header(p, n, &lim, &type, &plen, &hlen, &why);
  if (rv == WR_ERR_TRUNCATED)
    return rv;
  if (!rv && n - hlen < plen)
    return WR_ERR_TRUNCATED;
  if (!rv) {
    memset(m, 0, sizeof *m);
    m->type = type;
    rd r = {.why = NULL};
    wr_cursor_init(&r.c, p + hlen, (size_t)plen);
    rv = parse_payload(&r, &lim, hdrs, m, (size_t)plen);
    why = r.why;
    if (!rv && wr_cursor_left(&r.c)) {
      rv = WR_ERR_MALFORMED;
      why = "trailing bytes after the last field of the message";
    }
    if (!rv && (why = check_msg(m)))
      rv = WR_ERR_MALFORMED;
  }
  if (rv) {
    if (preason)
      *preason = why ? why : "malformed message";
    return rv;
  }
  *pconsumed = hlen + (size_t)plen;
  return 0;
}

/* ---- incremental decoder ---- */

int wr_tunnel_decoder_init(wr_tunnel_decoder *d, const wr_tunnel_limits *lim) {
  memset(d, 0, sizeof *d);
  resolve_limits(&d->lim, lim);
  wr_buf_init(&d->buf, d->lim.max_payload + 2 * WR_VARINT_MAX_BYTES);
  /* Filled in order as a head is decoded: no need to zero 8 KiB per stream. */
  d->hdrs = wr_malloc((d->lim.max_headers ? d->lim.max_headers : 1) * sizeof *d->hdrs);
  return d->hdrs ? 0 : WR_ERR_NOMEM;
}

void wr_tunnel_decoder_free(wr_tunnel_decoder *d) {
  wr_buf_free(&d->buf);
  wr_free(d->hdrs);
  d->hdrs = NULL;
}

int wr_tunnel_decoder_idle(const wr_tunnel_decoder *d) {
  return d->error == 0 && (d->stale || d->buf.len == 0);
}

const char *wr_tunnel_decoder_reason(const wr_tunnel_decoder *d) {
  return d->reason ? d->reason : "no error";
}

static int dfail(wr_tunnel_decoder *d, int err, const char *why) {
  d->error = err;
  d->reason = why;
  return err;
}

int wr_tunnel_decode(wr_tunnel_decoder *d, const uint8_t *data, size_t len, size_t *pconsumed,
                     wr_tunnel_msg *m) {
  *pconsumed = 0;
  if (d->error)
    return d->error;
  if (d->stale) {
    wr_buf_reset(&d->buf);
    d->stale = 0;
  }
  const char *why = NULL;
  int rv;
  if (d->buf.len == 0) {
    /* Fast path: a whole message in data is parsed where it lies. */
    size_t used;
    rv = wr_tunnel_parse(data, len, &d->lim, d->hdrs, m, &used, &why);
    if (rv == 0) {
      *pconsumed = used;
      return 1;
    }
    if (rv != WR_ERR_TRUNCATED)
      return dfail(d, rv, why);
    /* Everything given belongs to this one message (it is longer). */
    if ((rv = wr_buf_append(&d->buf, data, len)))
      return dfail(d, rv, "out of memory");
    *pconsumed = len;
    return 0;
  }
  /* Complete the header byte by byte (it is at most 18 bytes), so nothing
   * past a short message is taken. */
  uint64_t type, plen;
  size_t hlen, used = 0;
  for (;;) {
    rv = parse_header(d->buf.data, d->buf.len, &d->lim, &type, &plen, &hlen, &why);
    if (rv != WR_ERR_TRUNCATED)
      break;
    if (used == len) {
      *pconsumed = used;
      return 0;
    }
    if ((rv = wr_buf_append(&d->buf, data + used, 1)))
      return dfail(d, rv, "out of memory");
    used++;
  }
  if (rv)
    return dfail(d, rv, why);
  size_t total = hlen + (size_t)plen;
  size_t take = total - d->buf.len;
  if (take > len - used)
    take = len - used;
  if ((rv = wr_buf_append(&d->buf, data + used, take)))
    return dfail(d, rv, "out of memory");
  used += take;
  *pconsumed = used;
  if (d->buf.len < total)
    return 0;
  size_t got;
  rv = wr_tunnel_parse(d->buf.data, d->buf.len, &d->lim, d->hdrs, m, &got, &why);
  if (rv)
    return dfail(d, rv, why);
  d->stale = 1;
  return 1;
}

/* ---- message order ---- */

enum { SEQ_START = 0, SEQ_OPEN, SEQ_DONE };

void wr_tunnel_seq_init(wr_tunnel_seq *s, wr_tunnel_stream_role role) {
  s->role = role;
  s->state = SEQ_START;
}

static int seq_bad(const char **preason, const char *why) {
  if (preason)
    *preason = why;
  return WR_ERR_MALFORMED;
}

int wr_tunnel_seq_next(wr_tunnel_seq *s, const wr_tunnel_msg *m, const char **preason) {
  uint64_t t = m->type;
  if (s->state == SEQ_DONE)
    return seq_bad(preason, "message after the end of the stream's messages");
  int control_msg = t == WR_TUNNEL_PING || t == WR_TUNNEL_PONG || t == WR_TUNNEL_UNREGISTER;
  switch (s->role) {
  case WR_TUNNEL_CONTROL_AT_EDGE:
    if (s->state == SEQ_START) {
      if (t == WR_TUNNEL_CLEANUP) {
        s->state = SEQ_DONE; /* the edge answers and closes */
        return 1;
      }
      if (t != WR_TUNNEL_REGISTER)
        return seq_bad(preason,
                       "the first message on the control stream must be REGISTER or CLEANUP");
      s->state = SEQ_OPEN;
      return 0;
    }
    if (t == WR_TUNNEL_REGISTER)
      return seq_bad(preason, "a second REGISTER on the control stream");
    if (t == WR_TUNNEL_CLEANUP)
      return seq_bad(preason, "CLEANUP after REGISTER (it is a connection's first message)");
    if (!control_msg)
      return seq_bad(preason, "unexpected message type on the control stream");
    return 0;
  case WR_TUNNEL_CONTROL_AT_CONNECTOR:
    if (s->state == SEQ_START) {
      if (t == WR_TUNNEL_REGISTER_ERROR || t == WR_TUNNEL_CLEANED) {
        s->state = SEQ_DONE;
        return 1;
      }
      if (t != WR_TUNNEL_REGISTERED)
        return seq_bad(preason,
                       "the edge's first message must be REGISTERED, REGISTER_ERROR or CLEANED");
      s->state = SEQ_OPEN;
      return 0;
    }
    if (!control_msg)
      return seq_bad(preason, "unexpected message type on the control stream");
    return 0;
  case WR_TUNNEL_REQUEST_AT_CONNECTOR:
    if (t != WR_TUNNEL_REQUEST)
      return seq_bad(preason, "the first message on a request stream must be REQUEST");
    s->state = SEQ_DONE;
    return 1;
  case WR_TUNNEL_REQUEST_AT_EDGE:
    if (t == WR_TUNNEL_STREAM_ERROR ||
        (t == WR_TUNNEL_RESPONSE && (m->u.response.status >= 200 || m->u.response.status == 101))) {
      s->state = SEQ_DONE;
      return 1;
    }
    if (t != WR_TUNNEL_RESPONSE)
      return seq_bad(preason, "a request stream is answered by RESPONSE or STREAM_ERROR");
    s->state = SEQ_OPEN; /* an interim 1xx: more follow */
    return 0;
  }
  return seq_bad(preason, "unknown stream role");
}

/* ---- registration proof ---- */

int wr_tunnel_ct_equal(const void *a, const void *b, size_t n) {
  const volatile uint8_t *x = a, *y = b;
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= (uint8_t)(x[i] ^ y[i]);
  return acc == 0;
}

static const char proof_context[] = "warren-tunnel/1 register";
static const char cleanup_context[] = "warren-tunnel/1 cleanup";

/* HMAC-SHA256(secret, context | exporter | tunnel_id | connector_id | tail). */
static int session_proof(uint8_t out[WR_TUNNEL_PROOF_LEN], const char *context,
                         const uint8_t *secret, size_t secret_len,
                         const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN],
                         const uint8_t tunnel_id[WR_TUNNEL_ID_LEN],
                         const uint8_t connector_id[WR_TUNNEL_ID_LEN], const uint8_t *tail,
                         size_t taillen) {
  if (!secret || secret_len < WR_TUNNEL_MIN_SECRET)
    return WR_ERR_INVAL;
  struct hmac_sha256_ctx ctx;
  hmac_sha256_set_key(&ctx, secret_len, secret);
  hmac_sha256_update(&ctx, strlen(context), (const uint8_t *)context);
  hmac_sha256_update(&ctx, WR_TUNNEL_EXPORTER_LEN, exporter);
  hmac_sha256_update(&ctx, WR_TUNNEL_ID_LEN, tunnel_id);
  hmac_sha256_update(&ctx, WR_TUNNEL_ID_LEN, connector_id);
  if (taillen)
    hmac_sha256_update(&ctx, taillen, tail);
  hmac_sha256_digest(&ctx, WR_TUNNEL_PROOF_LEN, out);
  /* The keyed state would let anyone holding this memory forge proofs. */
  memset(&ctx, 0, sizeof ctx);
  __asm__ __volatile__("" : : "r"(&ctx) : "memory");
  return 0;
}

int wr_tunnel_proof(uint8_t out[WR_TUNNEL_PROOF_LEN], const uint8_t *secret, size_t secret_len,
                    const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN],
                    const uint8_t tunnel_id[WR_TUNNEL_ID_LEN],
                    const uint8_t connector_id[WR_TUNNEL_ID_LEN], uint32_t conn_index) {
  uint8_t idx[4] = {(uint8_t)(conn_index >> 24), (uint8_t)(conn_index >> 16),
                    (uint8_t)(conn_index >> 8), (uint8_t)conn_index};
  return session_proof(out, proof_context, secret, secret_len, exporter, tunnel_id, connector_id,
                       idx, sizeof idx);
}

int wr_tunnel_cleanup_proof(uint8_t out[WR_TUNNEL_PROOF_LEN], const uint8_t *secret,
                            size_t secret_len, const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN],
                            const uint8_t tunnel_id[WR_TUNNEL_ID_LEN],
                            const uint8_t connector_id[WR_TUNNEL_ID_LEN]) {
  return session_proof(out, cleanup_context, secret, secret_len, exporter, tunnel_id,
                       connector_id, NULL, 0);
}

int wr_tunnel_cleanup_proof_verify(const wr_tunnel_cleanup *cl, const uint8_t *secret,
                                   size_t secret_len,
                                   const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN]) {
  uint8_t want[WR_TUNNEL_PROOF_LEN];
  int rv = wr_tunnel_cleanup_proof(want, secret, secret_len, exporter, cl->tunnel_id,
                                   cl->connector_id);
  if (rv)
    return rv;
  return wr_tunnel_ct_equal(want, cl->proof, sizeof want) ? 0 : WR_ERR_DENIED;
}

int wr_tunnel_proof_verify(const wr_tunnel_register *reg, const uint8_t *secret,
                           size_t secret_len, const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN]) {
  uint8_t want[WR_TUNNEL_PROOF_LEN];
  int rv = wr_tunnel_proof(want, secret, secret_len, exporter, reg->tunnel_id, reg->connector_id,
                           reg->conn_index);
  if (rv)
    return rv;
  return wr_tunnel_ct_equal(want, reg->proof, sizeof want) ? 0 : WR_ERR_DENIED;
}
