/* Fuzzes what a QUIC server endpoint does with datagrams from the network:
 * dispatch by connection ID, Initial acceptance, Retry tokens, version
 * negotiation, stateless resets, and ngtcp2's packet decoding behind them.
 * The first input byte picks the peer port (so inputs can reach the same
 * "client" again), the rest is one datagram. Replies go out on loopback. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "net/quic.h"
#include "net/tls.h"

static uv_loop_t loop;
static wr_quic_endpoint *ep;
static struct sockaddr_in local;

static void setup(void) {
  char dir[] = "/tmp/wr_quic_fuzz.XXXXXX", err[WR_TLS_ERRLEN], crt[64], key[64];
  wr_tls_server *tls = NULL;
  wr_log_set_level(WR_LOG_ERROR);
  if (!mkdtemp(dir) || wr_tls_self_signed_ensure(dir, NULL, 0, NULL, err, sizeof err) != 0)
    abort();
  snprintf(crt, sizeof crt, "%s/%s", dir, WR_TLS_SELF_SIGNED_CERT);
  snprintf(key, sizeof key, "%s/%s", dir, WR_TLS_SELF_SIGNED_KEY);
  if (wr_tls_server_new(&tls, crt, key, err, sizeof err) != 0)
    abort();
  unlink(crt);
  unlink(key);
  rmdir(dir);
  uv_loop_init(&loop);
  memset(&local, 0, sizeof local);
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  wr_quic_config cfg = {.alpn = "warren-fuzz/1", .handshake_timeout_ms = 200};
  /* A threshold of 2 exercises both the Retry and the direct accept path. */
  wr_quic_server_config sc = {.tls = tls, .max_connections = 64, .retry_threshold = 2};
  if (wr_quic_endpoint_new(&ep, &loop, (struct sockaddr *)&local, &cfg, &sc) != 0)
    abort();
  struct sockaddr_storage ss;
  if (wr_quic_endpoint_local_addr(ep, &ss) != 0)
    abort();
  local.sin_port = ((struct sockaddr_in *)&ss)->sin_port;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!ep)
    setup();
  if (size < 1 || size > 4096)
    return 0;
  struct sockaddr_in peer = local;
  peer.sin_port = htons((uint16_t)(40000 + data[0])); /* nobody listens there */
  wr_quic_endpoint_inject(ep, data + 1, size - 1, (struct sockaddr *)&local,
                          (struct sockaddr *)&peer);
  uv_run(&loop, UV_RUN_NOWAIT); /* timers: writes, handshake timeouts */
  wr_quic_endpoint_stats st;
  wr_quic_endpoint_get_stats(ep, &st);
  if (st.conns_open > 64 || st.handshakes_in_progress > st.conns_open)
    abort();
  return 0;
}
