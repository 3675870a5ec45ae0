#include "tunnel/run_config.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"

void wr_run_config_init(wr_run_config *rc) {
  memset(rc, 0, sizeof *rc);
  rc->ha_connections = -1;
  rc->protocol = -1;
}

void wr_run_config_merge_file(wr_run_config *rc, const wr_tunnel_config *tc) {
  if (!rc->credentials_file)
    rc->credentials_file = tc->credentials_file;
  if (!rc->url)
    rc->url = tc->url;
  if (!rc->metrics)
    rc->metrics = tc->metrics;
  if (!rc->edge_ca)
    rc->edge_ca = tc->edge_ca;
  if (!rc->edge_fingerprint && tc->has_fingerprint) {
    wr_hex_encode(rc->fingerprint_hex, tc->edge_fingerprint, 32);
    rc->edge_fingerprint = rc->fingerprint_hex;
  }
  /* The command line's edges replace the file's list rather than adding to
   * it; the connector takes the first WR_CONNECTOR_MAX_EDGES. */
  if (rc->nedges == 0)
    for (size_t i = 0; i < tc->nedges && i < WR_CONNECTOR_MAX_EDGES; i++)
      rc->edges[rc->nedges++] = tc->edges[i];
  if (rc->ha_connections <= 0)
    rc->ha_connections = (long)tc->ha_connections;
  if (rc->protocol < 0)
    rc->protocol = (int)tc->protocol;
  if (!rc->grace_ns)
    rc->grace_ns = tc->grace_period_ns;
  if (!rc->idle_timeout_ns)
    rc->idle_timeout_ns = tc->tunnel_idle_timeout_ns;
  if (!rc->keepalive_ns)
    rc->keepalive_ns = tc->tunnel_keepalive_ns;
}

int wr_run_config_ingress(const wr_run_config *rc, wr_tunnel_config *tc, char *err,
                          size_t errlen) {
  if (rc->url) { /* one catch-all instead of the rules */
    char why[400];
    wr_ingress_free(&tc->ingress);
    wr_ingress_init(&tc->ingress);
    int rv = wr_ingress_add(&tc->ingress, NULL, NULL, rc->url, NULL, why, sizeof why);
    if (rv) {
      snprintf(err, errlen, "--url: %s", why);
      return rv == WR_ERR_NOMEM ? rv : WR_ERR_INVAL;
    }
    return 0;
  }
  if (tc->ingress.n == 0) {
    snprintf(err, errlen, "nothing to serve: give --url or ingress rules in the config file.");
    return WR_ERR_NOTFOUND;
  }
  int rv = wr_tunnel_config_validate_ingress(tc, err, errlen);
  return rv == 0 || rv == WR_ERR_NOMEM ? rv : WR_ERR_MALFORMED;
}

void wr_run_config_connector(const wr_run_config *rc, const wr_tunnel_config *tc,
                             const wr_credentials *cred, uv_loop_t *loop,
                             const wr_tls_client *tls, wr_metrics *metrics,
                             wr_connector_config *pcc) {
  /* Filled in place: no second copy of the secret on the stack. */
  wr_connector_config *cc = pcc;
  *cc = (wr_connector_config){0};
  cc->loop = loop;
  for (size_t i = 0; i < rc->nedges; i++)
    cc->edges[i] = rc->edges[i];
  cc->nedges = rc->nedges;
  cc->server_name = rc->edge_name;
  cc->tls = tls;
  memcpy(cc->tunnel_id, cred->tunnel_id, 16);
  memcpy(cc->secret, cred->secret, cred->secret_len);
  cc->secret_len = cred->secret_len;
  cc->ha_connections = (unsigned)rc->ha_connections;
  cc->grace_period_ms = rc->grace_ns / WR_NS_PER_MS;
  cc->ingress = &tc->ingress;
  cc->metrics = metrics;
  cc->protocol = rc->protocol;
  cc->quic_probe_interval_ms = rc->quic_probe_interval_ns / WR_NS_PER_MS;
  cc->quic_timeout_ms = rc->quic_timeout_ns / WR_NS_PER_MS;
  cc->idle_timeout_ms = rc->idle_timeout_ns / WR_NS_PER_MS;
  cc->keepalive_ms = rc->keepalive_ns / WR_NS_PER_MS;
  cc->disable_gso = rc->no_gso;
}
