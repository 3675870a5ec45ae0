/* cleanup.h: `warren tunnel cleanup`, the tunnel owner's side.
 *
 * cloudflared's `tunnel cleanup` asks Cloudflare's API to drop a tunnel's
 * connections. warren has no API: the owner dials the edge as a connector
 * does (QUIC or http2, the same TLS verification), answers the edge's PING
 * with PONG and, instead of REGISTER, sends CLEANUP with a proof of the
 * tunnel secret bound to this TLS session (docs/protocol.md). The edge
 * closes every connection of the tunnel (or of one connector) and answers
 * CLEANED with the count, or REGISTER_ERROR (wrong secret, unknown tunnel).
 * Only who holds the secret can do it, and a captured request cannot be
 * replayed on another session.
 *
 * A running connector dials again after its connections are closed, as after
 * any lost connection (cloudflared's does the same). */
#ifndef WR_TUNNEL_CLEANUP_H
#define WR_TUNNEL_CLEANUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/err.h"
#include "net/tls.h"
#include "proto/tunnel/tunnel.h"

typedef struct wr_cleanup_config {
  uv_loop_t *loop;             /* run by wr_tunnel_cleanup until it is done */
  const struct sockaddr *edge; /* the edge's address (QUIC UDP port = http2 TCP port) */
  const char *server_name;     /* name to verify the edge certificate against; NULL: the IP */
  const wr_tls_client *tls;    /* the edge's CA or pinned key */
  int protocol;                /* WR_CONNECTOR_AUTO, _QUIC or _HTTP2 (tunnel/connector.h) */
  uint8_t tunnel_id[WR_TUNNEL_ID_LEN];
  const uint8_t *secret;
  size_t secret_len;
  /* Only this connector's connections; all zero: every connector's. */
  uint8_t connector_id[WR_TUNNEL_ID_LEN];
  uint64_t timeout_ms; /* the whole exchange; default 10 s */
} wr_cleanup_config;

/* Dials the edge, asks for the cleanup and runs cfg->loop until the answer
 * (the loop must have no other handles). Returns 0 with *pclosed, the
 * connections the edge closed; else a sentence in why and WR_ERR_DENIED (the
 * edge refused the proof: not this tunnel's secret), WR_ERR_NOTFOUND (the
 * edge has no such tunnel), WR_ERR_TIMEOUT, WR_ERR_REFUSED (nothing
 * listens), WR_ERR_IO (the connection failed, or another refusal),
 * WR_ERR_NOMEM, WR_ERR_INVAL (a secret too short). With protocol auto a QUIC
 * attempt that gets no handshake is followed by one over http2. */
WR_MUST_CHECK int wr_cleanup_run(const wr_cleanup_config *cfg, uint64_t *pclosed, char *why,
                                 size_t whylen);

#endif
