/* edge_request.c: the REQUEST message for a user's request. */
#include "tunnel/edge_request.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/random.h"
#include "proto/text/base64.h"
#include "proto/tunnel/tunnel.h"
#include "tunnel/routes.h"

#define MAX_FWD_HEADERS WR_EDGE_REQUEST_MAX_FIELDS
static const char *hop_by_hop[] = {"connection",
                                   "keep-alive",
                                   "transfer-encoding",
                                   "te",
                                   "trailer",
                                   "proxy-connection",
                                   "upgrade",
                                   "expect",
                                   "x-forwarded-for",
                                   "x-forwarded-proto",
                                   "forwarded",
                                   "proxy-authorization",
                                   NULL};

static int is_listed(const char *const *list, wr_h1_slice name) {
  for (size_t i = 0; list[i]; i++)
    if (wr_h1_slice_eq_ci(name, list[i]))
      return 1;
  return 0;
}

/* 1 when name is one of the comma-separated tokens of a Connection value. */
static int in_connection(const wr_h1_header *conn, wr_h1_slice name) {
  if (!conn || !name.len)
    return 0;
  const char *p = conn->value.p, *end = p + conn->value.len;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
      p++;
    const char *tok = p;
    while (p < end && *p != ',' && *p != ' ' && *p != '\t')
      p++;
    if ((size_t)(p - tok) == name.len && strncasecmp(tok, name.p, name.len) == 0)
      return 1;
  }
  return 0;
}

/* Encodes the REQUEST message for h onto out: hop-by-hop fields dropped,
 * X-Forwarded-For/-Proto and Forwarded added for ip. 0 or the encoder's
 * error (WR_ERR_LIMIT...). */
static int build_request(wr_buf *out, int kind, int has_body, const wr_h1_head *h, const char *ip,
                         int websocket, int https) {
  const char *proto = https ? "https" : "http";
  wr_h1_header fwd[MAX_FWD_HEADERS];
  size_t n = 0;
  const wr_h1_header *conn = wr_h1_find(h->headers, h->nheaders, "connection");
  for (size_t i = 0; i < h->nheaders && n < MAX_FWD_HEADERS - 5; i++) {
    wr_h1_slice name = h->headers[i].name;
    if (websocket && wr_h1_slice_eq_ci(name, "upgrade")) {
      fwd[n++] = h->headers[i];
      continue;
    }
    if (is_listed(hop_by_hop, name) || in_connection(conn, name))
      continue;
    if (wr_h1_slice_eq_ci(name, "content-length") && h->framing != WR_H1_BODY_LENGTH)
      continue;
    fwd[n++] = h->headers[i];
  }
  if (websocket)
    fwd[n++] = (wr_h1_header){{"Connection", 10}, {"Upgrade", 7}};
  fwd[n++] = (wr_h1_header){{"X-Forwarded-For", 15}, {ip, strlen(ip)}};
  fwd[n++] = (wr_h1_header){{"X-Forwarded-Proto", 17}, {proto, strlen(proto)}};
  char fwdv[WR_ROUTES_HOST_MAX + 128];
  int v6 = strchr(ip, ':') != NULL;
  int flen = snprintf(fwdv, sizeof fwdv, "for=%s%s%s;proto=%s", v6 ? "\"[" : "", ip,
                      v6 ? "]\"" : "", proto);
  fwd[n++] = (wr_h1_header){{"Forwarded", 9}, {fwdv, (size_t)flen}};
  wr_tunnel_msg m = {.type = WR_TUNNEL_REQUEST};
  m.u.request.kind = (uint64_t)kind;
  m.u.request.flags = (has_body ? WR_TUNNEL_F_BODY : 0) | (https ? WR_TUNNEL_F_TLS : 0);
  m.u.request.dest = h->host;
  m.u.request.method = h->method;
  m.u.request.path = h->target;
  m.u.request.headers = fwd;
  m.u.request.nheaders = n;
  return wr_tunnel_encode(out, &m);
}

/* An extended CONNECT for a WebSocket (RFC 8441) becomes, in the tunnel, the
 * HTTP/1.1 Upgrade an origin expects: GET with Upgrade: websocket and a fresh
 * Sec-WebSocket-Key (HTTP/2 has none; the origin's Sec-WebSocket-Accept is
 * dropped again on the way back). hd and hs are the caller's copies. */
static int websocket_request(wr_h1_head *hd, wr_h1_header *hs, char key[25]) {
  uint8_t raw[16];
  if (wr_random_bytes(raw, sizeof raw) != 0 ||
      wr_base64_encode(raw, sizeof raw, key, 25) != 24)
    return WR_ERR_INVAL;
  memcpy(hs, hd->headers, hd->nheaders * sizeof *hs);
  hd->headers = hs;
  hd->method = (wr_h1_slice){"GET", 3};
  hs[hd->nheaders++] = (wr_h1_header){{"upgrade", 7}, {"websocket", 9}};
  hs[hd->nheaders++] = (wr_h1_header){{"sec-websocket-key", 17}, {key, 24}};
  hd->framing = WR_H1_BODY_NONE;
  return 0;
}

int wr_edge_request_encode(wr_buf *out, const wr_http_req *q, int *pkind, int *phas_body) {
  wr_h1_head hd = *q->head;
  wr_h1_header hs[MAX_FWD_HEADERS];
  char ws_key[25];
  int websocket = (q->flags & WR_HTTP_REQ_WEBSOCKET) != 0;
  int has_body = hd.framing != WR_H1_BODY_NONE;
  int rc = 0;
  if (q->flags & WR_HTTP_REQ_CONNECT) {
    has_body = 0; /* the stream carries the WebSocket's bytes */
    rc = hd.nheaders + 2 > MAX_FWD_HEADERS ? WR_ERR_LIMIT : websocket_request(&hd, hs, ws_key);
  }
  int kind = websocket ? WR_TUNNEL_KIND_WEBSOCKET : WR_TUNNEL_KIND_HTTP;
  if (rc == 0)
    rc = build_request(out, kind, has_body, &hd, q->client_ip, websocket,
                       (q->flags & WR_HTTP_REQ_TLS) != 0);
  *pkind = kind;
  *phas_body = has_body;
  return rc;
}
