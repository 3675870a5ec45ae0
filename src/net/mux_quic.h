/* mux_quic.h: QUIC connections behind the tunnel seam (mux.h).
 *
 * A client wraps the connection it dials; a server passes
 * wr_mux_quic_server_callbacks() and a listener as its wr_quic_server_config,
 * and every accepted connection reaches the listener's events wrapped. */
#ifndef WR_NET_MUX_QUIC_H
#define WR_NET_MUX_QUIC_H

#include "net/quic.h"
#include "net/mux.h"

/* What accepted connections start with: their events and user pointer. Must
 * outlive the endpoint. Initialise with wr_mux_quic_listener_init. */
typedef struct wr_mux_quic_listener {
  uint32_t magic;
  const wr_mux_events *ev;
  void *user;
} wr_mux_quic_listener;

void wr_mux_quic_listener_init(wr_mux_quic_listener *l, const wr_mux_events *ev, void *user);

/* The callbacks a server endpoint must use (wr_quic_server_config.callbacks,
 * with user_data = the listener). */
const wr_quic_callbacks *wr_mux_quic_server_callbacks(void);

/* Dials remote over ep and wraps the connection: events arrive on ev with
 * c->user == user. Errors as wr_quic_connect. */
WR_MUST_CHECK int wr_mux_quic_connect(wr_mux_conn **pc, wr_quic_endpoint *ep,
                                     const struct sockaddr *remote, const char *server_name,
                                     const wr_tls_client *tls, const wr_mux_events *ev,
                                     void *user);

/* The QUIC connection under a wrapped one (for QUIC-only figures). */
wr_quic_conn *wr_mux_quic_conn(const wr_mux_conn *c);

#endif
