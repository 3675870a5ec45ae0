/* edge_request.h: a user's request (http/handler.h) as the tunnel's REQUEST
 * message (proto/tunnel/tunnel.h), the edge's side of the framing. */
#ifndef WR_TUNNEL_EDGE_REQUEST_H
#define WR_TUNNEL_EDGE_REQUEST_H

#include "base/buf.h"
#include "base/err.h"
#include "http/handler.h"

/* Fields one REQUEST carries at most: the user's, then the edge's own. */
#define WR_EDGE_REQUEST_MAX_FIELDS (WR_H1_DEFAULT_MAX_HEADERS + 8u)

/* Appends the REQUEST for q (during on_request: q->head is read) to out:
 * method, target, host, the user's fields without hop-by-hop ones (those
 * RFC 9110 names, those its Connection lists, Expect, and the forwarding
 * fields the edge sets itself), then X-Forwarded-For, X-Forwarded-Proto and
 * Forwarded for q->client_ip. A WebSocket opening keeps Upgrade; an HTTP/2
 * extended CONNECT becomes the HTTP/1.1 GET + Upgrade an origin expects (with
 * a fresh Sec-WebSocket-Key). *pkind gets WR_TUNNEL_KIND_*, *phas_body
 * whether body bytes follow the head. 0, or WR_ERR_LIMIT/WR_ERR_INVAL (a
 * field too long or invalid for the tunnel; out is as before). */
WR_MUST_CHECK int wr_edge_request_encode(wr_buf *out, const wr_http_req *q, int *pkind,
                                         int *phas_body);

#endif
