/* proxy_response.c: the origin's response back to the edge: parsed
 * (proto/http/http1) into a RESPONSE and body bytes, held with the origin
 * paused while the stream cannot take more, raw after a 101 (WebSocket);
 * and whether the connection goes back to the pool. */
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "tunnel/proxy_internal.h"

/* Fields a proxy must not pass on (http1.h's list and what the origin's
 * Connection header names); a 101 keeps Upgrade and Connection. */
int wr_proxy_hop_by_hop(const wr_h1_head *h, wr_h1_slice name, int keep_upgrade) {
  if (keep_upgrade && (wr_h1_slice_eq_ci(name, "upgrade") || wr_h1_slice_eq_ci(name, "connection")))
    return 0;
  return wr_h1_is_hop_by_hop(h, name);
}

static int send_response_head(wr_proxy *p, const wr_h1_head *h) {
  wr_h1_header *hs = wr_malloc((h->nheaders + 1) * sizeof *hs);
  if (!hs)
    return WR_ERR_NOMEM;
  size_t n = 0;
  for (size_t i = 0; i < h->nheaders; i++)
    if (!wr_proxy_hop_by_hop(h, h->headers[i].name, h->status == 101))
      hs[n++] = h->headers[i];
  wr_tunnel_msg m = {.type = WR_TUNNEL_RESPONSE};
  m.u.response.status = (uint64_t)h->status;
  m.u.response.flags = (h->framing != WR_H1_BODY_NONE || h->status == 101) ? WR_TUNNEL_F_BODY : 0;
  m.u.response.headers = hs;
  m.u.response.nheaders = n;
  int rv = wr_proxy_send_msg(p, &m);
  wr_free(hs);
  if (h->status >= 200 || h->status == 101) {
    p->responded = 1;
    wr_proxy_count_status(p, h->status);
  }
  return rv;
}

/* Hands the origin connection back once the exchange is over: to the pool
 * when the origin keeps it alive and every request byte has been written,
 * closed when the origin will not reuse it or the request was cut short. */
void wr_proxy_release_origin(wr_proxy *p) {
  if (!p->oc || !p->resp_done)
    return;
  if (!p->reusable || !p->req_done)
    wr_origin_close(p->oc);
  else if (!p->oc->out.len)
    wr_origin_release_to_pool(p, 1);
  /* else: on_writable comes back here once the held bytes are out */
}

static void response_done(wr_proxy *p, int reusable) {
  uint64_t ms = (wr_now_ns() - p->started) / WR_NS_PER_MS;
  WR_DEBUG("Request served", "path=\"%s\" status=%d originService=%s durationMs=%llu", p->target,
           p->status, p->origin_name, (unsigned long long)ms);
  p->resp_done = 1;
  p->reusable = reusable;
  wr_proxy_release_origin(p);
  wr_proxy_end_stream(p);
}

static void pause_origin(wr_proxy *p, const uint8_t *rest, size_t len) {
  if (len && wr_buf_append(&p->in_pending, rest, len) != 0) {
    wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "response buffer limit");
    return;
  }
  if (!p->origin_paused && p->oc) {
    p->origin_paused = 1;
    wr_origin_read_stop(p->oc);
  }
}

/* Parses origin bytes and moves them to the stream until the stream's send
 * queue is full; then keeps the rest and stops reading the origin. */
void wr_proxy_pump_response(wr_proxy *p, const uint8_t *data, size_t len) {
  /* The parser is called even with no bytes left: a message's end (DONE)
   * comes as an event of its own after its last body bytes. */
  while (!p->stream_closed && !p->discard) {
    if (p->out_pending.len) {
      pause_origin(p, data, len);
      return;
    }
    if (p->upgraded) {
      if (len && wr_proxy_stream_send(p, data, len) != 0)
        wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "stream write failed");
      return;
    }
    size_t used = 0;
    wr_h1_event ev;
    int rv = wr_h1_parse(&p->rp, data, len, &used, &ev);
    data += used;
    len -= used;
    if (rv < 0) {
      WR_ERROR("The origin sent an invalid response", "error=\"%s\" originService=%s",
               wr_h1_parser_reason(&p->rp), p->origin_name);
      wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_RESPONSE, wr_h1_parser_reason(&p->rp));
      return;
    }
    switch (rv) {
    case WR_H1_EV_HEAD:
      if (send_response_head(p, ev.head) != 0) {
        wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "response head too large");
        return;
      }
      if (ev.head->status == 101)
        p->upgraded = 1;
      /* Remember it now: the head is gone by the time the message is DONE. */
      p->reusable = !!(ev.head->flags & WR_H1_F_KEEP_ALIVE);
      break;
    case WR_H1_EV_BODY:
      if (wr_proxy_stream_send(p, ev.data, ev.len) != 0) {
        wr_proxy_fail(p, WR_TUNNEL_ERR_INTERNAL, "stream write failed");
        return;
      }
      break;
    case WR_H1_EV_DONE:
      if (p->responded && !p->upgraded) {
        response_done(p, p->reusable);
        return;
      }
      break;
    case WR_H1_EV_PAUSED: /* after a 101: the rest is raw */
      p->upgraded = 1;
      break;
    default: /* NEED_MORE: every byte was used */
      return;
    }
  }
}

/* The origin closed its side (eof) or failed (why says how) while p used
 * the connection (oc, or NULL when it is already gone): the end of a
 * response read until EOF, the end of an upgraded exchange, or a failure. */
void wr_proxy_origin_ended(wr_proxy *p, origin_conn *oc, int eof, const char *why) {
  if (p->upgraded) {
    wr_origin_close(oc);
    wr_proxy_end_stream(p);
    return;
  }
  wr_h1_event ev;
  int rv = eof ? wr_h1_parser_finish(&p->rp, &ev) : WR_ERR_IO;
  if (rv == WR_H1_EV_DONE && p->responded) {
    response_done(p, 0);
    return;
  }
  if (eof)
    why = "the origin closed the connection before the response ended";
  WR_ERROR("Origin connection failed", "error=\"%s\" originService=%s", why, p->origin_name);
  wr_proxy_fail(p, WR_TUNNEL_ERR_ORIGIN_RESPONSE, why);
}
