/* fetch.c: commands on content the node does not hold — the network
 * source (wr_rpc_fetcher, given by the daemon) behind the exporter, and the
 * whole-DAG fetch before `pin add` and `dag export`. */
#include <stdlib.h>
#include <string.h>

#include "rpc/call.h"
#include "store/dag.h"

/* kubo's durations, as Go writes them: a number and ns, us, ms, s, m or h,
 * repeated ("1m30s"). 0 and *pms, or WR_ERR_INVAL. */
static int parse_duration(const char *s, uint64_t *pms) {
  double total = 0;
  if (!*s)
    return WR_ERR_INVAL;
  while (*s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
      return WR_ERR_INVAL;
    s = end;
    double unit;
    if (strncmp(s, "ns", 2) == 0)
      unit = 1e-6, s += 2;
    else if (strncmp(s, "us", 2) == 0)
      unit = 1e-3, s += 2;
    else if (strncmp(s, "ms", 2) == 0)
      unit = 1, s += 2;
    else if (*s == 's')
      unit = 1000, s += 1;
    else if (*s == 'm')
      unit = 60000, s += 1;
    else if (*s == 'h')
      unit = 3600000, s += 1;
    else
      return WR_ERR_INVAL;
    total += v * unit;
  }
  if (total > 1e12)
    return WR_ERR_INVAL;
  *pms = total < 1 ? 1 : (uint64_t)total;
  return 0;
}

/* 1 when the network may be asked, 0 when not, -1 on a bad option
 * (answered). */
static int online(wr_rpc_call *c, uint64_t *ptimeout) {
  *ptimeout = 0;
  if (!c->fetcher.open)
    return 0;
  int off = wr_rpc_bool(c, "offline", 0);
  if (off < 0)
    return -1;
  const char *t = wr_query_get(&c->q, "timeout");
  if (t && parse_duration(t, ptimeout) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_CLIENT, "timeout: \"%s\" is not a duration such as 30s or 2m", t);
    return -1;
  }
  return !off;
}

int wr_rpc_fetch_begin(wr_rpc_call *c, wr_export *ex, wr_blocks **pnet) {
  *pnet = NULL;
  uint64_t timeout;
  int on = online(c, &timeout);
  if (on <= 0)
    return on < 0 ? WR_ERR_INVAL : 0;
  int rv = c->fetcher.open(c->fetcher.arg, c->repo->bs, ex->blocks, timeout, pnet);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot reach the network: %s", wr_strerror(rv));
    return rv;
  }
  ex->blocks = *pnet;
  return 0;
}

const char *wr_rpc_fetch_why(wr_rpc_call *c, wr_blocks *net) {
  if (!net || !c->fetcher.error)
    return NULL;
  const char *s = c->fetcher.error(c->fetcher.arg, net);
  return s && *s ? s : NULL;
}

void wr_rpc_fetch_end(wr_rpc_call *c, wr_blocks *net) {
  if (net)
    c->fetcher.close(c->fetcher.arg, net);
}

int wr_rpc_fetch_dag(wr_rpc_call *c, const wr_cid *root) {
  uint64_t timeout;
  int on = online(c, &timeout);
  if (on <= 0)
    return on < 0 ? WR_ERR_INVAL : 0;
  wr_export ex;
  int rv = wr_export_begin(&ex, c->repo->bs);
  if (rv) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot read the store: %s", wr_strerror(rv));
    wr_export_end(&ex);
    return rv;
  }
  wr_blocks *net = NULL;
  if ((rv = c->fetcher.open(c->fetcher.arg, c->repo->bs, ex.blocks, timeout, &net)) != 0) {
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "cannot reach the network: %s", wr_strerror(rv));
    wr_export_end(&ex);
    return rv;
  }
  wr_cid bad;
  rv = wr_dag_walk(net, root, NULL, 0, NULL, NULL, &bad);
  if (rv) {
    const char *why = wr_rpc_fetch_why(c, net);
    char s[WR_CID_MAX_STR];
    wr_rpc_cid_str(&bad, s);
    if (why)
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "%s", why);
    else
      wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "block %s: %s", s, wr_rpc_store_why(rv));
  }
  c->fetcher.close(c->fetcher.arg, net);
  wr_export_end(&ex);
  return rv;
}
