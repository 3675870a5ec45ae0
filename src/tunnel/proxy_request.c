/* proxy_request.c: the request towards the origin: the HTTP/1.1 head built
 * from the edge's REQUEST, the body (chunk-framed when its length is not
 * known), and the start of the exchange on a ready connection. */
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "tunnel/proxy_internal.h"

/* Serialises the origin request head from the edge's REQUEST. */
int wr_proxy_build_head(wr_proxy *p, const wr_tunnel_request *req, const char *host) {
  size_t n = req->nheaders;
  wr_h1_header *hs = wr_malloc((n + 4) * sizeof *hs);
  if (!hs)
    return WR_ERR_NOMEM;
  size_t k = 0;
  int has_length = 0;
  hs[k++] = (wr_h1_header){{"Host", 4}, {host, strlen(host)}};
  for (size_t i = 0; i < n; i++) {
    const wr_h1_header *h = &req->headers[i];
    if (wr_h1_slice_eq_ci(h->name, "host") || wr_proxy_hop_by_hop(NULL, h->name, 0))
      continue;
    if (wr_h1_slice_eq_ci(h->name, "content-length"))
      has_length = 1;
    hs[k++] = *h;
  }
  if (p->websocket) {
    hs[k++] = (wr_h1_header){{"Connection", 10}, {"Upgrade", 7}};
    hs[k++] = (wr_h1_header){{"Upgrade", 7}, {"websocket", 9}};
  } else if ((req->flags & WR_TUNNEL_F_BODY) && !has_length) {
    p->req_chunked = 1;
    hs[k++] = (wr_h1_header){{"Transfer-Encoding", 17}, {"chunked", 7}};
  }
  int rv = wr_h1_write_request_head(&p->head, req->method, req->path, 1, hs, k);
  wr_free(hs);
  return rv;
}

/* Request body bytes towards the origin (chunk-framed when needed). */
int wr_proxy_send_body(wr_proxy *p, const uint8_t *data, size_t len) {
  if (!len)
    return 0;
  if (!p->req_chunked)
    return wr_origin_send(p, NULL, 0, data, len, NULL, len);
  char size[24];
  int n = snprintf(size, sizeof size, "%zx\r\n", len);
  return wr_origin_send(p, size, (size_t)n, data, len, "\r\n", len);
}

void wr_proxy_finish_body(wr_proxy *p) {
  if (p->req_done || !p->req_fin || !p->oc || p->oc->connecting)
    return;
  p->req_done = 1;
  if (p->websocket) { /* the user's end of a raw exchange: half-close the origin */
    wr_origin_shutdown(p->oc);
    return;
  }
  if (p->req_chunked && wr_origin_send(p, NULL, 0, NULL, 0, "0\r\n\r\n", 0) != 0)
    wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "out of memory");
}

void wr_proxy_start_exchange(wr_proxy *p) {
  origin_conn *oc = p->oc;
  oc->connecting = 0;
  oc->idle = 0;
  p->origin_paused = 0;
  if (wr_origin_read_start(oc) != 0 ||
      wr_origin_send(p, NULL, 0, p->head.data, p->head.len, NULL, 0) != 0) {
    wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_UNREACHABLE, "the origin connection failed");
    return;
  }
  if (p->early.len) {
    int rv = p->req_chunked
                 ? wr_proxy_send_body(p, p->early.data, p->early.len)
                 : wr_origin_send(p, NULL, 0, p->early.data, p->early.len, NULL, p->early.len);
    wr_buf_free(&p->early);
    if (rv) {
      wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "out of memory");
      return;
    }
  }
  wr_proxy_finish_body(p);
}
