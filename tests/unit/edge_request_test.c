/* edge_request_test: the REQUEST the edge sends into a tunnel for a user's
 * request, decoded back as a connector would. */
#include "base/buf.h"
#include "proto/tunnel/tunnel.h"
#include "test.h"
#include "tunnel/edge_request.h"

/* One encoded request as a connector decodes it: m's slices point into b
 * and d, which the caller frees. 0, or -1 when either step failed. */
typedef struct decoded {
  wr_buf b;
  wr_tunnel_decoder d;
  wr_tunnel_msg m;
  int kind, has_body;
} decoded;

static int encode_decode(const wr_http_req *q, decoded *x) {
  wr_buf_init(&x->b, 1 << 20);
  size_t used = 0;
  if (wr_tunnel_decoder_init(&x->d, NULL) != 0 ||
      wr_edge_request_encode(&x->b, q, &x->kind, &x->has_body) != 0)
    return -1;
  int rv = wr_tunnel_decode(&x->d, x->b.data, x->b.len, &used, &x->m);
  return rv == 1 && used == x->b.len && x->m.type == WR_TUNNEL_REQUEST ? 0 : -1;
}

static void decoded_free(decoded *x) {
  wr_tunnel_decoder_free(&x->d);
  wr_buf_free(&x->b);
}

static const wr_h1_header *field(const wr_tunnel_request *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (wr_h1_slice_eq_ci(r->headers[i].name, name))
      return &r->headers[i];
  return NULL;
}

static int value_is(const wr_tunnel_request *r, const char *name, const char *value) {
  const wr_h1_header *h = field(r, name);
  return h && wr_h1_slice_eq(h->value, value);
}

static void test_http_request(void) {
  wr_h1_header hs[] = {
      {{"Host", 4}, {"app.example.com", 15}},    {{"Connection", 10}, {"keep-alive, X-Drop", 18}},
      {{"Keep-Alive", 10}, {"timeout=5", 9}},    {{"X-Drop", 6}, {"1", 1}},
      {{"X-Forwarded-For", 15}, {"6.6.6.6", 7}}, {{"Accept", 6}, {"*/*", 3}},
      {{"Content-Length", 14}, {"3", 1}},
  };
  wr_h1_head hd = {.version_minor = 1,
                   .method = {"POST", 4},
                   .target = {"/x?y", 4},
                   .host = {"app.example.com", 15},
                   .headers = hs,
                   .nheaders = sizeof hs / sizeof hs[0],
                   .framing = WR_H1_BODY_LENGTH,
                   .content_length = 3};
  wr_http_req q = {.head = &hd, .client_ip = "2001:db8::1", .flags = WR_HTTP_REQ_TLS};
  decoded x;
  CHECK_EQ(encode_decode(&q, &x), 0);
  CHECK_EQ(x.kind, WR_TUNNEL_KIND_HTTP);
  CHECK_EQ(x.has_body, 1);
  const wr_tunnel_request *r = &x.m.u.request;
  CHECK_EQ(r->flags, WR_TUNNEL_F_BODY | WR_TUNNEL_F_TLS);
  CHECK(wr_h1_slice_eq(r->method, "POST"));
  CHECK(wr_h1_slice_eq(r->path, "/x?y"));
  CHECK(wr_h1_slice_eq(r->dest, "app.example.com"));
  CHECK(value_is(r, "accept", "*/*"));
  CHECK(value_is(r, "content-length", "3"));
  CHECK(field(r, "connection") == NULL);
  CHECK(field(r, "keep-alive") == NULL);
  CHECK(field(r, "x-drop") == NULL);                    /* listed in Connection */
  CHECK(value_is(r, "x-forwarded-for", "2001:db8::1")); /* the user's own is replaced */
  CHECK(value_is(r, "x-forwarded-proto", "https"));
  CHECK(value_is(r, "forwarded", "for=\"[2001:db8::1]\";proto=https"));
  decoded_free(&x);
}

static void test_extended_connect(void) {
  wr_h1_header hs[] = {{{"sec-websocket-version", 21}, {"13", 2}}};
  wr_h1_head hd = {.version_minor = 1,
                   .method = {"CONNECT", 7},
                   .target = {"/ws", 3},
                   .host = {"app.example.com", 15},
                   .headers = hs,
                   .nheaders = 1,
                   .framing = WR_H1_BODY_CHUNKED};
  wr_http_req q = {.head = &hd,
                   .protocol = {"websocket", 9},
                   .client_ip = "127.0.0.1",
                   .flags = WR_HTTP_REQ_TLS | WR_HTTP_REQ_H2 | WR_HTTP_REQ_CONNECT |
                            WR_HTTP_REQ_WEBSOCKET};
  decoded x;
  CHECK_EQ(encode_decode(&q, &x), 0);
  CHECK_EQ(x.kind, WR_TUNNEL_KIND_WEBSOCKET);
  CHECK_EQ(x.has_body, 0);
  const wr_tunnel_request *r = &x.m.u.request;
  CHECK_EQ(r->kind, WR_TUNNEL_KIND_WEBSOCKET);
  CHECK_EQ(r->flags, WR_TUNNEL_F_TLS);
  CHECK(wr_h1_slice_eq(r->method, "GET"));
  CHECK(value_is(r, "upgrade", "websocket"));
  CHECK(value_is(r, "connection", "Upgrade"));
  CHECK(value_is(r, "sec-websocket-version", "13"));
  const wr_h1_header *key = field(r, "sec-websocket-key");
  CHECK(key && key->value.len == 24);
  CHECK(value_is(r, "forwarded", "for=127.0.0.1;proto=https"));
  decoded_free(&x);
}

static void test_invalid(void) {
  wr_h1_header hs[] = {{{"X-Bad", 5}, {"a\x01b", 3}}}; /* a control character */
  wr_h1_head hd = {.version_minor = 1,
                   .method = {"GET", 3},
                   .target = {"/", 1},
                   .host = {"a.example.com", 13},
                   .headers = hs,
                   .nheaders = 1};
  wr_http_req q = {.head = &hd, .client_ip = "127.0.0.1"};
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  int kind = 0, has_body = 0;
  CHECK_EQ(wr_edge_request_encode(&b, &q, &kind, &has_body), WR_ERR_INVAL);
  CHECK_EQ(b.len, 0);
  static char big[100 * 1024]; /* past the tunnel's payload limit */
  memset(big, 'a', sizeof big);
  hs[0].value = (wr_h1_slice){big, sizeof big};
  CHECK_EQ(wr_edge_request_encode(&b, &q, &kind, &has_body), WR_ERR_LIMIT);
  CHECK_EQ(b.len, 0);
  wr_buf_free(&b);
}

int main(void) {
  RUN(test_http_request);
  RUN(test_extended_connect);
  RUN(test_invalid);
  return test_done();
}
