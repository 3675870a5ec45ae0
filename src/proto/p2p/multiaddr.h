/* multiaddr.h: self-describing network addresses (multiformats multiaddr).
 *
 * Binary: a sequence of components, each varint(code) then the value: fixed
 * size for /ip4 (4 bytes), /ip6 (16), /tcp and /udp (2, big-endian), none
 * for /quic-v1, varint-length-prefixed for /dns /dns4 /dns6 (a name) and
 * /p2p (a peer ID multihash). Text: "/ip4/127.0.0.1/tcp/4001/p2p/12D3...".
 * Only those protocols are known; any other code or name is an error, so a
 * parsed address always prints back and every text that parses prints back
 * byte for byte (ip6 is printed in RFC 5952 form, and only that form is
 * accepted). */
#ifndef WR_PROTO_P2P_MULTIADDR_H
#define WR_PROTO_P2P_MULTIADDR_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/p2p/peerid.h"

enum {
  WR_MA_IP4 = 4,
  WR_MA_TCP = 6,
  WR_MA_UDP = 273,
  WR_MA_DNS = 53,
  WR_MA_DNS4 = 54,
  WR_MA_DNS6 = 55,
  WR_MA_IP6 = 41,
  WR_MA_P2P = 421,
  WR_MA_QUIC_V1 = 461, /* 0x01cd; 460 is the draft-29 /quic */
};

/* Longest binary multiaddr kept (a /dns name with a /p2p ID fits easily). */
#define WR_MA_MAX_BYTES 400
#define WR_MA_MAX_STR 1024

typedef struct wr_maddr {
  uint8_t bytes[WR_MA_MAX_BYTES];
  size_t len;
} wr_maddr;

/* One component; value points into the address. */
typedef struct wr_ma_comp {
  uint64_t code;
  const uint8_t *value;
  size_t len;
} wr_ma_comp;

/* Checks binary bytes and copies them into *ma. WR_ERR_MALFORMED (unknown
 * code, bad length, empty address, a name with '/' or bad peer ID),
 * WR_ERR_TRUNCATED, WR_ERR_LIMIT (longer than WR_MA_MAX_BYTES). */
WR_MUST_CHECK int wr_maddr_decode(const uint8_t *p, size_t n, wr_maddr *ma, const char **preason);
/* Parses text. Errors as wr_maddr_decode, with WR_ERR_MALFORMED for a bad
 * address, port or peer ID. */
WR_MUST_CHECK int wr_maddr_parse(const char *s, size_t n, wr_maddr *ma, const char **preason);
/* Text, NUL-terminated; returns the length or WR_ERR_LIMIT. */
WR_MUST_CHECK int wr_maddr_format(const wr_maddr *ma, char *out, size_t cap);
/* Walks components: *poff starts at 0; returns 1 with *pc set, 0 at the
 * end. ma must be valid (decoded or parsed). */
int wr_maddr_next(const wr_maddr *ma, size_t *poff, wr_ma_comp *pc);
/* Appends one component (value as binary). WR_ERR_LIMIT, WR_ERR_MALFORMED. */
WR_MUST_CHECK int wr_maddr_push(wr_maddr *ma, uint64_t code, const uint8_t *value, size_t len);
/* /ip4|ip6/ADDR/tcp/PORT from an IPv4 or IPv6 address in network order
 * (a v4-mapped IPv6 address becomes /ip4). */
WR_MUST_CHECK int wr_maddr_from_ip_tcp(wr_maddr *ma, int family, const uint8_t *ip, uint16_t port);
/* Reads /ip4|ip6/ADDR/tcp/PORT[/p2p/ID] at the start: family, 4 or 16 bytes
 * of ip, the port and (when present) the peer ID. WR_ERR_UNSUPPORTED for
 * any other shape (dns, udp). */
WR_MUST_CHECK int wr_maddr_to_ip_tcp(const wr_maddr *ma, int *pfamily, uint8_t ip[16],
                                     uint16_t *pport, wr_peerid *pid, int *phas_id);
/* /ip4|ip6/ADDR/tcp/PORT, or /ip4|ip6/ADDR/udp/PORT/quic-v1 when quic. */
WR_MUST_CHECK int wr_maddr_from_ip(wr_maddr *ma, int family, const uint8_t *ip, uint16_t port,
                                   int quic);
/* As wr_maddr_to_ip_tcp, also reading /udp/PORT/quic-v1 (then *pquic is 1). */
WR_MUST_CHECK int wr_maddr_to_ip(const wr_maddr *ma, int *pfamily, uint8_t ip[16], uint16_t *pport,
                                 int *pquic, wr_peerid *pid, int *phas_id);
/* The protocol's name ("ip4", ...) or NULL. */
const char *wr_ma_name(uint64_t code);

#endif
