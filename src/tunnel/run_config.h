/* run_config.h: what `warren tunnel run` runs with. The command line's
 * settings override the config file's keys (as cloudflared does), --url (or
 * the file's url) replaces the ingress rules by one catch-all, and the
 * result becomes the connector's configuration (tunnel/connector.h).
 *
 * Strings are borrowed: from argv for the command line, from the
 * wr_tunnel_config for the file, which must outlive the wr_run_config and
 * the wr_connector_config built from it. */
#ifndef WR_TUNNEL_RUN_CONFIG_H
#define WR_TUNNEL_RUN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/metrics.h"
#include "net/tls.h"
#include "tunnel/connector.h"
#include "tunnel/credentials.h"
#include "tunnel/tunnel_config.h"

typedef struct wr_run_config {
  /* NULL, 0 or -1: not given on the command line (taken from the file). */
  const char *credentials_file, *url, *metrics, *edge_ca, *edge_fingerprint, *edge_name;
  const char *token; /* the credentials as a token (tunnel token), instead of the file */
  const char *name;  /* `run NAME`: the tunnel the credentials must be for */
  const char *edges[WR_CONNECTOR_MAX_EDGES];
  size_t nedges;
  long ha_connections;  /* -1: not given */
  int protocol;         /* WR_PROTOCOL_*, -1: not given */
  uint64_t grace_ns, quic_probe_interval_ns, quic_timeout_ns;
  uint64_t idle_timeout_ns, keepalive_ns;
  int no_gso;
  char fingerprint_hex[65]; /* the file's edge-fingerprint, as text */
} wr_run_config;

/* Nothing given. */
void wr_run_config_init(wr_run_config *rc);

/* Fills every setting the command line did not give from the config file
 * tc (the file's defaults where it is silent too). */
void wr_run_config_merge_file(wr_run_config *rc, const wr_tunnel_config *tc);

/* Settles what is served, in tc->ingress: with rc->url, that one origin
 * (the file's rules are dropped); else the file's rules, which must form a
 * valid list. Returns 0, or with a sentence in err: WR_ERR_INVAL (the URL
 * is not a service: "--url: ..."), WR_ERR_NOTFOUND (neither a URL nor
 * rules), WR_ERR_MALFORMED (the rules as a list are not valid,
 * "FILE:LINE:COL: ..."), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_run_config_ingress(const wr_run_config *rc, wr_tunnel_config *tc, char *err,
                                        size_t errlen);

/* The connector's configuration: rc's settings with the credentials' tunnel
 * id and secret (copied), on loop, through tls (and counting into metrics),
 * serving tc->ingress. tls, metrics, tc and rc's strings must outlive the
 * connector. */
void wr_run_config_connector(const wr_run_config *rc, const wr_tunnel_config *tc,
                             const wr_credentials *cred, uv_loop_t *loop,
                             const wr_tls_client *tls, wr_metrics *metrics,
                             wr_connector_config *pcc);

#endif
