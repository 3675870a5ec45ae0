/* tunnel.h: warren's tunnel wire protocol (ALPN "warren-tunnel/1").
 *
 * docs/protocol.md describes every byte; this module encodes and decodes it.
 * Sans-I/O: messages are encoded into a wr_buf and decoded from bytes fed in
 * any split. The transport (QUIC now, HTTP/2 later) carries them on streams:
 *
 *   control stream (the edge's first stream; it opens with a PING):
 *     connector -> edge  PONG, REGISTER, then PING/PONG, UNREGISTER
 *     edge -> connector  REGISTERED or REGISTER_ERROR, then PING/PONG, UNREGISTER
 *   or, for `tunnel cleanup` (a connection that never registers):
 *     owner -> edge      PONG, CLEANUP
 *     edge -> owner      CLEANED or REGISTER_ERROR
 *   request streams (opened by the edge, one per proxied request):
 *     edge -> connector  REQUEST, then raw request body bytes until FIN
 *     connector -> edge  RESPONSE (1xx interim ones first, if any) or
 *                        STREAM_ERROR, then raw response body bytes until FIN
 *   A stream reset aborts a body with a WR_TUNNEL_RESET_* code.
 *
 * Every message is  type (varint) | length (varint) | payload[length], with
 * the minimal unsigned LEB128 varints of proto/varint.h. */
#ifndef WR_PROTO_TUNNEL_TUNNEL_H
#define WR_PROTO_TUNNEL_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/http/http1.h"

#define WR_TUNNEL_ALPN "warren-tunnel/1"
/* TLS exporter (RFC 8446 7.5 / RFC 5705) the registration proof binds to:
 * this label, an empty context, 32 bytes. */
#define WR_TUNNEL_EXPORTER_LABEL "EXPORTER-warren-tunnel-register"
#define WR_TUNNEL_EXPORTER_LEN 32
#define WR_TUNNEL_PROOF_LEN 32
#define WR_TUNNEL_ID_LEN 16
/* Tunnel secrets shorter than this are refused (cloudflared's are 32 bytes). */
#define WR_TUNNEL_MIN_SECRET 16

/* Message types. */
enum {
  WR_TUNNEL_REGISTER = 0x01,
  WR_TUNNEL_REGISTERED = 0x02,
  WR_TUNNEL_REGISTER_ERROR = 0x03,
  WR_TUNNEL_UNREGISTER = 0x04,
  WR_TUNNEL_PING = 0x05,
  WR_TUNNEL_PONG = 0x06,
  WR_TUNNEL_CLEANUP = 0x07, /* the tunnel's owner: close the tunnel's connections */
  WR_TUNNEL_CLEANED = 0x08, /* the edge: how many it closed */
  WR_TUNNEL_REQUEST = 0x10,
  WR_TUNNEL_RESPONSE = 0x11,
  WR_TUNNEL_STREAM_ERROR = 0x12,
};

/* REGISTER_ERROR codes: why the edge refused a registration. */
enum {
  WR_TUNNEL_REG_UNAUTHORIZED = 1,  /* the proof does not verify (wrong secret) */
  WR_TUNNEL_REG_UNKNOWN_TUNNEL = 2, /* the edge has no such tunnel */
  WR_TUNNEL_REG_PROTOCOL = 3,      /* malformed or unexpected message */
  WR_TUNNEL_REG_DUPLICATE = 4,     /* that connection index is live elsewhere */
  WR_TUNNEL_REG_OVERLOADED = 5,    /* the edge takes no more connections now */
  WR_TUNNEL_REG_INTERNAL = 6,
};

/* STREAM_ERROR codes: why the connector answers no response. */
enum {
  WR_TUNNEL_ERR_ORIGIN_UNREACHABLE = 1, /* connecting to the origin failed (edge: 502) */
  WR_TUNNEL_ERR_NO_INGRESS = 2,         /* no ingress rule matches (edge: 404) */
  WR_TUNNEL_ERR_ORIGIN_TIMEOUT = 3,     /* the origin did not answer in time (edge: 504) */
  WR_TUNNEL_ERR_BAD_REQUEST = 4,        /* the request cannot be sent on (edge: 400) */
  WR_TUNNEL_ERR_ORIGIN_RESPONSE = 5,    /* the origin's response was invalid (edge: 502) */
  WR_TUNNEL_ERR_OVERLOADED = 6,         /* (edge: 503) */
  WR_TUNNEL_ERR_INTERNAL = 7,           /* (edge: 502) */
};

/* Application error codes for RESET_STREAM / STOP_SENDING on request streams. */
enum {
  WR_TUNNEL_RESET_NO_ERROR = 0x0,
  WR_TUNNEL_RESET_INTERNAL = 0x1,
  WR_TUNNEL_RESET_PROTOCOL = 0x2,      /* the peer broke this protocol on the stream */
  WR_TUNNEL_RESET_CANCELLED = 0x3,     /* the result is not wanted any more */
  WR_TUNNEL_RESET_ORIGIN_FAILED = 0x4, /* the origin connection broke mid-body */
  WR_TUNNEL_RESET_CLIENT_FAILED = 0x5, /* the user's connection broke mid-body */
};

/* Application error codes for CONNECTION_CLOSE. */
enum {
  WR_TUNNEL_CLOSE_NO_ERROR = 0x100,
  WR_TUNNEL_CLOSE_PROTOCOL = 0x101,
  WR_TUNNEL_CLOSE_REGISTRATION_FAILED = 0x102, /* after REGISTER_ERROR */
  WR_TUNNEL_CLOSE_REGISTRATION_TIMEOUT = 0x103,
  WR_TUNNEL_CLOSE_GOING_AWAY = 0x104,
  WR_TUNNEL_CLOSE_CLEANED_UP = 0x105, /* closed by the tunnel's owner (tunnel cleanup) */
};

/* REQUEST kinds. */
enum {
  WR_TUNNEL_KIND_HTTP = 1,
  WR_TUNNEL_KIND_WEBSOCKET = 2,
  WR_TUNNEL_KIND_TCP = 3,
};

/* REQUEST and RESPONSE flags; receivers ignore bits they do not know. */
#define WR_TUNNEL_F_BODY 0x1u            /* body bytes follow the head before FIN */
#define WR_TUNNEL_F_TLS 0x2u             /* REQUEST: the user connected over TLS */
#define WR_TUNNEL_F_EXPECT_CONTINUE 0x4u /* REQUEST: the user sent Expect: 100-continue */

/* Limits of fields, checked by both encoder and decoder. */
#define WR_TUNNEL_MAX_SHORT_STRING 64u   /* version, location, method */
#define WR_TUNNEL_MAX_REASON 1024u
#define WR_TUNNEL_MAX_DEST 1024u
#define WR_TUNNEL_MAX_HEADER_NAME 256u
#define WR_TUNNEL_DEFAULT_MAX_PAYLOAD (96u * 1024u)
#define WR_TUNNEL_DEFAULT_MAX_HEADERS 256u

typedef struct wr_tunnel_register {
  uint8_t tunnel_id[WR_TUNNEL_ID_LEN];    /* the tunnel's UUID, binary */
  uint8_t connector_id[WR_TUNNEL_ID_LEN]; /* random per connector process */
  uint32_t conn_index;                    /* 0..65535: which HA connection */
  uint64_t features;                      /* none defined yet: 0 */
  wr_h1_slice version;                    /* connector version, e.g. "warren 0.1" */
  uint8_t proof[WR_TUNNEL_PROOF_LEN];     /* wr_tunnel_proof */
} wr_tunnel_register;

typedef struct wr_tunnel_registered {
  uint8_t connection_id[WR_TUNNEL_ID_LEN]; /* the edge's id for this connection */
  wr_h1_slice location;                    /* edge location name, e.g. "edge-1" */
  uint64_t features;
} wr_tunnel_registered;

/* REGISTER_ERROR, UNREGISTER (code 0: graceful) and STREAM_ERROR. */
typedef struct wr_tunnel_error {
  uint64_t code;
  wr_h1_slice reason; /* a sentence for the log, may be empty */
} wr_tunnel_error;

typedef struct wr_tunnel_ping {
  uint8_t data[8]; /* opaque; PONG echoes it */
} wr_tunnel_ping;

/* CLEANUP: close the connections of a tunnel at this edge, of every
 * connector or of one. Sent instead of REGISTER by a connection that proves
 * the tunnel secret the same way (wr_tunnel_cleanup_proof). */
typedef struct wr_tunnel_cleanup {
  uint8_t tunnel_id[WR_TUNNEL_ID_LEN];
  /* Only this connector's connections; all zero (no connector's ID, which
   * is a random UUID v4): every connector's. */
  uint8_t connector_id[WR_TUNNEL_ID_LEN];
  uint8_t proof[WR_TUNNEL_PROOF_LEN];
} wr_tunnel_cleanup;

/* CLEANED: the answer to CLEANUP. */
typedef struct wr_tunnel_cleaned {
  uint64_t closed; /* connections the edge closed */
} wr_tunnel_cleaned;

typedef struct wr_tunnel_request {
  uint64_t kind;      /* WR_TUNNEL_KIND_* */
  uint64_t flags;     /* WR_TUNNEL_F_* */
  wr_h1_slice dest;   /* host[:port]: the Host for http/websocket, the target for tcp */
  wr_h1_slice method; /* token; empty for tcp */
  wr_h1_slice path;   /* request-target; empty for tcp */
  const wr_h1_header *headers;
  size_t nheaders;
} wr_tunnel_request;

typedef struct wr_tunnel_response {
  uint64_t status; /* 100..599; 1xx are interim (101 for websocket) */
  uint64_t flags;  /* WR_TUNNEL_F_BODY */
  const wr_h1_header *headers;
  size_t nheaders;
} wr_tunnel_response;

typedef struct wr_tunnel_msg {
  uint64_t type; /* WR_TUNNEL_* message type */
  union {
    wr_tunnel_register reg;
    wr_tunnel_registered registered;
    wr_tunnel_error error; /* REGISTER_ERROR, UNREGISTER, STREAM_ERROR */
    wr_tunnel_ping ping;   /* PING, PONG */
    wr_tunnel_cleanup cleanup;
    wr_tunnel_cleaned cleaned;
    wr_tunnel_request request;
    wr_tunnel_response response;
  } u;
} wr_tunnel_msg;

typedef struct wr_tunnel_limits {
  size_t max_payload; /* 0: WR_TUNNEL_DEFAULT_MAX_PAYLOAD */
  size_t max_headers; /* 0: WR_TUNNEL_DEFAULT_MAX_HEADERS */
} wr_tunnel_limits;

/* "REGISTER", "RESPONSE", ...; "unknown" otherwise. */
const char *wr_tunnel_msg_name(uint64_t type);

/* Appends m, complete, to out. Validates every field first (tokens, no
 * control characters, ranges, the limits above): WR_ERR_INVAL; a payload over
 * WR_TUNNEL_DEFAULT_MAX_PAYLOAD or more than WR_TUNNEL_DEFAULT_MAX_HEADERS
 * headers: WR_ERR_LIMIT; WR_ERR_LIMIT/NOMEM from out. On error out keeps its
 * old length. */
WR_MUST_CHECK int wr_tunnel_encode(wr_buf *out, const wr_tunnel_msg *m);

/* Parses one message at the start of p[0..n). Returns 0 with *m and
 * *pconsumed set; WR_ERR_TRUNCATED when more bytes are needed; WR_ERR_MALFORMED
 * or WR_ERR_LIMIT with *preason (static) otherwise. Slices in *m point into p;
 * headers are written to hdrs (room for lim->max_headers). lim may be NULL. */
WR_MUST_CHECK int wr_tunnel_parse(const uint8_t *p, size_t n, const wr_tunnel_limits *lim,
                                  wr_h1_header *hdrs, wr_tunnel_msg *m, size_t *pconsumed,
                                  const char **preason);

/* An incremental decoder for one stream's messages. */
typedef struct wr_tunnel_decoder {
  wr_tunnel_limits lim;
  wr_buf buf;          /* a partial message */
  int stale;           /* buf backs the last message: empty it on the next call */
  wr_h1_header *hdrs;  /* lim.max_headers entries */
  int error;
  const char *reason;
} wr_tunnel_decoder;

/* lim NULL or zero fields: defaults. WR_ERR_NOMEM. Free with _free. */
WR_MUST_CHECK int wr_tunnel_decoder_init(wr_tunnel_decoder *d, const wr_tunnel_limits *lim);
void wr_tunnel_decoder_free(wr_tunnel_decoder *d);

/* Consumes a prefix of data, never past the end of one message. Returns 1
 * with *m filled when a message is complete (bytes after it, e.g. a body,
 * are left to the caller: see *pconsumed), 0 when all of data was consumed
 * and more is needed, or a sticky negative error (WR_ERR_MALFORMED,
 * WR_ERR_LIMIT, WR_ERR_NOMEM) with wr_tunnel_decoder_reason. Slices in *m
 * point into data or into the decoder and stay valid until the next call. */
WR_MUST_CHECK int wr_tunnel_decode(wr_tunnel_decoder *d, const uint8_t *data, size_t len,
                                   size_t *pconsumed, wr_tunnel_msg *m);

/* 1 when no partial message is buffered (a FIN here is clean). */
int wr_tunnel_decoder_idle(const wr_tunnel_decoder *d);
const char *wr_tunnel_decoder_reason(const wr_tunnel_decoder *d);

/* Which messages may arrive when, on one stream, seen by its receiver. */
typedef enum wr_tunnel_stream_role {
  WR_TUNNEL_CONTROL_AT_EDGE = 0,  /* the edge reading the control stream */
  WR_TUNNEL_CONTROL_AT_CONNECTOR, /* the connector reading the control stream */
  WR_TUNNEL_REQUEST_AT_CONNECTOR, /* the connector reading a request stream */
  WR_TUNNEL_REQUEST_AT_EDGE,      /* the edge reading a request stream's answer */
} wr_tunnel_stream_role;

typedef struct wr_tunnel_seq {
  wr_tunnel_stream_role role;
  int state;
} wr_tunnel_seq;

void wr_tunnel_seq_init(wr_tunnel_seq *s, wr_tunnel_stream_role role);

/* Checks that m may arrive now (docs/protocol.md, "Messages"). Returns 0
 * when more messages follow, 1 when m ends the message phase of the stream
 * (REQUEST; a final RESPONSE or STREAM_ERROR; REGISTER_ERROR; CLEANUP and
 * CLEANED, which stand in for REGISTER and its answer): what follows
 * is raw body bytes, or nothing. WR_ERR_MALFORMED with *preason (static) for
 * a message out of place: answer with the PROTOCOL reset or close code. */
WR_MUST_CHECK int wr_tunnel_seq_next(wr_tunnel_seq *s, const wr_tunnel_msg *m,
                                     const char **preason);

/* The registration proof: HMAC-SHA256 keyed by the tunnel secret over
 *   "warren-tunnel/1 register" | exporter (32) | tunnel_id (16) |
 *   connector_id (16) | conn_index (4 bytes, big endian)
 * where exporter is the TLS exporter value of the connection
 * (WR_TUNNEL_EXPORTER_LABEL, empty context, 32 bytes), so a captured
 * REGISTER verifies on no other TLS session. WR_ERR_INVAL for a secret
 * shorter than WR_TUNNEL_MIN_SECRET. */
WR_MUST_CHECK int wr_tunnel_proof(uint8_t out[WR_TUNNEL_PROOF_LEN], const uint8_t *secret,
                                  size_t secret_len,
                                  const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN],
                                  const uint8_t tunnel_id[WR_TUNNEL_ID_LEN],
                                  const uint8_t connector_id[WR_TUNNEL_ID_LEN],
                                  uint32_t conn_index);

/* Verifies reg->proof in constant time: 0, or WR_ERR_DENIED (wrong secret,
 * another session's exporter, another tunnel or index), WR_ERR_INVAL (secret
 * too short). */
WR_MUST_CHECK int wr_tunnel_proof_verify(const wr_tunnel_register *reg, const uint8_t *secret,
                                         size_t secret_len,
                                         const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN]);

/* The cleanup proof: HMAC-SHA256 keyed by the tunnel secret over
 *   "warren-tunnel/1 cleanup" | exporter (32) | tunnel_id (16) |
 *   connector_id (16)
 * with the same exporter as the registration proof; the different context
 * string keeps a REGISTER's proof from passing as a CLEANUP's. WR_ERR_INVAL
 * for a secret shorter than WR_TUNNEL_MIN_SECRET. */
WR_MUST_CHECK int wr_tunnel_cleanup_proof(uint8_t out[WR_TUNNEL_PROOF_LEN], const uint8_t *secret,
                                          size_t secret_len,
                                          const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN],
                                          const uint8_t tunnel_id[WR_TUNNEL_ID_LEN],
                                          const uint8_t connector_id[WR_TUNNEL_ID_LEN]);

/* Verifies cl->proof in constant time: 0, WR_ERR_DENIED or WR_ERR_INVAL, as
 * wr_tunnel_proof_verify. */
WR_MUST_CHECK int wr_tunnel_cleanup_proof_verify(const wr_tunnel_cleanup *cl,
                                                 const uint8_t *secret, size_t secret_len,
                                                 const uint8_t exporter[WR_TUNNEL_EXPORTER_LEN]);

/* 1 when a[0..n) == b[0..n), in time that depends only on n. */
int wr_tunnel_ct_equal(const void *a, const void *b, size_t n);

#endif
