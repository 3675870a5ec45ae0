/* diag_quic.c: `warren diag quic` — a QUIC echo server and client on the
 * transport layer, to check reachability, certificates and throughput.
 *
 * --listen echoes every bidirectional stream back (FIN for FIN) and logs each
 * connection with the local address the client reached it on. --connect sends
 * N bytes on each of M streams, checks the echo by SHA-256 and prints one
 * result line. With --h3 both sides speak just enough HTTP/3 (a control stream
 * with SETTINGS, one request, one response) to interoperate with Debian's
 * ngtcp2 gtlsclient/gtlsserver. */
#include <arpa/inet.h>
#include <nettle/sha2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "io/udp.h"
#include "net/quic.h"
#include "net/tls.h"

#define CMD "diag quic"
#define DEFAULT_ALPN "warren-diag/1"
#define H3_BODY "hello from warren over HTTP/3\n"

static void usage(void) {
  printf(
      "Usage: warren diag quic --listen ADDR:PORT (--self-signed DIR | --cert CRT --key KEY)\n"
      "                        [--retry load|always|never] [--h3] [--sink] [--count N]\n"
      "       warren diag quic --connect ADDR:PORT (--ca FILE | --pin sha256:HEX)\n"
      "                        [--name NAME] [--bytes SIZE] [--streams N] [--sink]\n"
      "                        [--h3 [--path P]]\n"
      "       common: [--alpn LIST] [--idle-timeout MS] [--no-gso] [--timeout MS]\n\n"
      "A QUIC echo server and client on warren's transport layer (ngtcp2 + GnuTLS over\n"
      "the UDP datapath). The server answers from the address each client reached it on,\n"
      "so a server on 0.0.0.0 or [::] works whichever of the host's addresses is dialed.\n\n"
      "  --listen ADDR:PORT    echo every stream back; port 0 picks one (first line says)\n"
      "  --self-signed DIR     use DIR/edge.crt and DIR/edge.key, creating them if missing\n"
      "  --cert CRT --key KEY  PEM certificate chain and key\n"
      "  --retry MODE          address validation: load (Retry when many handshakes are in\n"
      "                        progress, default), always, never\n"
      "  --count N             (listen) exit after N connections closed\n"
      "  --connect ADDR:PORT   connect, send --bytes on each of --streams streams, check the\n"
      "                        echo by SHA-256; exit 0 when all of it came back intact\n"
      "  --ca FILE             trust the server if its chain verifies against FILE (a\n"
      "                        self-signed edge.crt is its own CA)\n"
      "  --pin sha256:HEX      trust the server by certificate or key fingerprint (the\n"
      "                        listener prints its fingerprint)\n"
      "  --name NAME           name to verify the certificate against (default: the IP)\n"
      "  --bytes SIZE          bytes per stream (default 1M; 0 = handshake only)\n"
      "  --streams N           parallel streams (default 1)\n"
      "  --sink                one way: the server reads each stream and answers only with\n"
      "                        the SHA-256 of what it got (give --sink to both sides); the\n"
      "                        client then reports upload throughput\n"
      "  --h3                  speak minimal HTTP/3 (ALPN h3): the client GETs --path\n"
      "                        (default /) and prints status and body hash; the server\n"
      "                        answers every request with 200 and a short body, or with\n"
      "                        --bytes SIZE of a fixed pattern (byte i = (i*2654435761)>>11)\n"
      "  --alpn LIST           comma-separated ALPN (default " DEFAULT_ALPN ", h3 with --h3)\n"
      "  --idle-timeout MS     idle timeout (default 30000)\n"
      "  --no-gso              one datagram per send call (no UDP GSO)\n"
      "  --timeout MS          (connect) give up after MS (default 30000)\n"
      "  -h, --help            this help\n");
}

typedef struct stream_state {
  wr_buf pending; /* echo: bytes not yet queued back */
  int fin, ended;
  /* client */
  uint64_t sent, received;
  struct sha256_ctx rx;
  int done;
  int is_control; /* h3: a peer uni stream whose first byte is 0x00 */
  int serving;    /* h3 server: streaming a --bytes body */
  wr_buf h3;      /* h3 client: the response bytes */
} stream_state;

typedef struct diag {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t deadline;
  wr_quic_endpoint *ep;
  wr_tls_server *stls;
  wr_tls_client *ctls;
  int h3;
  int sink;
  int bytes_set;
  const char *path;
  uint64_t count, closed;
  /* client */
  wr_quic_conn *conn;
  uint8_t *data;
  uint64_t bytes;
  unsigned nstreams, streams_done;
  int connected, finished, failed, timed_out, peer_control;
  uint64_t t0, t_connected, t_done;
  char reason[512];
  wr_quic_conn_stats stats;
  int have_stats;
  int h3_status;
  uint64_t h3_body;
  uint8_t h3_hash[32];
} diag;

static diag D;

static void shutdown_all(void) {
  if (D.ep) {
    wr_quic_endpoint_close(D.ep, 0, NULL, NULL);
    D.ep = NULL;
  }
  if (!uv_is_closing((uv_handle_t *)&D.sigint)) {
    uv_close((uv_handle_t *)&D.sigint, NULL);
    uv_close((uv_handle_t *)&D.sigterm, NULL);
    uv_close((uv_handle_t *)&D.deadline, NULL);
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  shutdown_all();
}

static void ip_of(const struct sockaddr *sa, char *out, size_t n, int port) {
  if (port)
    wr_addr_format_sa(sa, 1, out, n);
  else
    wr_addr_format_ip_sa(sa, out, n);
}

/* ---- minimal HTTP/3 (RFC 9114) and QPACK (RFC 9204, static table only) ---- */

static size_t qv_put(uint8_t *p, uint64_t v) {
  if (v < 64) {
    p[0] = (uint8_t)v;
    return 1;
  }
  if (v < 16384) {
    p[0] = (uint8_t)(0x40 | (v >> 8));
    p[1] = (uint8_t)v;
    return 2;
  }
  p[0] = (uint8_t)(0x80 | (v >> 24));
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
  return 4;
}

/* Reads a QUIC varint; 0 when the bytes end first. */
static size_t qv_get(const uint8_t *p, size_t len, uint64_t *v) {
  if (len == 0)
    return 0;
  size_t n = (size_t)1 << (p[0] >> 6);
  if (len < n)
    return 0;
  uint64_t x = p[0] & 0x3f;
  for (size_t i = 1; i < n; i++)
    x = (x << 8) | p[i];
  *v = x;
  return n;
}

/* A field line with a static name reference and a literal value. */
static size_t qpack_literal(uint8_t *p, unsigned index, const char *value) {
  size_t n = 0, vl = strlen(value);
  p[n++] = (uint8_t)(0x50 | index); /* 01 N=0 T=1, 4-bit index (< 15 here) */
  p[n++] = (uint8_t)vl;             /* H=0, 7-bit length (< 127 here) */
  memcpy(p + n, value, vl);
  return n + vl;
}

static int h3_send_settings(wr_quic_conn *c) {
  wr_quic_stream *s = NULL;
  static const uint8_t ctrl[] = {0x00, 0x04, 0x00}; /* control stream, empty SETTINGS */
  if (wr_quic_stream_open(c, 1, NULL, &s) != 0)
    return -1;
  return wr_quic_stream_write(s, ctrl, sizeof ctrl) == (ssize_t)sizeof ctrl ? 0 : -1;
}

static int h3_send_request(wr_quic_conn *c, const char *authority, const char *path) {
  uint8_t fs[400], frame[420];
  size_t n = 0;
  if (strlen(path) > 120 || strlen(authority) > 120)
    return -1;
  fs[n++] = 0; /* Required Insert Count */
  fs[n++] = 0; /* Delta Base */
  fs[n++] = 0xC0 | 17; /* :method GET */
  fs[n++] = 0xC0 | 23; /* :scheme https */
  n += qpack_literal(fs + n, 0, authority);
  n += qpack_literal(fs + n, 1, path);
  size_t m = 0;
  frame[m++] = 0x01; /* HEADERS */
  m += qv_put(frame + m, n);
  memcpy(frame + m, fs, n);
  m += n;
  wr_quic_stream *s = NULL;
  stream_state *st = wr_calloc(1, sizeof *st);
  if (!st || wr_quic_stream_open(c, 0, st, &s) != 0) {
    wr_free(st);
    return -1;
  }
  wr_buf_init(&st->h3, 64 * 1024 * 1024);
  sha256_init(&st->rx);
  if (wr_quic_stream_write(s, frame, m) != (ssize_t)m || wr_quic_stream_end(s) != 0)
    return -1;
  return 0;
}

/* QPACK prefixed integer with an n-bit prefix. 0 on truncation. */
static size_t qpack_int(const uint8_t *p, size_t len, unsigned bits, uint64_t *v) {
  if (len == 0)
    return 0;
  uint64_t max = (1u << bits) - 1, x = p[0] & max;
  size_t i = 1;
  if (x == max) {
    unsigned shift = 0;
    for (;; i++) {
      if (i >= len || shift > 56)
        return 0;
      x += (uint64_t)(p[i] & 0x7f) << shift;
      shift += 7;
      if (!(p[i] & 0x80))
        break;
    }
    i++;
  }
  *v = x;
  return i;
}

/* The :status of a response field section, or -1 if it is not the first field
 * or not encoded in a way we decode (static table, or plain literal digits). */
static int qpack_status(const uint8_t *p, size_t len) {
  static const struct { unsigned index; int status; } tbl[] = {
      {24, 103}, {25, 200}, {26, 304}, {27, 404}, {28, 503}, {63, 100}, {64, 204},
      {65, 206}, {66, 302}, {67, 400}, {68, 403}, {69, 421}, {70, 425}, {71, 500}};
  uint64_t ric, base, idx, vlen;
  size_t n = qpack_int(p, len, 8, &ric), k;
  if (!n || !(k = qpack_int(p + n, len - n, 7, &base)))
    return -1;
  n += k;
  if (n >= len)
    return -1;
  if ((p[n] & 0xC0) == 0xC0) { /* indexed, static */
    if (!qpack_int(p + n, len - n, 6, &idx))
      return -1;
    for (size_t i = 0; i < sizeof tbl / sizeof tbl[0]; i++)
      if (tbl[i].index == idx)
        return tbl[i].status;
    return -1;
  }
  if ((p[n] & 0xF0) == 0x50) { /* literal value, static name reference */
    if (!(k = qpack_int(p + n, len - n, 4, &idx)))
      return -1;
    n += k;
    if (n >= len || (p[n] & 0x80)) /* Huffman-coded: not decoded here */
      return -1;
    if (!(k = qpack_int(p + n, len - n, 7, &vlen)) || vlen != 3 || n + k + 3 > len)
      return -1;
    const uint8_t *d = p + n + k;
    return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
  }
  return -1;
}

/* Parses a complete response: HEADERS then DATA frames (others skipped). */
static void h3_parse_response(const uint8_t *p, size_t len) {
  struct sha256_ctx h;
  sha256_init(&h);
  size_t off = 0;
  D.h3_status = -1;
  D.h3_body = 0;
  while (off < len) {
    uint64_t type, flen;
    size_t a = qv_get(p + off, len - off, &type), b;
    if (!a || !(b = qv_get(p + off + a, len - off - a, &flen)) || flen > len - off - a - b)
      break;
    const uint8_t *pl = p + off + a + b;
    if (type == 0x01 && D.h3_status < 0)
      D.h3_status = qpack_status(pl, (size_t)flen);
    else if (type == 0x00) {
      sha256_update(&h, (size_t)flen, pl);
      D.h3_body += flen;
    }
    off += a + b + (size_t)flen;
  }
  sha256_digest(&h, 32, D.h3_hash);
}

/* ---- server ---- */

static void echo_flush(wr_quic_stream *s) {
  stream_state *st = wr_quic_stream_get_user_data(s);
  while (st->pending.len > 0) {
    ssize_t n = wr_quic_stream_write(s, st->pending.data, st->pending.len);
    if (n <= 0)
      return;
    wr_buf_consume(&st->pending, (size_t)n);
    /* Credit goes back only for what we queued: a slow echo slows the sender. */
    wr_quic_stream_consume(s, (size_t)n);
  }
  if (st->fin && !st->ended) {
    st->ended = 1;
    if (wr_quic_stream_end(s) != 0)
      WR_WARN("Cannot end echo stream", "stream=%lld", (long long)wr_quic_stream_id(s));
  }
}

/* Sends the rest of a --bytes HTTP/3 body, then FIN. */
static void h3_pump(wr_quic_stream *s) {
  stream_state *st = wr_quic_stream_get_user_data(s);
  while (st->sent < D.bytes) {
    ssize_t n = wr_quic_stream_write(s, D.data + st->sent, (size_t)(D.bytes - st->sent));
    if (n <= 0)
      return;
    st->sent += (uint64_t)n;
  }
  if (!st->fin) {
    st->fin = 1;
    if (wr_quic_stream_end(s) != 0)
      WR_WARN("Cannot end the HTTP/3 response", "stream=%lld", (long long)wr_quic_stream_id(s));
  }
}

static void srv_connected(wr_quic_conn *c) {
  char peer[WR_ADDR_STRLEN], local[WR_ADDR_STRLEN];
  ip_of(wr_quic_conn_peer_addr(c), peer, sizeof peer, 1);
  ip_of(wr_quic_conn_local_addr(c), local, sizeof local, 1);
  WR_INFO("QUIC connection accepted", "conn=%s peer=%s local=%s alpn=%s", wr_quic_conn_id(c),
          peer, local, wr_quic_conn_alpn(c));
  if (D.h3 && h3_send_settings(c) != 0)
    WR_WARN("Cannot open the HTTP/3 control stream", "conn=%s", wr_quic_conn_id(c));
}

static void srv_closed(wr_quic_conn *c, int err, const char *reason) {
  wr_quic_conn_stats st;
  wr_quic_conn_get_stats(c, &st);
  WR_INFO("QUIC connection closed", "conn=%s err=%s reason=%s rtt_us=%llu lost=%llu",
          wr_quic_conn_id(c), err ? wr_strerror(err) : "none", reason,
          (unsigned long long)(st.smoothed_rtt_ns / 1000),
          (unsigned long long)st.lost_packets);
  D.closed++;
  if (D.count && D.closed >= D.count)
    shutdown_all();
}

static void srv_stream_open(wr_quic_stream *s) {
  stream_state *st = wr_calloc(1, sizeof *st);
  if (!st) {
    if (wr_quic_stream_abort(s, 1) != 0)
      WR_WARN("Cannot abort stream", "%s", "");
    return;
  }
  wr_buf_init(&st->pending, 16 * 1024 * 1024);
  wr_quic_stream_set_user_data(s, st);
}

static void srv_stream_data(wr_quic_stream *s, const uint8_t *data, size_t len, int fin) {
  stream_state *st = wr_quic_stream_get_user_data(s);
  int64_t id = wr_quic_stream_id(s);
  if (!st)
    return;
  if (D.h3 || (id & 2)) {
    /* HTTP/3 requests and any unidirectional stream: read and discard. */
    wr_quic_stream_consume(s, len);
    if (D.h3 && fin && !(id & 2) && !st->ended) {
      uint8_t resp[64];
      size_t n = 0;
      static const uint8_t fs[] = {0x00, 0x00, 0xC0 | 25}; /* :status 200 */
      resp[n++] = 0x01;
      n += qv_put(resp + n, sizeof fs);
      memcpy(resp + n, fs, sizeof fs);
      n += sizeof fs;
      resp[n++] = 0x00; /* DATA */
      n += qv_put(resp + n, D.data ? D.bytes : sizeof H3_BODY - 1);
      st->ended = 1;
      if (wr_quic_stream_write(s, resp, n) != (ssize_t)n) {
        WR_WARN("Cannot answer the HTTP/3 request", "stream=%lld", (long long)id);
        return;
      }
      if (D.data) {
        /* A --bytes body: streamed as the send queue drains. */
        st->serving = 1;
        h3_pump(s);
      } else if (wr_quic_stream_write(s, H3_BODY, sizeof H3_BODY - 1) !=
                     (ssize_t)sizeof H3_BODY - 1 ||
                 wr_quic_stream_end(s) != 0) {
        WR_WARN("Cannot answer the HTTP/3 request", "stream=%lld", (long long)id);
      }
    }
    return;
  }
  if (D.sink) {
    /* One way: hash, give the credit back at once, answer with the digest. */
    if (st->received == 0)
      sha256_init(&st->rx);
    sha256_update(&st->rx, len, data);
    st->received += len + 1; /* +1: "started" even for empty data */
    wr_quic_stream_consume(s, len);
    if (fin && !st->ended) {
      uint8_t digest[32];
      sha256_digest(&st->rx, 32, digest);
      st->ended = 1;
      if (wr_quic_stream_write(s, digest, 32) != 32 || wr_quic_stream_end(s) != 0)
        WR_WARN("Cannot answer with the digest", "stream=%lld", (long long)id);
    }
    return;
  }
  if (wr_buf_append(&st->pending, data, len) != 0) {
    WR_WARN("Echo buffer limit hit; resetting the stream", "stream=%lld", (long long)id);
    if (wr_quic_stream_abort(s, 2) != 0)
      return;
    return;
  }
  if (fin)
    st->fin = 1;
  echo_flush(s);
}

static void srv_stream_close(wr_quic_stream *s, int has_code, uint64_t code) {
  (void)has_code;
  (void)code;
  stream_state *st = wr_quic_stream_get_user_data(s);
  if (st) {
    wr_buf_free(&st->pending);
    wr_buf_free(&st->h3);
    wr_free(st);
  }
}

static void srv_stream_writable(wr_quic_stream *s) {
  stream_state *st = wr_quic_stream_get_user_data(s);
  if (st && st->serving)
    h3_pump(s);
  else if (st)
    echo_flush(s);
}

/* ---- client ---- */

static void cli_fail(const char *reason) {
  if (!D.failed && !D.finished) {
    D.failed = 1;
    snprintf(D.reason, sizeof D.reason, "%s", reason);
  }
  shutdown_all();
}

static void cli_pump(wr_quic_stream *s) {
  stream_state *st = wr_quic_stream_get_user_data(s);
  while (st->sent < D.bytes) {
    ssize_t n = wr_quic_stream_write(s, D.data + st->sent, (size_t)(D.bytes - st->sent));
    if (n <= 0)
      return;
    st->sent += (uint64_t)n;
  }
  if (!st->fin) {
    st->fin = 1;
    if (wr_quic_stream_end(s) != 0)
      cli_fail("cannot end the stream");
  }
}

static void cli_connected(wr_quic_conn *c) {
  D.connected = 1;
  D.t_connected = wr_now_ns();
  if (D.h3) {
    char host[WR_ADDR_STRLEN];
    ip_of(wr_quic_conn_peer_addr(c), host, sizeof host, 1);
    if (h3_send_settings(c) != 0 || h3_send_request(c, host, D.path) != 0)
      cli_fail("cannot send the HTTP/3 request");
    return;
  }
  if (D.bytes == 0) {
    D.finished = 1;
    D.t_done = wr_now_ns();
    wr_quic_conn_close(c, 0, "done");
    return;
  }
  for (unsigned i = 0; i < D.nstreams; i++) {
    stream_state *st = wr_calloc(1, sizeof *st);
    wr_quic_stream *s = NULL;
    if (!st) {
      cli_fail("out of memory");
      return;
    }
    sha256_init(&st->rx);
    wr_buf_init(&st->h3, 64);
    int rv = wr_quic_stream_open(c, 0, st, &s);
    if (rv != 0) {
      wr_free(st);
      char r[128];
      snprintf(r, sizeof r, "cannot open stream %u: %s", i, wr_strerror(rv));
      cli_fail(r);
      return;
    }
    cli_pump(s);
  }
}

static void cli_closed(wr_quic_conn *c, int err, const char *reason) {
  wr_quic_conn_get_stats(c, &D.stats);
  D.have_stats = 1;
  D.conn = NULL;
  if (!D.finished && !D.failed) {
    D.failed = 1;
    snprintf(D.reason, sizeof D.reason, "%s (%s)", reason, err ? wr_strerror(err) : "closed");
  }
  shutdown_all();
}

static void cli_stream_open(wr_quic_stream *s) {
  /* The server's unidirectional streams (HTTP/3 control and QPACK). */
  stream_state *st = wr_calloc(1, sizeof *st);
  wr_quic_stream_set_user_data(s, st);
}

static void cli_stream_data(wr_quic_stream *s, const uint8_t *data, size_t len, int fin) {
  stream_state *st = wr_quic_stream_get_user_data(s);
  int64_t id = wr_quic_stream_id(s);
  wr_quic_stream_consume(s, len);
  if (!st)
    return;
  if (id & 2) { /* peer's unidirectional stream */
    if (st->received == 0 && len > 0 && data[0] == 0x00 && !st->is_control) {
      st->is_control = 1;
      D.peer_control = 1;
    }
    st->received += len;
    return;
  }
  st->received += len;
  if (D.h3) {
    if (wr_buf_append(&st->h3, data, len) != 0) {
      cli_fail("HTTP/3 response larger than 64 MiB");
      return;
    }
    if (fin) {
      h3_parse_response(st->h3.data, st->h3.len);
      D.finished = 1;
      D.t_done = wr_now_ns();
      if (D.conn)
        wr_quic_conn_close(D.conn, 0x100 /* H3_NO_ERROR */, "done");
    }
    return;
  }
  if (D.sink) {
    if (wr_buf_append(&st->h3, data, len) != 0) {
      cli_fail("the server sent more than a digest: is it running with --sink?");
      return;
    }
  } else {
    sha256_update(&st->rx, len, data);
  }
  if (fin) {
    uint8_t want[32], got[32];
    struct sha256_ctx h;
    sha256_init(&h);
    sha256_update(&h, (size_t)D.bytes, D.data);
    sha256_digest(&h, 32, want);
    if (D.sink) {
      if (st->h3.len != 32) {
        cli_fail("the server's answer is not a 32-byte digest: is it running with --sink?");
        return;
      }
      memcpy(got, st->h3.data, 32);
      st->received = D.bytes;
    } else {
      sha256_digest(&st->rx, 32, got);
    }
    if (st->received != D.bytes || memcmp(want, got, 32) != 0) {
      char r[160];
      snprintf(r, sizeof r,
               "stream %lld: echo differs (%llu bytes back of %llu, or different bytes)",
               (long long)id, (unsigned long long)st->received, (unsigned long long)D.bytes);
      cli_fail(r);
      return;
    }
    st->done = 1;
    if (++D.streams_done == D.nstreams) {
      D.finished = 1;
      D.t_done = wr_now_ns();
      if (D.conn)
        wr_quic_conn_close(D.conn, 0, "done");
    }
  }
}

static void cli_stream_writable(wr_quic_stream *s) {
  stream_state *st = wr_quic_stream_get_user_data(s);
  if (st && !(wr_quic_stream_id(s) & 2) && !D.h3)
    cli_pump(s);
}

static void cli_stream_reset(wr_quic_stream *s, uint64_t code) {
  char r[128];
  snprintf(r, sizeof r, "the server reset stream %lld with code %llu",
           (long long)wr_quic_stream_id(s), (unsigned long long)code);
  cli_fail(r);
}

static void cli_stream_close(wr_quic_stream *s, int has_code, uint64_t code) {
  (void)has_code;
  (void)code;
  stream_state *st = wr_quic_stream_get_user_data(s);
  if (st) {
    wr_buf_free(&st->h3);
    wr_free(st);
  }
}

static void on_deadline(uv_timer_t *t) {
  (void)t;
  D.timed_out = 1;
  cli_fail("timed out");
}

/* ---- main ---- */

static wr_addr parse_addr(const char *flag, const char *s) {
  wr_addr a;
  char err[256];
  if (wr_addr_parse(s, &a, err, sizeof err) != 0)
    wr_cli_usage_error(CMD, "%s: %s.", flag, err);
  return a;
}

/* The command line, besides what lives in D. */
typedef struct diag_opts {
  const char *listen, *connect, *self, *cert, *key, *ca, *pin, *name, *alpn;
  wr_quic_retry_mode retry;
  uint64_t idle, timeout;
  int no_gso;
} diag_opts;

/* Parses argv into *po and D and checks that the flags go together; usage
 * errors exit. Returns 1 when --help was printed, else 0. */
static int parse_flags(int argc, char **argv, diag_opts *po) {
  enum { OPT_SELF = 256, OPT_CERT, OPT_KEY, OPT_RETRY, OPT_CA, OPT_PIN, OPT_NAME, OPT_BYTES, OPT_STREAMS, OPT_H3,
         OPT_PATH, OPT_ALPN, OPT_IDLE, OPT_NOGSO, OPT_TIMEOUT, OPT_COUNT, OPT_SINK };
  static const struct option opts[] = {
      {"listen", required_argument, NULL, 'l'}, {"connect", required_argument, NULL, 'c'},
      {"self-signed", required_argument, NULL, OPT_SELF}, {"cert", required_argument, NULL, OPT_CERT},
      {"key", required_argument, NULL, OPT_KEY}, {"retry", required_argument, NULL, OPT_RETRY},
      {"ca", required_argument, NULL, OPT_CA}, {"pin", required_argument, NULL, OPT_PIN},
      {"name", required_argument, NULL, OPT_NAME}, {"bytes", required_argument, NULL, OPT_BYTES},
      {"streams", required_argument, NULL, OPT_STREAMS}, {"h3", no_argument, NULL, OPT_H3},
      {"path", required_argument, NULL, OPT_PATH}, {"alpn", required_argument, NULL, OPT_ALPN},
      {"idle-timeout", required_argument, NULL, OPT_IDLE},
      {"no-gso", no_argument, NULL, OPT_NOGSO}, {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"count", required_argument, NULL, OPT_COUNT}, {"sink", no_argument, NULL, OPT_SINK},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  diag_opts *o = po;
  memset(o, 0, sizeof *o);
  o->retry = WR_QUIC_RETRY_UNDER_LOAD;
  o->timeout = 30000;
  int opt;
  while ((opt = wr_cli_getopt(CMD, argc, argv, "hl:c:", opts)) != -1) {
    switch (opt) {
    case 'h':
      usage();
      return 1;
    case 'l': o->listen = optarg; break;
    case 'c': o->connect = optarg; break;
    case OPT_SELF: o->self = optarg; break;
    case OPT_CERT: o->cert = optarg; break;
    case OPT_KEY: o->key = optarg; break;
    case OPT_RETRY:
      if (strcmp(optarg, "load") == 0)
        o->retry = WR_QUIC_RETRY_UNDER_LOAD;
      else if (strcmp(optarg, "always") == 0)
        o->retry = WR_QUIC_RETRY_ALWAYS;
      else if (strcmp(optarg, "never") == 0)
        o->retry = WR_QUIC_RETRY_NEVER;
      else
        wr_cli_usage_error(CMD, "--retry takes load, always or never, not \"%s\".", optarg);
      break;
    case OPT_CA: o->ca = optarg; break;
    case OPT_PIN: o->pin = optarg; break;
    case OPT_NAME: o->name = optarg; break;
    case OPT_BYTES:
      D.bytes = wr_cli_parse_size(CMD, "--bytes", optarg);
      D.bytes_set = 1;
      break;
    case OPT_STREAMS:
      D.nstreams = (unsigned)wr_cli_parse_uint(CMD, "--streams", optarg, 1, 1000);
      break;
    case OPT_H3: D.h3 = 1; break;
    case OPT_SINK: D.sink = 1; break;
    case OPT_PATH: D.path = optarg; break;
    case OPT_ALPN: o->alpn = optarg; break;
    case OPT_IDLE: o->idle = wr_cli_parse_uint(CMD, "--idle-timeout", optarg, 1, 3600000); break;
    case OPT_NOGSO: o->no_gso = 1; break;
    case OPT_TIMEOUT:
      o->timeout = wr_cli_parse_uint(CMD, "--timeout", optarg, 1, 86400000);
      break;
    case OPT_COUNT: D.count = wr_cli_parse_uint(CMD, "--count", optarg, 1, UINT32_MAX); break;
    }
  }
  if (optind < argc)
    wr_cli_usage_error(CMD, "unexpected argument \"%s\".", argv[optind]);
  if (!!o->listen == !!o->connect)
    wr_cli_usage_error(CMD, "give exactly one of --listen and --connect.");
  if (o->listen && !o->self && !(o->cert && o->key))
    wr_cli_usage_error(CMD, "--listen needs --self-signed DIR, or --cert and --key.");
  if (o->connect && !o->ca && !o->pin)
    wr_cli_usage_error(CMD,
                       "--connect needs --ca FILE or --pin sha256:HEX to verify the server.");
  if (D.bytes > (1ull << 32))
    wr_cli_usage_error(CMD, "--bytes is at most 4G.");
  if (D.h3 && D.sink)
    wr_cli_usage_error(CMD, "--h3 and --sink do not go together.");
  if (D.h3 && D.path[0] != '/')
    wr_cli_usage_error(CMD, "--path must start with /.");
  return 0;
}

/* D.data: D.bytes of the fixed pattern both sides know (byte i =
 * (i*2654435761)>>11). Returns 0, or 1 after telling the user. */
static int make_pattern(void) {
  if (!(D.data = wr_malloc((size_t)D.bytes))) {
    wr_cli_fail("diag quic: out of memory for %llu bytes.", (unsigned long long)D.bytes);
    return 1;
  }
  for (uint64_t i = 0; i < D.bytes; i++)
    D.data[i] = (uint8_t)((i * 2654435761u) >> 11);
  return 0;
}

/* --listen: loads or creates the certificate, listens on addr and echoes
 * until a signal (or --count). Returns the exit status. */
static int run_server(const diag_opts *o, const wr_quic_config *cfg, const wr_addr *addr) {
  char err[WR_TLS_ERRLEN], buf[WR_ADDR_STRLEN];
  const char *cert = o->cert, *key = o->key;
  char crt_path[WR_CLI_PATH_MAX], key_path[WR_CLI_PATH_MAX];
  int rv;
  if (o->self) {
    int created = 0;
    if (wr_cli_self_signed(o->self, crt_path, key_path, &created, err, sizeof err) != 0) {
      wr_cli_fail("diag quic: %s.", err);
      return 1;
    }
    cert = crt_path;
    key = key_path;
    if (created)
      WR_INFO("Created a self-signed certificate", "cert=%s", crt_path);
  }
  if ((rv = wr_tls_server_new(&D.stls, cert, key, err, sizeof err)) != 0) {
    wr_cli_fail("diag quic: %s.", err);
    return 1;
  }
  wr_quic_server_config sc = {
      .tls = D.stls,
      .retry = o->retry,
      .callbacks = {.on_connected = srv_connected,
                    .on_closed = srv_closed,
                    .on_stream_open = srv_stream_open,
                    .on_stream_data = srv_stream_data,
                    .on_stream_writable = srv_stream_writable,
                    .on_stream_close = srv_stream_close}};
  if ((rv = wr_quic_endpoint_new(&D.ep, &D.loop, &addr->sa, cfg, &sc)) != 0) {
    wr_cli_fail("diag quic: cannot listen on %s: %s.", wr_addr_format(addr, buf, sizeof buf),
                wr_strerror(rv));
    return 1;
  }
  if (D.h3 && D.bytes_set && D.bytes > 0 && make_pattern() != 0)
    return 1;
  char fp[WR_TLS_FINGERPRINT_LEN];
  wr_tls_server_fingerprint(D.stls, fp);
  struct sockaddr_storage ss;
  if (wr_quic_endpoint_local_addr(D.ep, &ss) == 0)
    ip_of((struct sockaddr *)&ss, buf, sizeof buf, 1);
  printf("listening on %s alpn=%s fingerprint=%s\n", buf, cfg->alpn, fp);
  fflush(stdout);
  uv_run(&D.loop, UV_RUN_DEFAULT);
  return 0;
}

/* Prints the client's one result line. Returns the exit status. */
static int report_client(void) {
  if (!D.finished || D.failed) {
    printf("failed: %s\n", D.reason[0] ? D.reason : "no result");
    return 1;
  }
  double ms = (double)(D.t_done - D.t_connected) / 1e6;
  double hs = (double)(D.t_connected - D.t0) / 1e6;
  if (D.h3) {
    char hex[65];
    wr_hex_encode(hex, D.h3_hash, 32);
    printf("ok: HTTP/3 status %d, %llu body bytes sha256=%s, handshake %.1f ms%s\n",
           D.h3_status, (unsigned long long)D.h3_body, hex, hs,
           D.peer_control ? ", peer control stream seen" : "");
    return 0;
  }
  uint64_t total = D.bytes * D.nstreams;
  printf("ok: %llu bytes %s on %u stream%s in %.1f ms (%.1f MB/s%s), "
         "handshake %.1f ms, rtt %.2f ms, cwnd %llu, lost %llu, packets %llu in %llu "
         "sends\n",
         (unsigned long long)total, D.sink ? "sent and verified" : "echoed", D.nstreams,
         D.nstreams == 1 ? "" : "s", ms, ms > 0 ? (double)total / (ms / 1000.0) / 1e6 : 0.0,
         D.sink ? "" : " each way", hs, (double)D.stats.smoothed_rtt_ns / 1e6,
         (unsigned long long)D.stats.cwnd, (unsigned long long)D.stats.lost_packets,
         (unsigned long long)D.stats.pkts_sent, (unsigned long long)D.stats.send_batches);
  return 0;
}

/* --connect: dials addr, sends and checks until done or --timeout, then
 * reports. Returns the exit status. */
static int run_client(const diag_opts *o, const wr_quic_config *cfg, const wr_addr *addr) {
  char err[WR_TLS_ERRLEN];
  int rv;
  wr_tls_client_config cc = {.ca_file = o->ca, .pins = o->pin};
  if ((rv = wr_tls_client_new(&D.ctls, &cc, err, sizeof err)) != 0) {
    wr_cli_fail("diag quic: %s.", err);
    return 1;
  }
  wr_addr bind_a;
  memset(&bind_a, 0, sizeof bind_a);
  wr_addr u;
  wr_addr_unmap(addr, &u);
  if (wr_addr_parse(u.sa.sa_family == AF_INET6 ? "[::]:0" : "0.0.0.0:0", &bind_a, NULL, 0) != 0)
    return 1;
  if ((rv = wr_quic_endpoint_new(&D.ep, &D.loop, &bind_a.sa, cfg, NULL)) != 0) {
    wr_cli_fail("diag quic: cannot open a UDP socket: %s.", wr_strerror(rv));
    return 1;
  }
  if (D.bytes && !D.h3 && make_pattern() != 0)
    return 1;
  wr_quic_callbacks cb = {.on_connected = cli_connected,
                          .on_closed = cli_closed,
                          .on_stream_open = cli_stream_open,
                          .on_stream_data = cli_stream_data,
                          .on_stream_writable = cli_stream_writable,
                          .on_stream_reset = cli_stream_reset,
                          .on_stream_close = cli_stream_close};
  D.t0 = wr_now_ns();
  if ((rv = wr_quic_connect(&D.conn, D.ep, &u.sa, o->name, D.ctls, &cb, NULL)) != 0) {
    wr_cli_fail("diag quic: cannot connect to %s: %s.", o->connect, wr_strerror(rv));
    return 1;
  }
  uv_timer_start(&D.deadline, on_deadline, o->timeout, 0);
  uv_run(&D.loop, UV_RUN_DEFAULT);
  return report_client();
}

int wr_cmd_diag_quic(int argc, char **argv) {
  diag_opts o;
  memset(&D, 0, sizeof D);
  D.bytes = 1024 * 1024;
  D.nstreams = 1;
  D.path = "/";
  if (parse_flags(argc, argv, &o))
    return 0;
  wr_addr addr = parse_addr(o.listen ? "--listen" : "--connect", o.listen ? o.listen : o.connect);
  wr_quic_config cfg = {.alpn = o.alpn ? o.alpn : D.h3 ? "h3" : DEFAULT_ALPN,
                        .idle_timeout_ms = o.idle,
                        .disable_gso = o.no_gso,
                        .max_streams_uni = 3};
  if (uv_loop_init(&D.loop) != 0) {
    wr_cli_fail("diag quic: cannot start the event loop.");
    return 1;
  }
  uv_signal_init(&D.loop, &D.sigint);
  uv_signal_init(&D.loop, &D.sigterm);
  uv_timer_init(&D.loop, &D.deadline);
  uv_signal_start(&D.sigint, on_signal, SIGINT);
  uv_signal_start(&D.sigterm, on_signal, SIGTERM);
  int status = o.listen ? run_server(&o, &cfg, &addr) : run_client(&o, &cfg, &addr);
  shutdown_all();
  uv_run(&D.loop, UV_RUN_DEFAULT);
  uv_loop_close(&D.loop);
  wr_tls_server_del(D.stls);
  wr_tls_client_del(D.ctls);
  wr_free(D.data);
  return status;
}
