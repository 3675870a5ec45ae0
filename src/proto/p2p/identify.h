/* identify.h: the libp2p identify message (libp2p specs, identify/).
 *
 * message Identify {
 *   optional string protocolVersion = 5; optional string agentVersion = 6;
 *   optional bytes publicKey = 1; repeated bytes listenAddrs = 2;
 *   optional bytes observedAddr = 4; repeated string protocols = 3;
 *   optional bytes signedPeerRecord = 8; }
 * It travels on /ipfs/id/1.0.0 (the listener answers and closes) and
 * /ipfs/id/push/1.0.0 (the dialer pushes and closes), prefixed with its
 * varint length. Decoding points into the input (nothing is copied) and
 * skips unknown fields, as protobuf readers must; wrong wire types, bad
 * lengths and more addresses or protocols than the caps are errors. */
#ifndef WR_PROTO_P2P_IDENTIFY_H
#define WR_PROTO_P2P_IDENTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_IDENTIFY_PROTOCOL "/ipfs/id/1.0.0"
#define WR_IDENTIFY_PUSH_PROTOCOL "/ipfs/id/push/1.0.0"
#define WR_IDENTIFY_MAX_MSG 8192
#define WR_IDENTIFY_MAX_ADDRS 64
#define WR_IDENTIFY_MAX_PROTOCOLS 128

typedef struct wr_bytes {
  const uint8_t *p;
  size_t n;
} wr_bytes;

typedef struct wr_identify {
  wr_bytes protocol_version, agent_version, public_key, observed_addr, signed_peer_record;
  wr_bytes listen_addrs[WR_IDENTIFY_MAX_ADDRS];
  size_t nlisten_addrs;
  wr_bytes protocols[WR_IDENTIFY_MAX_PROTOCOLS];
  size_t nprotocols;
} wr_identify;

/* Decodes one message (without the length prefix). WR_ERR_MALFORMED,
 * WR_ERR_LIMIT, with *preason. Strings are not NUL-terminated. */
WR_MUST_CHECK int wr_identify_decode(const uint8_t *p, size_t n, wr_identify *id,
                                     const char **preason);
/* Appends the message (fields in number order, empty ones left out). */
WR_MUST_CHECK int wr_identify_encode(const wr_identify *id, wr_buf *out);

#endif
