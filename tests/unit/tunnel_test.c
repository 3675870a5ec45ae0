#include "proto/tunnel/tunnel.h"

#include <stdlib.h>

#include "base/mem.h"
#include "test.h"

#define S(lit) ((wr_h1_slice){(lit), sizeof(lit) - 1})

static int slice_eq(wr_h1_slice a, wr_h1_slice b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int headers_eq(const wr_h1_header *a, size_t na, const wr_h1_header *b, size_t nb) {
  if (na != nb)
    return 0;
  for (size_t i = 0; i < na; i++)
    if (!slice_eq(a[i].name, b[i].name) || !slice_eq(a[i].value, b[i].value))
      return 0;
  return 1;
}

/* Field-by-field equality of two messages. */
static int msg_eq(const wr_tunnel_msg *a, const wr_tunnel_msg *b) {
  if (a->type != b->type)
    return 0;
  switch (a->type) {
  case WR_TUNNEL_REGISTER:
    return !memcmp(a->u.reg.tunnel_id, b->u.reg.tunnel_id, 16) &&
           !memcmp(a->u.reg.connector_id, b->u.reg.connector_id, 16) &&
           a->u.reg.conn_index == b->u.reg.conn_index && a->u.reg.features == b->u.reg.features &&
           slice_eq(a->u.reg.version, b->u.reg.version) &&
           !memcmp(a->u.reg.proof, b->u.reg.proof, 32);
  case WR_TUNNEL_REGISTERED:
    return !memcmp(a->u.registered.connection_id, b->u.registered.connection_id, 16) &&
           slice_eq(a->u.registered.location, b->u.registered.location) &&
           a->u.registered.features == b->u.registered.features;
  case WR_TUNNEL_REGISTER_ERROR:
  case WR_TUNNEL_UNREGISTER:
  case WR_TUNNEL_STREAM_ERROR:
    return a->u.error.code == b->u.error.code && slice_eq(a->u.error.reason, b->u.error.reason);
  case WR_TUNNEL_PING:
  case WR_TUNNEL_PONG:
    return !memcmp(a->u.ping.data, b->u.ping.data, 8);
  case WR_TUNNEL_CLEANUP:
    return !memcmp(&a->u.cleanup, &b->u.cleanup, sizeof a->u.cleanup);
  case WR_TUNNEL_CLEANED:
    return a->u.cleaned.closed == b->u.cleaned.closed;
  case WR_TUNNEL_REQUEST:
    return a->u.request.kind == b->u.request.kind && a->u.request.flags == b->u.request.flags &&
           slice_eq(a->u.request.dest, b->u.request.dest) &&
           slice_eq(a->u.request.method, b->u.request.method) &&
           slice_eq(a->u.request.path, b->u.request.path) &&
           headers_eq(a->u.request.headers, a->u.request.nheaders, b->u.request.headers,
                      b->u.request.nheaders);
  case WR_TUNNEL_RESPONSE:
    return a->u.response.status == b->u.response.status &&
           a->u.response.flags == b->u.response.flags &&
           headers_eq(a->u.response.headers, a->u.response.nheaders, b->u.response.headers,
                      b->u.response.nheaders);
  }
  return 0;
}

static const wr_h1_header req_hdrs[] = {
    {S("User-Agent"), S("curl/7.88.1")},
    {S("Accept"), S("*/*")},
    {S("X-Forwarded-For"), S("192.0.2.7")},
    {S("X-Empty"), S("")},
};
static const wr_h1_header resp_hdrs[] = {{S("content-type"), S("text/plain; charset=utf-8")}};

/* One of each message type, with fields that exercise multi-byte varints. */
static size_t sample_msgs(wr_tunnel_msg *out) {
  size_t n = 0;
  wr_tunnel_msg m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REGISTER;
  for (int i = 0; i < 16; i++) {
    m.u.reg.tunnel_id[i] = (uint8_t)(0xa0 + i);
    m.u.reg.connector_id[i] = (uint8_t)i;
  }
  m.u.reg.conn_index = 3;
  m.u.reg.features = 300;
  m.u.reg.version = S("warren 0.1.0");
  for (int i = 0; i < 32; i++)
    m.u.reg.proof[i] = (uint8_t)(255 - i);
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REGISTERED;
  memset(m.u.registered.connection_id, 0x5c, 16);
  m.u.registered.location = S("edge-ams-1");
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REGISTER_ERROR;
  m.u.error.code = WR_TUNNEL_REG_UNAUTHORIZED;
  m.u.error.reason = S("unauthorized: the registration proof does not verify");
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_UNREGISTER;
  m.u.error.reason = S("");
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_PING;
  memcpy(m.u.ping.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  out[n++] = m;
  m.type = WR_TUNNEL_PONG;
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REQUEST;
  m.u.request.kind = WR_TUNNEL_KIND_HTTP;
  m.u.request.flags = WR_TUNNEL_F_BODY | WR_TUNNEL_F_TLS;
  m.u.request.dest = S("app.example.com");
  m.u.request.method = S("POST");
  m.u.request.path = S("/api/v1/items?limit=10");
  m.u.request.headers = req_hdrs;
  m.u.request.nheaders = 4;
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REQUEST;
  m.u.request.kind = WR_TUNNEL_KIND_TCP;
  m.u.request.dest = S("db.internal:5432");
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_RESPONSE;
  m.u.response.status = 200;
  m.u.response.flags = WR_TUNNEL_F_BODY;
  m.u.response.headers = resp_hdrs;
  m.u.response.nheaders = 1;
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_STREAM_ERROR;
  m.u.error.code = WR_TUNNEL_ERR_ORIGIN_UNREACHABLE;
  m.u.error.reason = S("dial tcp 127.0.0.1:8080: connection refused");
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_CLEANUP;
  memset(m.u.cleanup.tunnel_id, 0x22, 16);
  memset(m.u.cleanup.connector_id, 0x33, 16);
  memset(m.u.cleanup.proof, 0x44, 32);
  out[n++] = m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_CLEANED;
  m.u.cleaned.closed = 300;
  out[n++] = m;
  return n;
}

static void test_round_trip(void) {
  wr_tunnel_msg msgs[16];
  size_t n = sample_msgs(msgs);
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < n; i++) {
    wr_buf_reset(&b);
    CHECK_EQ(wr_tunnel_encode(&b, &msgs[i]), 0);
    wr_h1_header hdrs[WR_TUNNEL_DEFAULT_MAX_HEADERS];
    wr_tunnel_msg got;
    size_t used = 0;
    const char *why = NULL;
    CHECK_EQ(wr_tunnel_parse(b.data, b.len, NULL, hdrs, &got, &used, &why), 0);
    CHECK_EQ(used, b.len);
    CHECK(msg_eq(&got, &msgs[i]));
    /* Every proper prefix is "need more", never an error or a message. */
    for (size_t k = 0; k < b.len; k++)
      CHECK_EQ(wr_tunnel_parse(b.data, k, NULL, hdrs, &got, &used, &why), WR_ERR_TRUNCATED);
    /* Any single byte more in the payload is caught: bump the length. */
    CHECK_STREQ(wr_tunnel_msg_name(msgs[i].type), wr_tunnel_msg_name(got.type));
  }
  wr_buf_free(&b);
}

/* Golden bytes: the examples in docs/protocol.md. */
static void test_wire_bytes(void) {
  wr_buf b;
  wr_buf_init(&b, 1024);
  wr_tunnel_msg m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_PING;
  memcpy(m.u.ping.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  uint8_t want[64];
  CHECK_EQ(wr_hex_decode(want, 10, "05080102030405060708", 20), 0);
  CHECK_EQ(b.len, 10);
  CHECK_MEMEQ(b.data, want, 10);

  wr_buf_reset(&b);
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_RESPONSE;
  m.u.response.status = 200;
  m.u.response.flags = WR_TUNNEL_F_BODY;
  wr_h1_header h[] = {{S("content-type"), S("text/plain")}};
  m.u.response.headers = h;
  m.u.response.nheaders = 1;
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  const char *hex = "111cc80101010c636f6e74656e742d747970650a746578742f706c61696e";
  size_t wn = strlen(hex) / 2;
  CHECK_EQ(wr_hex_decode(want, wn, hex, wn * 2), 0);
  CHECK_EQ(b.len, wn);
  CHECK_MEMEQ(b.data, want, wn);

  wr_buf_reset(&b);
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REQUEST;
  m.u.request.kind = WR_TUNNEL_KIND_HTTP;
  m.u.request.dest = S("a.example");
  m.u.request.method = S("GET");
  m.u.request.path = S("/");
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  hex = "1013010009612e6578616d706c650347455401" "2f00";
  wn = strlen(hex) / 2;
  CHECK_EQ(wr_hex_decode(want, wn, hex, wn * 2), 0);
  CHECK_EQ(b.len, wn);
  CHECK_MEMEQ(b.data, want, wn);
  wr_buf_free(&b);
}

/* All samples back to back, then body bytes, fed in every chunk size: the
 * decoder returns each message once, in order, and leaves the body alone. */
static void test_decoder_splits(void) {
  wr_tunnel_msg msgs[16];
  size_t n = sample_msgs(msgs);
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(wr_tunnel_encode(&b, &msgs[i]), 0);
  size_t body_at = b.len;
  CHECK_EQ(wr_buf_puts(&b, "raw body bytes"), 0);
  for (size_t step = 1; step <= b.len; step++) {
    wr_tunnel_decoder d;
    CHECK_EQ(wr_tunnel_decoder_init(&d, NULL), 0);
    CHECK(wr_tunnel_decoder_idle(&d));
    size_t off = 0, got = 0;
    int ok = 1;
    while (off < b.len && got < n) {
      size_t len = b.len - off < step ? b.len - off : step;
      size_t used;
      wr_tunnel_msg m;
      int rv = wr_tunnel_decode(&d, b.data + off, len, &used, &m);
      if (rv < 0 || used > len) {
        ok = 0;
        break;
      }
      off += used;
      if (rv == 1) {
        if (!msg_eq(&m, &msgs[got]))
          ok = 0;
        got++;
      } else if (used != len) {
        ok = 0;
      }
    }
    CHECK(ok);
    CHECK_EQ(got, n);
    CHECK_EQ(off, body_at); /* the first body byte was not taken */
    size_t used;
    wr_tunnel_msg m;
    CHECK_EQ(wr_tunnel_decode(&d, b.data + off, 0, &used, &m), 0);
    CHECK(wr_tunnel_decoder_idle(&d));
    wr_tunnel_decoder_free(&d);
    if (!ok)
      break;
  }
  wr_buf_free(&b);
}

/* Truncated at every length: the decoder asks for more, and is not idle. */
static void test_truncated(void) {
  wr_tunnel_msg msgs[16];
  size_t n = sample_msgs(msgs);
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < n; i++) {
    wr_buf_reset(&b);
    CHECK_EQ(wr_tunnel_encode(&b, &msgs[i]), 0);
    for (size_t k = 1; k < b.len; k++) {
      wr_tunnel_decoder d;
      CHECK_EQ(wr_tunnel_decoder_init(&d, NULL), 0);
      size_t used;
      wr_tunnel_msg m;
      CHECK_EQ(wr_tunnel_decode(&d, b.data, k, &used, &m), 0);
      CHECK_EQ(used, k);
      CHECK(!wr_tunnel_decoder_idle(&d));
      wr_tunnel_decoder_free(&d);
    }
  }
  wr_buf_free(&b);
}

typedef struct bad {
  int type;        /* -1: hex is the whole message; else hex is its payload */
  const char *hex; /* spaces ignored */
  int err;
  const char *reason;
} bad;

static void test_malformed(void) {
  static const bad cases[] = {
      {-1, "09", WR_ERR_MALFORMED, "unknown message type"},
      {-1, "00", WR_ERR_MALFORMED, "unknown message type"},
      {-1, "8000", WR_ERR_MALFORMED, "varint is not minimally encoded"},
      {-1, "0580", WR_ERR_TRUNCATED, NULL},
      {-1, "058000", WR_ERR_MALFORMED, "varint is not minimally encoded"},
      {-1, "05ffffffffffffffff7f", WR_ERR_LIMIT, "message larger than the limit"},
      {-1, "0581a006", WR_ERR_LIMIT, "message larger than the limit"},
      {0x05, "01020304050607", WR_ERR_MALFORMED, "a field runs past the end of the message"},
      {0x05, "0102030405060708ff", WR_ERR_MALFORMED, "trailing bytes after the last field of the message"},
      /* STREAM_ERROR: reason runs past the payload, trailing bytes, control character */
      {0x12, "01 05 ff", WR_ERR_MALFORMED, "a field runs past the end of the message"},
      {0x12, "01 01 41 41", WR_ERR_MALFORMED, "trailing bytes after the last field of the message"},
      {0x12, "01 01 0a", WR_ERR_MALFORMED, "control character in reason"},
      {0x12, "8000 00", WR_ERR_MALFORMED, "varint is not minimally encoded"},
      /* REQUEST: kind, dest, method, path */
      {0x10, "09 00 0161 03474554 012f 00", WR_ERR_MALFORMED, "unknown request kind"},
      {0x10, "01 00 0120 03474554 012f 00", WR_ERR_MALFORMED, "invalid destination (expected host[:port])"},
      {0x10, "01 00 012f 03474554 012f 00", WR_ERR_MALFORMED, "invalid destination (expected host[:port])"},
      {0x10, "01 00 00 03474554 012f 00", WR_ERR_MALFORMED, "invalid destination (expected host[:port])"},
      {0x10, "01 00 0161 03472054 012f 00", WR_ERR_MALFORMED, "invalid method"},
      {0x10, "01 00 0161 00 012f 00", WR_ERR_MALFORMED, "invalid method"},
      {0x10, "01 00 0161 03474554 0120 00", WR_ERR_MALFORMED, "invalid path"},
      {0x10, "01 00 0161 03474554 00 00", WR_ERR_MALFORMED, "invalid path"},
      {0x10, "03 00 0161 03474554 012f 00", WR_ERR_MALFORMED, "tcp request with a method or path"},
      /* headers: name with a space, value with LF, a count past the end */
      {0x10, "01 00 0161 03474554 012f 01 0120 0161", WR_ERR_MALFORMED, "header name is not a token"},
      {0x10, "01 00 0161 03474554 012f 01 00 0161", WR_ERR_MALFORMED, "header name is not a token"},
      {0x10, "01 00 0161 03474554 012f 01 0161 010a", WR_ERR_MALFORMED, "control character in header value"},
      {0x10, "01 00 0161 03474554 012f 05", WR_ERR_MALFORMED, "a field runs past the end of the message"},
      {0x10, "01 00 0161 03474554 012f 00 00", WR_ERR_MALFORMED, "trailing bytes after the last field of the message"},
      /* RESPONSE: status 99 and 600 */
      {0x11, "63 01 00", WR_ERR_MALFORMED, "status out of range (100-599)"},
      {0x11, "d804 01 00", WR_ERR_MALFORMED, "status out of range (100-599)"},
      /* REGISTER: connection index 70000; a version with a control character */
      {0x01, "00000000000000000000000000000000 00000000000000000000000000000000 f0a204 00 00"
             "0000000000000000000000000000000000000000000000000000000000000000",
       WR_ERR_MALFORMED, "connection index out of range (0-65535)"},
      {0x01, "00000000000000000000000000000000 00000000000000000000000000000000 00 00 0107"
             "0000000000000000000000000000000000000000000000000000000000000000",
       WR_ERR_MALFORMED, "control character in connector version"},
      {0x01, "00000000000000000000000000000000 00000000000000000000000000000000 00 00 00"
             "00000000000000000000000000000000000000000000000000000000000000",
       WR_ERR_MALFORMED, "a field runs past the end of the message"},
      /* CLEANUP: a byte short, a byte over; CLEANED: a count that is not minimal */
      {0x07, "2222222222222222222222222222222233333333333333333333333333333333"
             "44444444444444444444444444444444444444444444444444444444444444",
       WR_ERR_MALFORMED, "a field runs past the end of the message"},
      {0x07, "2222222222222222222222222222222233333333333333333333333333333333"
             "4444444444444444444444444444444444444444444444444444444444444444 00",
       WR_ERR_MALFORMED, "trailing bytes after the last field of the message"},
      {0x08, "8000", WR_ERR_MALFORMED, "varint is not minimally encoded"},
      {0x08, "", WR_ERR_MALFORMED, "a field runs past the end of the message"},
      {0x08, "01 00", WR_ERR_MALFORMED, "trailing bytes after the last field of the message"},
      /* REGISTERED: location too long */
      {0x02, "00000000000000000000000000000000 41", WR_ERR_MALFORMED, "location too long"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t payload[256], in[300];
    char hex[600];
    size_t hn = 0;
    for (const char *s = cases[i].hex; *s; s++)
      if (*s != ' ')
        hex[hn++] = *s;
    size_t pn = hn / 2, n = 0;
    CHECK_EQ(wr_hex_decode(payload, pn, hex, hn), 0);
    if (cases[i].type >= 0) {
      in[n++] = (uint8_t)cases[i].type;
      in[n++] = (uint8_t)pn; /* every payload here is < 128 bytes */
    }
    memcpy(in + n, payload, pn);
    n += pn;
    wr_h1_header hdrs[WR_TUNNEL_DEFAULT_MAX_HEADERS];
    wr_tunnel_msg m;
    size_t used;
    const char *why = NULL;
    int rv = wr_tunnel_parse(in, n, NULL, hdrs, &m, &used, &why);
    if (rv != cases[i].err || (cases[i].reason && (!why || strcmp(why, cases[i].reason)))) {
      fprintf(stderr, "  case %zu (%s): got %d %s\n", i, cases[i].hex, rv, why ? why : "-");
      CHECK(0);
    }
    /* The decoder agrees, whole and byte by byte. */
    if (cases[i].err == WR_ERR_TRUNCATED)
      continue;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
      wr_tunnel_decoder d;
      CHECK_EQ(wr_tunnel_decoder_init(&d, NULL), 0);
      int drv = 0;
      size_t off = 0;
      while (off < n && drv == 0) {
        size_t len = bytewise ? 1 : n - off;
        drv = wr_tunnel_decode(&d, in + off, len, &used, &m);
        off += used;
      }
      CHECK_EQ(drv, cases[i].err);
      CHECK_STREQ(wr_tunnel_decoder_reason(&d), cases[i].reason);
      /* Errors are sticky. */
      CHECK_EQ(wr_tunnel_decode(&d, in, 1, &used, &m), cases[i].err);
      wr_tunnel_decoder_free(&d);
    }
  }
}

static void test_limits(void) {
  /* A decoder with small limits refuses at the header, before buffering. */
  wr_tunnel_limits lim = {.max_payload = 16, .max_headers = 1};
  wr_tunnel_msg msgs[16];
  size_t n = sample_msgs(msgs);
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  CHECK_EQ(wr_tunnel_encode(&b, &msgs[6]), 0); /* the HTTP REQUEST, > 16 bytes */
  wr_tunnel_decoder d;
  CHECK_EQ(wr_tunnel_decoder_init(&d, &lim), 0);
  size_t used;
  wr_tunnel_msg m;
  CHECK_EQ(wr_tunnel_decode(&d, b.data, 3, &used, &m), WR_ERR_LIMIT);
  CHECK_STREQ(wr_tunnel_decoder_reason(&d), "message larger than the limit");
  wr_tunnel_decoder_free(&d);
  /* Too many headers. */
  wr_tunnel_limits lim2 = {.max_headers = 3};
  CHECK_EQ(wr_tunnel_decoder_init(&d, &lim2), 0);
  CHECK_EQ(wr_tunnel_decode(&d, b.data, b.len, &used, &m), WR_ERR_LIMIT);
  CHECK_STREQ(wr_tunnel_decoder_reason(&d), "too many headers");
  wr_tunnel_decoder_free(&d);
  (void)n;

  /* The encoder refuses what a default decoder would refuse. */
  wr_h1_header many[WR_TUNNEL_DEFAULT_MAX_HEADERS + 1];
  for (size_t i = 0; i < WR_TUNNEL_DEFAULT_MAX_HEADERS + 1; i++)
    many[i] = (wr_h1_header){S("X"), S("y")};
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_RESPONSE;
  m.u.response.status = 200;
  m.u.response.headers = many;
  m.u.response.nheaders = WR_TUNNEL_DEFAULT_MAX_HEADERS + 1;
  size_t mark = b.len;
  CHECK_EQ(wr_tunnel_encode(&b, &m), WR_ERR_LIMIT);
  static char big[WR_TUNNEL_DEFAULT_MAX_PAYLOAD];
  memset(big, 'v', sizeof big);
  wr_h1_header one = {S("X-Big"), {big, sizeof big}};
  m.u.response.headers = &one;
  m.u.response.nheaders = 1;
  CHECK_EQ(wr_tunnel_encode(&b, &m), WR_ERR_LIMIT);
  CHECK_EQ(b.len, mark);
  /* Just under the limit passes and decodes with default limits. */
  one.value.len = sizeof big - 32;
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  CHECK_EQ(wr_tunnel_decoder_init(&d, NULL), 0);
  CHECK_EQ(wr_tunnel_decode(&d, b.data + mark, b.len - mark, &used, &m), 1);
  CHECK_EQ(m.u.response.headers[0].value.len, sizeof big - 32);
  wr_tunnel_decoder_free(&d);
  /* An output buffer that is too small is left as it was. */
  wr_buf small;
  wr_buf_init(&small, 8);
  CHECK_EQ(wr_tunnel_encode(&small, &msgs[0]), WR_ERR_LIMIT);
  CHECK_EQ(small.len, 0);
  wr_buf_free(&small);
  wr_buf_free(&b);
}

static void test_encode_rejects(void) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  wr_tunnel_msg m;
  memset(&m, 0, sizeof m);
  m.type = 0x42;
  CHECK_EQ(wr_tunnel_encode(&b, &m), WR_ERR_INVAL);
  m.type = WR_TUNNEL_REQUEST;
  m.u.request.kind = WR_TUNNEL_KIND_HTTP;
  m.u.request.dest = S("h");
  m.u.request.method = S("GET");
  m.u.request.path = S("/");
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  size_t mark = b.len;
  m.u.request.method = S("G T");
  CHECK_EQ(wr_tunnel_encode(&b, &m), WR_ERR_INVAL);
  m.u.request.method = S("GET");
  m.u.request.path = S("/a b");
  CHECK_EQ(wr_tunnel_encode(&b, &m), WR_ERR_INVAL);
  m.u.request.path = S("/");
  m.u.request.dest = S("h/x");
  CHECK_EQ(wr_tunnel_encode(&b, &m), WR_ERR_INVAL);
  m.u.request.dest = S("h");
  wr_h1_header inj[] = {{S("X"), S("a\r\nEvil: 1")}};
  m.u.request.headers = inj;
  m.u.request.nheaders = 1;
  CHECK_EQ(wr_tunnel_encode(&b, &m), WR_ERR_INVAL);
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REGISTER;
  m.u.reg.conn_index = 65536;
  CHECK_EQ(wr_tunnel_encode(&b, &m), WR_ERR_INVAL);
  m.u.reg.conn_index = 65535;
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  CHECK_EQ(b.len, mark + 2 + 16 + 16 + 3 + 1 + 1 + 32);
  wr_buf_free(&b);
}

/* ---- cleanup ---- */

static void test_cleanup_wire(void) {
  /* CLEANED of 2 connections, and CLEANUP of every connector (zero ID). */
  wr_buf b;
  wr_buf_init(&b, 1024);
  wr_tunnel_msg m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_CLEANED;
  m.u.cleaned.closed = 2;
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  CHECK_EQ(b.len, 3);
  CHECK_MEMEQ(b.data, "\x08\x01\x02", 3);
  wr_buf_reset(&b);
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_CLEANUP;
  memset(m.u.cleanup.tunnel_id, 0x22, 16);
  memset(m.u.cleanup.proof, 0x44, 32);
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  CHECK_EQ(b.len, 2 + 64);
  CHECK_EQ(b.data[0], 0x07);
  CHECK_EQ(b.data[1], 64);
  CHECK_EQ(b.data[2], 0x22);
  CHECK_EQ(b.data[2 + 16], 0x00);
  CHECK_EQ(b.data[2 + 32], 0x44);
  wr_tunnel_msg got;
  size_t used;
  const char *why = NULL;
  CHECK_EQ(wr_tunnel_parse(b.data, b.len, NULL, NULL, &got, &used, &why), 0);
  CHECK_EQ(used, b.len);
  CHECK(msg_eq(&m, &got));
  wr_buf_free(&b);
}

static void test_cleanup_proof(void) {
  uint8_t secret[32], exporter[32], tid[16], cid[16], proof[32], want[32], reg[32];
  for (int i = 0; i < 32; i++)
    secret[i] = (uint8_t)i;
  memset(exporter, 0x11, 32);
  memset(tid, 0x22, 16);
  memset(cid, 0x33, 16);
  /* Known answers, from Python's hmac module over the documented input. */
  CHECK_EQ(wr_tunnel_cleanup_proof(proof, secret, 32, exporter, tid, cid), 0);
  CHECK_EQ(wr_hex_decode(want, 32,
                         "aa7dde65237ec4ed7e4f25a471c3ec45aba4f7511b320ce140c9ee61797e569b", 64),
           0);
  CHECK_MEMEQ(proof, want, 32);
  uint8_t zero[16] = {0};
  CHECK_EQ(wr_tunnel_cleanup_proof(proof, secret, 32, exporter, tid, zero), 0);
  CHECK_EQ(wr_hex_decode(want, 32,
                         "ef617f0219396657738043afb02bbc5afd47caefb0083ceb1e9dcb15f0ae50df", 64),
           0);
  CHECK_MEMEQ(proof, want, 32);

  wr_tunnel_cleanup cl;
  memcpy(cl.tunnel_id, tid, 16);
  memcpy(cl.connector_id, zero, 16);
  memcpy(cl.proof, proof, 32);
  CHECK_EQ(wr_tunnel_cleanup_proof_verify(&cl, secret, 32, exporter), 0);
  uint8_t other[32];
  memcpy(other, secret, 32);
  other[0] ^= 1;
  CHECK_EQ(wr_tunnel_cleanup_proof_verify(&cl, other, 32, exporter), WR_ERR_DENIED);
  exporter[5] ^= 1; /* another TLS session */
  CHECK_EQ(wr_tunnel_cleanup_proof_verify(&cl, secret, 32, exporter), WR_ERR_DENIED);
  exporter[5] ^= 1;
  /* The proof covers the connector it names: one connector's cleanup cannot
   * be widened to all. */
  memcpy(cl.connector_id, cid, 16);
  CHECK_EQ(wr_tunnel_cleanup_proof_verify(&cl, secret, 32, exporter), WR_ERR_DENIED);
  /* A REGISTER's proof over the same fields is no CLEANUP proof. */
  CHECK_EQ(wr_tunnel_proof(reg, secret, 32, exporter, tid, cid, 0), 0);
  memcpy(cl.proof, reg, 32);
  CHECK_EQ(wr_tunnel_cleanup_proof_verify(&cl, secret, 32, exporter), WR_ERR_DENIED);
  CHECK_EQ(wr_tunnel_cleanup_proof_verify(&cl, secret, 15, exporter), WR_ERR_INVAL);
}

/* ---- the registration proof ---- */

static void test_proof(void) {
  uint8_t secret[32], exporter[32], tid[16], cid[16], proof[32], want[32];
  for (int i = 0; i < 32; i++)
    secret[i] = (uint8_t)i;
  memset(exporter, 0x11, 32);
  memset(tid, 0x22, 16);
  memset(cid, 0x33, 16);
  CHECK_EQ(wr_tunnel_proof(proof, secret, 32, exporter, tid, cid, 2), 0);
  /* Known answer, from Python's hmac module over the documented input. */
  CHECK_EQ(wr_hex_decode(want, 32,
                         "c5c554b5b14faebbf73ec9975eee8086ee93dbdb510cf2ba761d8c3fba176b03", 64),
           0);
  CHECK_MEMEQ(proof, want, 32);

  wr_tunnel_register reg;
  memset(&reg, 0, sizeof reg);
  memcpy(reg.tunnel_id, tid, 16);
  memcpy(reg.connector_id, cid, 16);
  reg.conn_index = 2;
  memcpy(reg.proof, proof, 32);
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 32, exporter), 0);
  /* Wrong secret. */
  uint8_t other[32];
  memcpy(other, secret, 32);
  other[31] ^= 1;
  CHECK_EQ(wr_tunnel_proof_verify(&reg, other, 32, exporter), WR_ERR_DENIED);
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 31, exporter), WR_ERR_DENIED);
  /* Replayed on another TLS session: another exporter value. */
  uint8_t exp2[32];
  memcpy(exp2, exporter, 32);
  exp2[0] ^= 0x80;
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 32, exp2), WR_ERR_DENIED);
  /* Claimed for another tunnel, connector or connection index. */
  reg.tunnel_id[15] ^= 1;
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 32, exporter), WR_ERR_DENIED);
  reg.tunnel_id[15] ^= 1;
  reg.connector_id[0] ^= 1;
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 32, exporter), WR_ERR_DENIED);
  reg.connector_id[0] ^= 1;
  reg.conn_index = 3;
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 32, exporter), WR_ERR_DENIED);
  reg.conn_index = 2;
  reg.proof[7] ^= 4;
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 32, exporter), WR_ERR_DENIED);
  reg.proof[7] ^= 4;
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 32, exporter), 0);
  /* Short secrets are refused outright. */
  CHECK_EQ(wr_tunnel_proof(proof, secret, WR_TUNNEL_MIN_SECRET - 1, exporter, tid, cid, 2),
           WR_ERR_INVAL);
  CHECK_EQ(wr_tunnel_proof_verify(&reg, secret, 15, exporter), WR_ERR_INVAL);

  /* The proof survives the wire. */
  wr_tunnel_msg m;
  memset(&m, 0, sizeof m);
  m.type = WR_TUNNEL_REGISTER;
  m.u.reg = reg;
  m.u.reg.version = S("warren test");
  wr_buf b;
  wr_buf_init(&b, 1024);
  CHECK_EQ(wr_tunnel_encode(&b, &m), 0);
  wr_tunnel_decoder d;
  CHECK_EQ(wr_tunnel_decoder_init(&d, NULL), 0);
  size_t used;
  wr_tunnel_msg got;
  CHECK_EQ(wr_tunnel_decode(&d, b.data, b.len, &used, &got), 1);
  CHECK_EQ(wr_tunnel_proof_verify(&got.u.reg, secret, 32, exporter), 0);
  wr_tunnel_decoder_free(&d);
  wr_buf_free(&b);

  CHECK(wr_tunnel_ct_equal("abc", "abc", 3));
  CHECK(!wr_tunnel_ct_equal("abc", "abd", 3));
  CHECK(wr_tunnel_ct_equal("", "x", 0));
}

static wr_tunnel_msg of_type(uint64_t type, uint64_t status) {
  wr_tunnel_msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.u.response.status = status;
  return m;
}

/* Feeds a sequence of (type, status) pairs; returns the results as a string
 * of digits (0, 1) or 'E' for an error, stopping at the first error. */
static void seq_run(wr_tunnel_stream_role role, const uint64_t (*msgs)[2], size_t n, char *out,
                    const char **pwhy) {
  wr_tunnel_seq s;
  wr_tunnel_seq_init(&s, role);
  size_t k = 0;
  *pwhy = NULL;
  for (size_t i = 0; i < n; i++) {
    wr_tunnel_msg m = of_type(msgs[i][0], msgs[i][1]);
    int rv = wr_tunnel_seq_next(&s, &m, pwhy);
    out[k++] = rv < 0 ? 'E' : (char)('0' + rv);
    if (rv < 0)
      break;
  }
  out[k] = 0;
}

static void test_sequence(void) {
  char got[16];
  const char *why;
  const uint64_t edge_ok[][2] = {{WR_TUNNEL_REGISTER, 0}, {WR_TUNNEL_PING, 0}, {WR_TUNNEL_PONG, 0},
                                 {WR_TUNNEL_UNREGISTER, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_EDGE, edge_ok, 4, got, &why);
  CHECK_STREQ(got, "0000");
  const uint64_t edge_bad1[][2] = {{WR_TUNNEL_PING, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_EDGE, edge_bad1, 1, got, &why);
  CHECK_STREQ(got, "E");
  CHECK_STREQ(why, "the first message on the control stream must be REGISTER or CLEANUP");
  const uint64_t edge_cleanup[][2] = {{WR_TUNNEL_CLEANUP, 0}, {WR_TUNNEL_PING, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_EDGE, edge_cleanup, 2, got, &why);
  CHECK_STREQ(got, "1E");
  CHECK_STREQ(why, "message after the end of the stream's messages");
  const uint64_t edge_late_cleanup[][2] = {{WR_TUNNEL_REGISTER, 0}, {WR_TUNNEL_CLEANUP, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_EDGE, edge_late_cleanup, 2, got, &why);
  CHECK_STREQ(got, "0E");
  CHECK_STREQ(why, "CLEANUP after REGISTER (it is a connection's first message)");
  const uint64_t conn_cleaned[][2] = {{WR_TUNNEL_CLEANED, 0}, {WR_TUNNEL_CLEANED, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_CONNECTOR, conn_cleaned, 2, got, &why);
  CHECK_STREQ(got, "1E");
  const uint64_t conn_late_cleaned[][2] = {{WR_TUNNEL_REGISTERED, 0}, {WR_TUNNEL_CLEANED, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_CONNECTOR, conn_late_cleaned, 2, got, &why);
  CHECK_STREQ(got, "0E");
  CHECK_STREQ(why, "unexpected message type on the control stream");
  const uint64_t edge_bad2[][2] = {{WR_TUNNEL_REGISTER, 0}, {WR_TUNNEL_REGISTER, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_EDGE, edge_bad2, 2, got, &why);
  CHECK_STREQ(got, "0E");
  CHECK_STREQ(why, "a second REGISTER on the control stream");
  const uint64_t edge_bad3[][2] = {{WR_TUNNEL_REGISTER, 0}, {WR_TUNNEL_REQUEST, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_EDGE, edge_bad3, 2, got, &why);
  CHECK_STREQ(why, "unexpected message type on the control stream");

  const uint64_t conn_ok[][2] = {{WR_TUNNEL_REGISTERED, 0}, {WR_TUNNEL_PING, 0}, {WR_TUNNEL_UNREGISTER, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_CONNECTOR, conn_ok, 3, got, &why);
  CHECK_STREQ(got, "000");
  const uint64_t conn_refused[][2] = {{WR_TUNNEL_REGISTER_ERROR, 0}, {WR_TUNNEL_PING, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_CONNECTOR, conn_refused, 2, got, &why);
  CHECK_STREQ(got, "1E");
  CHECK_STREQ(why, "message after the end of the stream's messages");
  const uint64_t conn_bad[][2] = {{WR_TUNNEL_PONG, 0}};
  seq_run(WR_TUNNEL_CONTROL_AT_CONNECTOR, conn_bad, 1, got, &why);
  CHECK_STREQ(why, "the edge's first message must be REGISTERED, REGISTER_ERROR or CLEANED");

  const uint64_t req_ok[][2] = {{WR_TUNNEL_REQUEST, 0}, {WR_TUNNEL_REQUEST, 0}};
  seq_run(WR_TUNNEL_REQUEST_AT_CONNECTOR, req_ok, 2, got, &why);
  CHECK_STREQ(got, "1E");
  const uint64_t req_bad[][2] = {{WR_TUNNEL_RESPONSE, 200}};
  seq_run(WR_TUNNEL_REQUEST_AT_CONNECTOR, req_bad, 1, got, &why);
  CHECK_STREQ(why, "the first message on a request stream must be REQUEST");

  const uint64_t resp_ok[][2] = {{WR_TUNNEL_RESPONSE, 100}, {WR_TUNNEL_RESPONSE, 103},
                                 {WR_TUNNEL_RESPONSE, 204}};
  seq_run(WR_TUNNEL_REQUEST_AT_EDGE, resp_ok, 3, got, &why);
  CHECK_STREQ(got, "001");
  const uint64_t resp_ws[][2] = {{WR_TUNNEL_RESPONSE, 101}};
  seq_run(WR_TUNNEL_REQUEST_AT_EDGE, resp_ws, 1, got, &why);
  CHECK_STREQ(got, "1");
  const uint64_t resp_err[][2] = {{WR_TUNNEL_RESPONSE, 100}, {WR_TUNNEL_STREAM_ERROR, 0},
                                  {WR_TUNNEL_RESPONSE, 200}};
  seq_run(WR_TUNNEL_REQUEST_AT_EDGE, resp_err, 3, got, &why);
  CHECK_STREQ(got, "01E");
  const uint64_t resp_bad[][2] = {{WR_TUNNEL_PING, 0}};
  seq_run(WR_TUNNEL_REQUEST_AT_EDGE, resp_bad, 1, got, &why);
  CHECK_STREQ(why, "a request stream is answered by RESPONSE or STREAM_ERROR");
}

static void test_alloc_failure(void) {
  wr_tunnel_decoder d;
  wr_mem_fail_after(0);
  CHECK_EQ(wr_tunnel_decoder_init(&d, NULL), WR_ERR_NOMEM);
  wr_mem_fail_after(-1);
  wr_tunnel_decoder_free(&d);
  CHECK_EQ(wr_tunnel_decoder_init(&d, NULL), 0);
  wr_mem_fail_after(0);
  size_t used;
  wr_tunnel_msg m;
  CHECK_EQ(wr_tunnel_decode(&d, (const uint8_t *)"\x05\x08\x01", 3, &used, &m), WR_ERR_NOMEM);
  wr_mem_fail_after(-1);
  wr_tunnel_decoder_free(&d);
}

int main(void) {
  RUN(test_round_trip);
  RUN(test_wire_bytes);
  RUN(test_decoder_splits);
  RUN(test_truncated);
  RUN(test_malformed);
  RUN(test_limits);
  RUN(test_encode_rejects);
  RUN(test_proof);
  RUN(test_cleanup_wire);
  RUN(test_cleanup_proof);
  RUN(test_sequence);
  RUN(test_alloc_failure);
  return test_done();
}
