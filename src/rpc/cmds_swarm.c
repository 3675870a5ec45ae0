/* cmds_swarm.c: the node's peers, as kubo's swarm/peers, swarm/connect,
 * swarm/disconnect, swarm/addrs/listen and ping. The commands run on their
 * job's thread; every touch of the libp2p host happens on the loop, in the
 * *_on_loop functions handed to the loopcall bridge. */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "proto/p2p/multistream.h"
#include "proto/text/base64.h"
#include "proto/text/json.h"
#include "rpc/call.h"

#define MAX_LISTED 4096

/* --- on the loop ----------------------------------------------------------- */

typedef struct peer_row {
  char peer[WR_PEERID_MAX_STR];
  char addr[WR_MA_MAX_STR];
  int outbound;
} peer_row;

typedef struct peers_req {
  wr_p2p_host *host;
  peer_row *rows;
  size_t n, cap;
} peers_req;

static void peers_on_loop(wr_loopcall_req *r) {
  peers_req *pr = r->arg;
  for (wr_p2p_conn *c = wr_p2p_host_conns(pr->host); c && pr->n < pr->cap;
       c = wr_p2p_conn_next(c)) {
    peer_row *row = &pr->rows[pr->n++];
    if (wr_peerid_format(wr_p2p_conn_peer(c), row->peer, sizeof row->peer) < 0)
      row->peer[0] = '\0';
    if (wr_maddr_format(wr_p2p_conn_remote_addr(c), row->addr, sizeof row->addr) < 0)
      row->addr[0] = '\0';
    row->outbound = wr_p2p_conn_outbound(c);
  }
  wr_loopcall_done(r, 0);
}

typedef struct peer_req {
  wr_p2p_host *host;
  wr_maddr ma;     /* connect: the address to dial (with /p2p/ID) */
  wr_peerid peer;  /* disconnect, ping: the peer */
  char why[256];   /* a failure's sentence */
  uint64_t rtt_ns; /* ping */
  wr_loopcall_req *r;
} peer_req;

static void on_dialled(wr_p2p_host *h, wr_p2p_conn *c, int err, const char *reason, void *data) {
  (void)h;
  (void)c;
  peer_req *pq = data;
  if (err)
    snprintf(pq->why, sizeof pq->why, "%s", reason ? reason : wr_strerror(err));
  wr_loopcall_done(pq->r, err);
}

static void connect_on_loop(wr_loopcall_req *r) {
  peer_req *pq = r->arg;
  pq->r = r;
  int rv = wr_p2p_host_dial(pq->host, &pq->ma, on_dialled, pq);
  if (rv) {
    snprintf(pq->why, sizeof pq->why, "%s",
             rv == WR_ERR_UNSUPPORTED ? "only /ip4 and /ip6 addresses with /tcp can be dialled"
                                      : wr_strerror(rv));
    wr_loopcall_done(r, rv);
  }
}

static void disconnect_on_loop(wr_loopcall_req *r) {
  peer_req *pq = r->arg;
  wr_p2p_conn *c = wr_p2p_host_find_conn(pq->host, &pq->peer);
  if (c)
    wr_p2p_conn_close(c);
  wr_loopcall_done(r, c ? 0 : WR_ERR_NOTFOUND);
}

static void on_pong(wr_p2p_conn *c, int err, uint64_t rtt_ns, void *data) {
  (void)c;
  peer_req *pq = data;
  pq->rtt_ns = rtt_ns;
  if (err)
    snprintf(pq->why, sizeof pq->why, "%s", wr_strerror(err));
  wr_loopcall_done(pq->r, err);
}

static void ping_on_loop(wr_loopcall_req *r) {
  peer_req *pq = r->arg;
  pq->r = r;
  wr_p2p_conn *c = wr_p2p_host_find_conn(pq->host, &pq->peer);
  int rv = c ? wr_p2p_ping(c, on_pong, pq) : WR_ERR_NOTFOUND;
  if (rv) {
    snprintf(pq->why, sizeof pq->why, "%s",
             rv == WR_ERR_NOTFOUND ? "not connected to this peer (swarm connect first)"
                                   : wr_strerror(rv));
    wr_loopcall_done(r, rv);
  }
}

static void addrs_on_loop(wr_loopcall_req *r) {
  peers_req *pr = r->arg;
  wr_maddr ma[32];
  size_t n = wr_p2p_host_addrs(pr->host, ma, 32);
  for (size_t i = 0; i < n && pr->n < pr->cap; i++)
    if (wr_maddr_format(&ma[i], pr->rows[pr->n].addr, sizeof pr->rows[pr->n].addr) >= 0)
      pr->n++;
  wr_loopcall_done(r, 0);
}

typedef struct identify_req {
  wr_p2p_host *host;
  wr_peerid peer;
  wr_p2p_peer_info info; /* copied: the connection may go meanwhile */
  char protocols[WR_IDENTIFY_MAX_PROTOCOLS][WR_MS_MAX_PROTO];
} identify_req;

static void identify_on_loop(wr_loopcall_req *r) {
  identify_req *iq = r->arg;
  wr_p2p_conn *c = wr_p2p_host_find_conn(iq->host, &iq->peer);
  const wr_p2p_peer_info *info = c ? wr_p2p_conn_info(c) : NULL;
  if (!info || !info->identified) {
    wr_loopcall_done(r, WR_ERR_NOTFOUND);
    return;
  }
  iq->info = *info;
  for (size_t i = 0; i < info->nprotocols; i++) {
    snprintf(iq->protocols[i], sizeof iq->protocols[i], "%s", info->protocols[i]);
    iq->info.protocols[i] = iq->protocols[i];
  }
  wr_loopcall_done(r, 0);
}

/* --- on the job's thread ----------------------------------------------------- */

/* 0 when the node has a host; else answers and returns -1. */
static int need_host(wr_rpc_call *c) {
  if (c->host && c->loopcall)
    return 0;
  wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "this node runs without its libp2p host");
  return -1;
}

/* Parses a multiaddr argument that must end in /p2p/ID; fills ma and peer.
 * Answers 400 and returns -1 otherwise. */
static int target_arg(wr_rpc_call *c, const char *arg, wr_maddr *ma, wr_peerid *peer) {
  const char *why = NULL;
  if (wr_maddr_parse(arg, strlen(arg), ma, &why) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "invalid multiaddr \"%s\": %s", arg, why ? why : "");
    return -1;
  }
  size_t off = 0;
  wr_ma_comp comp;
  int found = 0;
  while (wr_maddr_next(ma, &off, &comp) > 0)
    if (comp.code == WR_MA_P2P && wr_peerid_decode(comp.value, comp.len, peer, &why) == 0)
      found = 1;
  if (!found) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "invalid peer address \"%s\": it must end in /p2p/<peer ID>",
                arg);
    return -1;
  }
  return 0;
}

/* A peer ID, or a multiaddr ending in /p2p/ID. */
static int peer_arg(wr_rpc_call *c, const char *arg, wr_peerid *peer) {
  const char *why = NULL;
  if (arg[0] != '/') {
    if (wr_peerid_parse(arg, strlen(arg), peer, &why) == 0)
      return 0;
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "invalid peer ID \"%s\": %s", arg, why ? why : "");
    return -1;
  }
  wr_maddr ma;
  return target_arg(c, arg, &ma, peer);
}

static void answer_strings(wr_rpc_call *c, const char *const *v, size_t n) {
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  int rv = wr_buf_puts(&b, "{\"Strings\":[");
  for (size_t i = 0; i < n && !rv; i++) {
    if (i)
      rv = wr_buf_puts(&b, ",");
    if (!rv)
      rv = wr_json_put_string(&b, v[i], strlen(v[i]));
  }
  if (!rv)
    rv = wr_buf_puts(&b, "]}");
  if (!rv)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
  wr_buf_free(&b);
}

void wr_rpc_cmd_swarm_peers(wr_rpc_call *c) {
  if (need_host(c))
    return;
  peers_req pr = {.host = c->host, .cap = MAX_LISTED};
  wr_buf b;
  wr_buf_init(&b, 16 << 20);
  int rv = (pr.rows = wr_calloc(MAX_LISTED, sizeof *pr.rows)) ? 0 : WR_ERR_NOMEM;
  if (!rv)
    rv = wr_loopcall_run(c->loopcall, peers_on_loop, &pr);
  if (!rv)
    rv = wr_buf_puts(&b, "{\"Peers\":[");
  for (size_t i = 0; i < pr.n && !rv; i++) {
    /* kubo's fields; Direction as libp2p's: 1 inbound, 2 outbound. */
    rv = wr_buf_puts(&b, i ? ",{\"Addr\":" : "{\"Addr\":");
    if (!rv)
      rv = wr_json_put_string(&b, pr.rows[i].addr, strlen(pr.rows[i].addr));
    if (!rv)
      rv = wr_buf_puts(&b, ",\"Peer\":");
    if (!rv)
      rv = wr_json_put_string(&b, pr.rows[i].peer, strlen(pr.rows[i].peer));
    if (!rv)
      rv = wr_buf_printf(&b, ",\"Latency\":\"\",\"Muxer\":\"\",\"Direction\":%d,\"Streams\":null}",
                         pr.rows[i].outbound ? 2 : 1);
  }
  if (!rv)
    rv = wr_buf_puts(&b, "]}");
  if (!rv)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", wr_strerror(rv));
  wr_buf_free(&b);
  wr_free(pr.rows);
}

/* swarm/connect and swarm/disconnect: each argument in turn, kubo's
 * "VERB ID success" lines, or the first failure. connect takes addresses
 * ending in /p2p/ID; disconnect also a bare peer ID. */
static void swarm_change(wr_rpc_call *c, int connect) {
  const char *verb = connect ? "connect" : "disconnect";
  const char *args[64];
  size_t n = wr_rpc_args(c, args, 64);
  if (need_host(c))
    return;
  if (n == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "argument \"address\" is required");
    return;
  }
  char lines[64][WR_PEERID_MAX_STR + 32];
  const char *out[64];
  for (size_t i = 0; i < n; i++) {
    peer_req pq = {.host = c->host};
    if ((connect ? target_arg(c, args[i], &pq.ma, &pq.peer) : peer_arg(c, args[i], &pq.peer)) != 0)
      return;
    char id[WR_PEERID_MAX_STR];
    if (wr_peerid_format(&pq.peer, id, sizeof id) < 0)
      id[0] = '\0';
    int rv = wr_loopcall_run(c->loopcall, connect ? connect_on_loop : disconnect_on_loop, &pq);
    if (rv) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s %s failure: %s", verb, id,
                  pq.why[0] ? pq.why
                  : connect ? wr_strerror(rv)
                            : "not connected");
      return;
    }
    snprintf(lines[i], sizeof lines[i], "%s %s success", verb, id);
    out[i] = lines[i];
  }
  answer_strings(c, out, n);
}

void wr_rpc_cmd_swarm_connect(wr_rpc_call *c) { swarm_change(c, 1); }
void wr_rpc_cmd_swarm_disconnect(wr_rpc_call *c) { swarm_change(c, 0); }

void wr_rpc_cmd_swarm_addrs_listen(wr_rpc_call *c) {
  if (need_host(c))
    return;
  peer_row rows[32];
  peers_req pr = {.host = c->host, .rows = rows, .cap = 32};
  int rv = wr_loopcall_run(c->loopcall, addrs_on_loop, &pr);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", wr_strerror(rv));
    return;
  }
  const char *out[32];
  for (size_t i = 0; i < pr.n; i++)
    out[i] = rows[i].addr;
  answer_strings(c, out, pr.n);
}

/* One line of ping's ndjson stream, as kubo's PingResult. */
static int ping_line(wr_rpc_call *c, int success, uint64_t ns, const char *text) {
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_buf_printf(&b, "{\"Success\":%s,\"Time\":%llu,\"Text\":", success ? "true" : "false",
                         (unsigned long long)ns);
  if (!rv)
    rv = wr_json_put_string(&b, text, strlen(text));
  if (!rv)
    rv = wr_buf_puts(&b, "}\n");
  if (!rv)
    rv = wr_rpc_write(c, b.data, b.len);
  wr_buf_free(&b);
  return rv;
}

void wr_rpc_cmd_ping(wr_rpc_call *c) {
  const char *arg = wr_rpc_arg1(c, "peer ID");
  if (!arg || need_host(c))
    return;
  uint64_t count;
  if (wr_rpc_uint(c, "count", 10, &count) < 0)
    return;
  if (count == 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "ping count must be greater than 0");
    return;
  }
  peer_req pq = {.host = c->host};
  if (arg[0] == '/') {
    /* An address: dial it first, as kubo does with one it is given. */
    if (target_arg(c, arg, &pq.ma, &pq.peer) != 0)
      return;
    if (wr_loopcall_run(c->loopcall, connect_on_loop, &pq) != 0) {
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "ping: cannot connect: %s", pq.why);
      return;
    }
  } else if (peer_arg(c, arg, &pq.peer) != 0) {
    return;
  }
  char id[WR_PEERID_MAX_STR], text[WR_PEERID_MAX_STR + 64];
  if (wr_peerid_format(&pq.peer, id, sizeof id) < 0)
    id[0] = '\0';
  if (wr_rpc_ok(c, "application/json", 2) != 0)
    return;
  snprintf(text, sizeof text, "PING %s.", id);
  if (ping_line(c, 0, 0, text) != 0)
    return;
  uint64_t total = 0, ok = 0;
  for (uint64_t i = 0; i < count; i++) {
    pq.why[0] = '\0';
    int rv = wr_loopcall_run(c->loopcall, ping_on_loop, &pq);
    if (rv) {
      snprintf(text, sizeof text, "Ping error: %s", pq.why[0] ? pq.why : wr_strerror(rv));
      if (ping_line(c, 0, 0, text) != 0)
        return;
      continue;
    }
    ok++;
    total += pq.rtt_ns;
    if (ping_line(c, 1, pq.rtt_ns, "") != 0)
      return;
  }
  if (ok)
    snprintf(text, sizeof text, "Average latency: %.2fms", (double)total / (double)ok / 1e6);
  else
    snprintf(text, sizeof text, "Ping failed");
  (void)ping_line(c, ok > 0, 0, text);
}

void wr_rpc_cmd_id_peer(wr_rpc_call *c, const char *arg) {
  if (need_host(c))
    return;
  identify_req *iq = wr_calloc(1, sizeof *iq);
  if (!iq) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
    return;
  }
  iq->host = c->host;
  char id[WR_PEERID_MAX_STR], key[128] = "";
  if (peer_arg(c, arg, &iq->peer) != 0)
    goto out;
  if (wr_peerid_format(&iq->peer, id, sizeof id) < 0)
    id[0] = '\0';
  if (wr_loopcall_run(c->loopcall, identify_on_loop, iq) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL,
                "%s: not connected, or it has not answered identify (swarm connect first)", id);
    goto out;
  }
  /* An Ed25519 peer ID holds its key, which kubo prints as the protobuf. */
  wr_p2p_pubkey pk;
  uint8_t pb[WR_P2P_PUBKEY_ED25519_PB];
  if (wr_peerid_pubkey(&iq->peer, &pk) == 0) {
    wr_p2p_pubkey_encode(&pk, pb);
    if (wr_base64_encode(pb, sizeof pb, key, sizeof key) < 0)
      key[0] = '\0';
  }
  wr_buf b;
  wr_buf_init(&b, 1 << 20);
  int rv = wr_buf_puts(&b, "{\"ID\":");
  if (!rv)
    rv = wr_json_put_string(&b, id, strlen(id));
  if (!rv)
    rv = wr_buf_puts(&b, ",\"PublicKey\":");
  if (!rv)
    rv = wr_json_put_string(&b, key, strlen(key));
  if (!rv)
    rv = wr_buf_puts(&b, ",\"Addresses\":[");
  for (size_t i = 0; i < iq->info.nlisten_addrs && !rv; i++) {
    char a[WR_MA_MAX_STR + WR_PEERID_MAX_STR + 8];
    if (wr_maddr_format(&iq->info.listen_addrs[i], a, WR_MA_MAX_STR) < 0)
      continue;
    size_t len = strlen(a);
    snprintf(a + len, sizeof a - len, "/p2p/%s", id);
    rv = wr_buf_puts(&b, i ? "," : "");
    if (!rv)
      rv = wr_json_put_string(&b, a, strlen(a));
  }
  if (!rv)
    rv = wr_buf_puts(&b, "],\"AgentVersion\":");
  if (!rv)
    rv = wr_json_put_string(&b, iq->info.agent_version, strlen(iq->info.agent_version));
  if (!rv)
    rv = wr_buf_puts(&b, ",\"Protocols\":[");
  for (size_t i = 0; i < iq->info.nprotocols && !rv; i++) {
    rv = wr_buf_puts(&b, i ? "," : "");
    if (!rv)
      rv = wr_json_put_string(&b, iq->protocols[i], strlen(iq->protocols[i]));
  }
  if (!rv)
    rv = wr_buf_puts(&b, "]}");
  if (!rv)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", wr_strerror(rv));
  wr_buf_free(&b);
out:
  wr_free(iq);
}
