/* edge_file.h: the edge's YAML config file (`warren edge --config FILE`).
 *
 * A mapping with the flags' names as keys (listen, listen-http2, http, https,
 * tunnels, cert, key, self-signed, metrics, location, grace-period,
 * header-timeout, idle-timeout, max-connections, max-connections-per-client,
 * tunnel-idle-timeout, tunnel-keepalive, repo, dnslink ("true"), dns-resolver,
 * dns-timeout, p2p (true or false), gateway-timeout, gateway-fetches;
 * https-cert, https-key, gateway, subdomain-gateway, swarm, bootstrap take
 * one value or a list; content takes a list of HOST=/ipfs/CID or a mapping
 * HOST: /ipfs/CID). Values
 * stay text: `warren edge` checks them as it checks the flags, which win. */
#ifndef WR_EDGE_EDGE_FILE_H
#define WR_EDGE_EDGE_FILE_H

#include <stddef.h>

#include "base/err.h"
#include "proto/text/yamldoc.h"

#define WR_EDGE_FILE_MAX_CERTS 64

typedef struct wr_edge_file {
  const char *listen, *listen_http2, *http, *https, *tunnels, *cert, *key, *self_signed, *metrics,
      *location, *grace_period, *header_timeout, *idle_timeout, *max_connections,
      *max_connections_per_client, *tunnel_idle_timeout, *tunnel_keepalive, *repo, *dnslink,
      *dns_resolver, *dns_timeout, *dns_max_lookups;
  const char *https_cert[WR_EDGE_FILE_MAX_CERTS], *https_key[WR_EDGE_FILE_MAX_CERTS];
  size_t n_https_cert, n_https_key;
  /* The gateway: path gateway hostnames, subdomain gateway hostnames, and
   * content sites as "HOST=/ipfs/CID[/path]", "HOST=/ipns/NAME[/path]" or
   * "HOST=dnslink" (a file lists them or gives a mapping HOST: ROOT). */
  const char *gateway[WR_EDGE_FILE_MAX_CERTS], *subdomain_gateway[WR_EDGE_FILE_MAX_CERTS],
      *content[WR_EDGE_FILE_MAX_CERTS];
  size_t n_gateway, n_subdomain_gateway, n_content;
  /* The IPFS node the edge may embed for its gateway's fetches: p2p
   * ("true"/"false"; swarm or bootstrap imply it), its listen and bootstrap
   * multiaddrs, and the gateway's bounds on fetching. */
  const char *p2p, *gateway_timeout, *gateway_fetches;
  const char *swarm[WR_EDGE_FILE_MAX_CERTS], *bootstrap[WR_EDGE_FILE_MAX_CERTS];
  size_t n_swarm, n_bootstrap;
  char *content_owned[WR_EDGE_FILE_MAX_CERTS]; /* "HOST=ROOT" strings made from a mapping */
  wr_yaml y;                                   /* owns the strings above once parsed */
} wr_edge_file;

/* Parses a config text from memory into f (zeroed first). file names it in
 * messages ("FILE:LINE:COL: sentence" in err). WR_ERR_MALFORMED (YAML),
 * WR_ERR_INVAL (an unknown key, a value of the wrong kind), WR_ERR_LIMIT,
 * WR_ERR_NOMEM. Call wr_edge_file_free in every case. */
WR_MUST_CHECK int wr_edge_file_parse(wr_edge_file *f, const char *text, size_t len,
                                     const char *file, char *err, size_t errlen);
/* Reads and parses path (WR_ERR_NOTFOUND, WR_ERR_IO from reading). */
WR_MUST_CHECK int wr_edge_file_load(wr_edge_file *f, const char *path, char *err, size_t errlen);
void wr_edge_file_free(wr_edge_file *f);

/* Copies into dst every value dst lacks (a NULL string, an empty file list)
 * from src: flags first, then the file. The strings stay src's. */
void wr_edge_file_fill(wr_edge_file *dst, const wr_edge_file *src);

/* Checks that f (flags and file merged) describes an edge that can start:
 * listen and http given, tunnels or a gateway hostname, one certificate source (cert and key, or
 * self-signed), https-cert and https-key in pairs and only with https.
 * Values are not parsed here. Returns 0, or WR_ERR_INVAL with a sentence
 * in err that names the flags (the keys have the same names). */
WR_MUST_CHECK int wr_edge_file_check(const wr_edge_file *f, char *err, size_t errlen);

#endif
