/* proxy_local.c: the built-in services, answered without an origin. */
#include <stdio.h>
#include <string.h>

#include "tunnel/proxy_internal.h"

static const char HELLO_BODY[] =
    "Hello from warren!\n\n"
    "This page comes from the connector's built-in hello_world service: your\n"
    "request went through the edge and the tunnel to the connector.\n";

/* Answers with status and body (a static string) without an origin. */
static void respond_locally(wr_proxy *p, int status, const char *body) {
  char len[24];
  snprintf(len, sizeof len, "%zu", strlen(body));
  wr_h1_header hs[2] = {{{"Content-Type", 12}, {"text/plain; charset=utf-8", 25}},
                        {{"Content-Length", 14}, {len, strlen(len)}}};
  wr_tunnel_msg m = {.type = WR_TUNNEL_RESPONSE};
  m.u.response.status = (uint64_t)status;
  m.u.response.flags = *body ? WR_TUNNEL_F_BODY : 0;
  m.u.response.headers = hs;
  m.u.response.nheaders = 2;
  p->responded = 1;
  p->discard = 1;
  wr_proxy_count_status(p, status);
  if (wr_proxy_send_msg(p, &m) != 0 || wr_proxy_stream_send(p, body, strlen(body)) != 0) {
    wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "stream write failed");
    return;
  }
  p->resp_done = 1;
  wr_proxy_end_stream(p);
}

int wr_proxy_serve_builtin(wr_proxy *p) {
  switch (p->svc->type) {
  case WR_SERVICE_HELLO_WORLD:
    respond_locally(p, 200, HELLO_BODY);
    return 1;
  case WR_SERVICE_HTTP_STATUS:
    respond_locally(p, p->svc->status, "");
    return 1;
  case WR_SERVICE_HTTPS:
  case WR_SERVICE_UNIX_TLS:
  case WR_SERVICE_UNIX:
  case WR_SERVICE_HTTP:
    break;
  }
  return 0;
}
