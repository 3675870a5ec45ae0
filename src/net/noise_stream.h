/* noise_stream.h: libp2p's Noise (proto/p2p/noise.h) as a filter over any
 * byte stream (io/stream.h), the way tls_stream puts TLS on one.
 *
 * The filter runs the XX handshake over the lower stream, checks the peer's
 * libp2p identity (its key's signature over the Noise static key) and then
 * carries the owner's bytes in Noise transport messages: a 2-byte
 * big-endian length, ChaCha20-Poly1305 ciphertext, at most 65535 bytes. A
 * fresh X25519 static key is drawn per connection (libp2p allows it: the
 * identity is the signed libp2p key, not the Noise key).
 *
 * Events: unlike TCP and TLS, both roles get on_connected, once the
 * handshake completed and the peer is verified (wr_noise_stream_peer says
 * who it is); writes before it answer WR_ERR_AGAIN. A failure ends the filter
 * with on_closed: WR_ERR_DENIED (signature or authentication), WR_ERR_MALFORMED
 * (bad frames), WR_ERR_TIMEOUT (handshake_timeout_ms), or the lower stream's
 * own err. Ownership, closing and backpressure follow tls_stream.h: the
 * filter takes over the lower stream (its events and user), closes it with
 * itself, and announces on_closed after the lower one's. */
#ifndef WR_NET_NOISE_STREAM_H
#define WR_NET_NOISE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/err.h"
#include "io/stream.h"
#include "proto/p2p/peerid.h"

#define WR_NOISE_STREAM_DEFAULT_WRITE_QUEUE (256 * 1024)
#define WR_NOISE_STREAM_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000

typedef struct wr_noise_stream_config {
  size_t write_queue_limit;      /* ciphertext queued before WR_ERR_AGAIN */
  uint64_t handshake_timeout_ms; /* from the filter's creation */
} wr_noise_stream_config;

/* Runs the handshake over lower (connected) as initiator (we dialed) or
 * responder with identity id (copied). early holds bytes already read from
 * lower that belong to the handshake (multistream-select may deliver them
 * with its last message); copied. 0 with *ps set; WR_ERR_NOMEM or WR_ERR_IO
 * (no randomness), and then lower was closed (its owner hears nothing
 * more of it). */
WR_MUST_CHECK int wr_noise_stream_new(wr_stream **ps, uv_loop_t *loop, wr_stream *lower,
                                      int initiator, const wr_p2p_privkey *id, const uint8_t *early,
                                      size_t earlylen, const wr_noise_stream_config *cfg,
                                      const wr_stream_events *ev, void *user);
/* 1 when s was made here. */
int wr_noise_stream_is(const wr_stream *s);
/* The verified remote peer (valid after on_connected). */
const wr_peerid *wr_noise_stream_peer(const wr_stream *s);
/* The stream below (NULL once it is gone). */
wr_stream *wr_noise_stream_lower(const wr_stream *s);

#endif
