/* tunnel_config.h: the connector's config.yml, compatible with cloudflared's.
 *
 *   tunnel: web                       # name or UUID
 *   credentials-file: /etc/warren/web.json
 *   originRequest:                    # defaults for every rule
 *     connectTimeout: 10s
 *   ingress:
 *     - hostname: app.example.com
 *       service: http://localhost:8000
 *     - hostname: "*.example.com"
 *       path: ^/api/
 *       service: unix:/run/api.sock
 *       originRequest: {noTLSVerify: true}
 *     - service: http_status:404      # the catch-all
 *   # warren's own keys:
 *   edge: [edge1.example.net:7844, 192.0.2.10:7844]
 *   edge-ca: /etc/warren/edge.crt      # or edge-fingerprint: <sha256 hex>
 *   ha-connections: 4
 *   protocol: auto                     # auto | quic | http2
 *   metrics: 127.0.0.1:2000
 *   grace-period: 30s
 *   loglevel: info
 *
 * Values that are wrong are errors with "FILE:LINE:COL: sentence". Keys
 * warren does not know are not errors (a cloudflared config has many that
 * mean nothing here, such as no-autoupdate): they are collected in
 * `warnings`, one "LINE:COL: key" per line, as cloudflared reports unused
 * keys. Duplicate keys are errors.
 *
 * Ingress rules are parsed and checked one by one (service, hostname, path
 * regex); whether the list as a whole is valid (non-empty, catch-all last)
 * is wr_ingress_validate's business, since `tunnel run --url` needs no
 * rules. */
#ifndef WR_TUNNEL_TUNNEL_CONFIG_H
#define WR_TUNNEL_TUNNEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/ingress.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"

#define WR_CONFIG_MAX_EDGES 64
#define WR_CONFIG_DEFAULT_HA 4
#define WR_CONFIG_MAX_HA 64
#define WR_CONFIG_DEFAULT_GRACE_NS (UINT64_C(30) * 1000000000) /* cloudflared's default */

typedef enum wr_tunnel_protocol {
  WR_PROTOCOL_AUTO = 0,
  WR_PROTOCOL_QUIC,
  WR_PROTOCOL_HTTP2,
} wr_tunnel_protocol;

typedef struct wr_tunnel_config {
  char *source;           /* the file it came from */
  char *tunnel;           /* `tunnel`: a name or UUID; NULL when absent */
  char *credentials_file; /* NULL when absent */
  char *url;              /* cloudflared's single-origin `url`; NULL when absent */
  wr_ingress ingress;
  unsigned long *rule_line, *rule_col; /* where each ingress rule starts, for messages */
  char **edges;           /* `edge`: ADDR:PORT strings (checked) */
  size_t nedges;
  char *edge_ca;          /* `edge-ca` file */
  uint8_t edge_fingerprint[32];
  int has_fingerprint;
  unsigned ha_connections;
  wr_tunnel_protocol protocol;
  char *metrics;          /* ADDR:PORT or NULL */
  uint64_t grace_period_ns;
  uint64_t tunnel_idle_timeout_ns, tunnel_keepalive_ns; /* 0: the transports' defaults */
  wr_log_level loglevel;
  int has_loglevel;
  wr_buf warnings;        /* "LINE:COL: key\n" per unknown key */
  size_t warnings_dropped; /* unknown keys past the warnings buffer's limit */
} wr_tunnel_config;

/* Empty config with the defaults (ha 4, protocol auto, grace 30s). */
void wr_tunnel_config_init(wr_tunnel_config *c);
void wr_tunnel_config_free(wr_tunnel_config *c);

/* Parses a config text from memory into c (freshly initialised). file names
 * it in messages. WR_ERR_MALFORMED (YAML), WR_ERR_INVAL (a value),
 * WR_ERR_UNSUPPORTED (a cloudflared service warren lacks), WR_ERR_LIMIT,
 * WR_ERR_NOMEM, with the sentence in err. */
WR_MUST_CHECK int wr_tunnel_config_parse(const char *text, size_t len, const char *file,
                                         wr_tunnel_config *c, char *err, size_t errlen);

/* Reads and parses path (WR_ERR_NOTFOUND, WR_ERR_IO from reading). */
WR_MUST_CHECK int wr_tunnel_config_load(const char *path, wr_tunnel_config *c, char *err,
                                        size_t errlen);

/* Validates the ingress list as a whole (wr_ingress_validate), with the
 * message prefixed by "FILE:LINE:COL: " of the rule at fault when there is
 * one. */
WR_MUST_CHECK int wr_tunnel_config_validate_ingress(const wr_tunnel_config *c, char *err,
                                                    size_t errlen);

/* For `tunnel run --url URL` (and the config's `url` key): makes URL the one
 * catch-all rule. WR_ERR_INVAL with cloudflared's sentence when the config
 * already has ingress rules, or the service's error. */
WR_MUST_CHECK int wr_tunnel_config_use_url(wr_tunnel_config *c, const char *url, char *err,
                                           size_t errlen);

/* Checks "HOST:PORT" or "[V6]:PORT" with a port 1-65535. 0 or WR_ERR_INVAL. */
WR_MUST_CHECK int wr_hostport_check(const char *s);

/* Where `warren tunnel` looks when --config is not given, in order:
 * ~/.warren/config.yml, ~/.warren/config.yaml, /etc/warren/config.yml,
 * /etc/warren/config.yaml. Writes the first that exists into out and
 * returns 0, or WR_ERR_NOTFOUND. home may be NULL (skips the first two). */
WR_MUST_CHECK int wr_tunnel_config_find_default(const char *home, char *out, size_t cap);

#endif
