/* twin_port.h: one port free for both TCP and UDP. The edge serves QUIC and
 * its HTTP/2 fallback on one port; asked for port 0, binding UDP first and
 * TCP to the same number fails whenever that number is already some TCP
 * socket's (an outgoing connection's ephemeral port, often, on a busy
 * host), so the number is chosen here, free for both, before either binds. */
#ifndef WR_IO_TWIN_PORT_H
#define WR_IO_TWIN_PORT_H

#include "io/addr.h"

/* Copies a (port 0) to out with a port that TCP and UDP could both bind
 * at that address a moment ago. 0, WR_ERR_ADDRINUSE (none found in a few
 * tries), WR_ERR_IO (the address cannot be bound at all). */
WR_MUST_CHECK int wr_twin_port_pick(const wr_addr *a, wr_addr *out);

#endif
