/* kad.h: the Kademlia DHT's wire message (libp2p specs, kad-dht/) and the
 * keyspace arithmetic the DHT runs on.
 *
 * message Record { bytes key = 1; bytes value = 2; string timeReceived = 5; }
 * message Message {
 *   enum MessageType { PUT_VALUE = 0; GET_VALUE = 1; ADD_PROVIDER = 2;
 *                      GET_PROVIDERS = 3; FIND_NODE = 4; PING = 5; }
 *   enum ConnectionType { NOT_CONNECTED = 0; CONNECTED = 1; CAN_CONNECT = 2;
 *                         CANNOT_CONNECT = 3; }
 *   message Peer { bytes id = 1; repeated bytes addrs = 2;
 *                  ConnectionType connection = 3; }
 *   MessageType type = 1; int32 clusterLevelRaw = 10; bytes key = 2;
 *   Record record = 3; repeated Peer closerPeers = 8;
 *   repeated Peer providerPeers = 9; }
 *
 * On a stream of /ipfs/kad/1.0.0 every message is prefixed with its length
 * as an unsigned varint; a message is at most 4 MiB (go-libp2p-kad-dht's
 * and js's limit). Decoding points into the input and copies nothing.
 * Unknown fields are skipped (protobuf's rule, so newer peers still parse);
 * a known field with the wrong wire type, a singular field given twice, an
 * unknown message type, or more peers or addresses than the caps below are
 * errors with a reason. Peer IDs and addresses inside are not interpreted
 * here: the DHT checks them with peerid and multiaddr.
 *
 * The keyspace: a key's position is SHA-256 of its bytes (for a peer, of its
 * peer ID's multihash bytes; for content, of the CID's multihash bytes), and
 * distance is the XOR of two positions read as a big-endian number. */
#ifndef WR_PROTO_P2P_KAD_H
#define WR_PROTO_P2P_KAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/p2p/identify.h" /* wr_bytes */

#define WR_KAD_PROTOCOL "/ipfs/kad/1.0.0"
#define WR_KAD_MAX_MSG (4u << 20)
/* Peers in closerPeers or providerPeers of one message, and addresses per
 * peer. Implementations send k = 20 closer peers; providers are capped by
 * the sender too (20 in go and js). */
#define WR_KAD_MAX_PEERS 64
#define WR_KAD_MAX_ADDRS 32
#define WR_KAD_KEY_BYTES 32

enum wr_kad_type {
  WR_KAD_PUT_VALUE = 0,
  WR_KAD_GET_VALUE = 1,
  WR_KAD_ADD_PROVIDER = 2,
  WR_KAD_GET_PROVIDERS = 3,
  WR_KAD_FIND_NODE = 4,
  WR_KAD_PING = 5,
};

enum wr_kad_conn {
  WR_KAD_NOT_CONNECTED = 0,
  WR_KAD_CONNECTED = 1,
  WR_KAD_CAN_CONNECT = 2,
  WR_KAD_CANNOT_CONNECT = 3,
};

typedef struct wr_kad_peer {
  wr_bytes id;                      /* peer ID multihash bytes */
  wr_bytes addrs[WR_KAD_MAX_ADDRS]; /* binary multiaddrs */
  size_t naddrs;
  int connection; /* enum wr_kad_conn */
} wr_kad_peer;

typedef struct wr_kad_record {
  wr_bytes key, value, time_received; /* time_received: RFC 3339 text */
} wr_kad_record;

typedef struct wr_kad_msg {
  int type; /* enum wr_kad_type */
  int32_t cluster_level;
  wr_bytes key;
  int has_record;
  wr_kad_record record;
  wr_kad_peer closer[WR_KAD_MAX_PEERS];
  size_t ncloser;
  wr_kad_peer providers[WR_KAD_MAX_PEERS];
  size_t nproviders;
} wr_kad_msg;

/* Decodes one message (without its length prefix). WR_ERR_MALFORMED or
 * WR_ERR_LIMIT with *preason (may be NULL). */
WR_MUST_CHECK int wr_kad_decode(const uint8_t *p, size_t n, wr_kad_msg *m, const char **preason);
/* Appends the message: fields in number order, empty ones and a zero type
 * or cluster level left out (proto3's defaults). Errors as wr_buf_append. */
WR_MUST_CHECK int wr_kad_encode(const wr_kad_msg *m, wr_buf *out);
/* Appends the varint length, then the message. */
WR_MUST_CHECK int wr_kad_encode_frame(const wr_kad_msg *m, wr_buf *out);
/* Finds the first framed message in p[0..n): 0 with *pmsg and *pmsglen set and
 * *pconsumed the bytes of prefix and message; WR_ERR_AGAIN when more bytes
 * are needed; WR_ERR_LIMIT (longer than WR_KAD_MAX_MSG) or WR_ERR_MALFORMED
 * (a bad varint) with *preason. */
WR_MUST_CHECK int wr_kad_frame_next(const uint8_t *p, size_t n, const uint8_t **pmsg,
                                    size_t *pmsglen, size_t *pconsumed, const char **preason);
/* The type's name ("FIND_NODE") or "?" */
const char *wr_kad_type_name(int type);

/* A key's position in the keyspace: SHA-256 of its bytes. */
void wr_kad_key(const void *p, size_t n, uint8_t out[WR_KAD_KEY_BYTES]);
/* out = a XOR b. */
void wr_kad_distance(const uint8_t a[WR_KAD_KEY_BYTES], const uint8_t b[WR_KAD_KEY_BYTES],
                     uint8_t out[WR_KAD_KEY_BYTES]);
/* <0, 0, >0 as a is nearer to target than b, as near, farther. */
int wr_kad_closer(const uint8_t target[WR_KAD_KEY_BYTES], const uint8_t a[WR_KAD_KEY_BYTES],
                  const uint8_t b[WR_KAD_KEY_BYTES]);
/* Leading bits a and b share (0..256); the routing table's bucket index. */
unsigned wr_kad_common_prefix(const uint8_t a[WR_KAD_KEY_BYTES], const uint8_t b[WR_KAD_KEY_BYTES]);

#endif
