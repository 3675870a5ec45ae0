/* multistream.h: multistream-select 1.0 (libp2p specs, connections/).
 *
 * A message is varint(length) then length bytes: a UTF-8 line ending in
 * '\n' (the length counts it). Both sides first send "/multistream/1.0.0";
 * the dialer proposes a protocol, the listener echoes it to accept or
 * answers "na", and the dialer may propose the next. "ls" is not offered.
 *
 * wr_ms is a sans-I/O negotiator for one side of one negotiation: feed it
 * received bytes (wr_ms_input), send what it appends to out, and stop when
 * it answers WR_MS_DONE; bytes after the last message belong to the
 * selected protocol (consumed says where they start). */
#ifndef WR_PROTO_P2P_MULTISTREAM_H
#define WR_PROTO_P2P_MULTISTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_MS_PROTOCOL "/multistream/1.0.0"
/* Longest message accepted, line and newline (go and js cap near 1 KiB). */
#define WR_MS_MAX_MSG 1024
#define WR_MS_MAX_PROTO 256
/* A listener answers "na" this many times before giving up. */
#define WR_MS_MAX_PROPOSALS 16

/* Appends one message carrying line (without its '\n'). WR_ERR_INVAL for a
 * line longer than WR_MS_MAX_MSG - 1 or holding '\n'. */
WR_MUST_CHECK int wr_ms_put(wr_buf *out, const char *line);
/* Reads one message at p: 0 with *pline and *plen (without the '\n') and
 * *pconsumed; WR_ERR_TRUNCATED when more bytes are needed; WR_ERR_MALFORMED
 * (no '\n' at the end, a '\n' inside, empty), WR_ERR_LIMIT (too long). */
WR_MUST_CHECK int wr_ms_decode(const uint8_t *p, size_t n, const char **pline, size_t *plen,
                               size_t *pconsumed, const char **preason);

enum { WR_MS_MORE = 0, WR_MS_DONE = 1 };

/* Says whether the listener supports a protocol. */
typedef int (*wr_ms_supports_fn)(void *ctx, const char *proto);

typedef struct wr_ms {
  int listener;
  int state;
  unsigned proposals;
  const char *const *offers; /* dialer: protocols to try, in order */
  size_t noffers, next_offer;
  wr_ms_supports_fn supports;
  void *ctx;
  char selected[WR_MS_MAX_PROTO];
} wr_ms;

/* A dialer proposing offers[0..n) in order (the array must outlive it); the
 * header and the first proposal go into out at once. */
WR_MUST_CHECK int wr_ms_dialer_init(wr_ms *ms, const char *const *offers, size_t n, wr_buf *out);
/* A listener accepting what supports says yes to; the header goes into out. */
WR_MUST_CHECK int wr_ms_listener_init(wr_ms *ms, wr_ms_supports_fn supports, void *ctx,
                                      wr_buf *out);
/* Feeds received bytes; *pconsumed says how many were taken (the rest are
 * the protocol's, or wait for more). WR_MS_MORE, WR_MS_DONE (ms->selected
 * holds the protocol), or an error: WR_ERR_NOTFOUND (the listener refused
 * every offer), WR_ERR_MALFORMED, WR_ERR_LIMIT (too many proposals), with
 * *preason. */
WR_MUST_CHECK int wr_ms_input(wr_ms *ms, const uint8_t *p, size_t n, size_t *pconsumed, wr_buf *out,
                              const char **preason);

#endif
