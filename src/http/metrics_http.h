/* metrics_http.h: the small HTTP endpoint behind --metrics.
 *
 * Serves, on one TCP address of a libuv loop:
 *   GET /metrics  the registry in the Prometheus text format (0.0.4)
 *   GET /ready    {"status":200,"readyConnections":N}, status 200 when N > 0,
 *                 else {"status":503,...} with status 503
 *   GET /healthcheck  "OK" (as cloudflared)
 *   GET <json_path>   a JSON document of the owner's (the edge's /tunnels)
 * Anything else is 404 (405 for a method other than GET/HEAD). Each answer
 * closes its connection: scrapers open one per scrape, and it keeps this
 * endpoint free of keep-alive state. Requests are read up to a bounded head
 * (8 KiB) within a timeout (10 s); past either the connection is dropped and
 * the drop is logged. Used by both the edge and the connector. */
#ifndef WR_HTTP_METRICS_HTTP_H
#define WR_HTTP_METRICS_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/metrics.h"

typedef struct wr_metrics_http wr_metrics_http;

typedef struct wr_metrics_http_config {
  wr_metrics *reg; /* required; must outlive the endpoint */
  /* Called before each /metrics answer so gauges can be refreshed; may be NULL. */
  void (*collect)(void *user);
  /* The number of ready connections for /ready; NULL means always 0. */
  size_t (*ready)(void *user);
  /* An extra JSON document at json_path; both may be NULL. json appends it
   * to out and returns 0 or an error (then 500). */
  const char *json_path;
  int (*json)(void *user, wr_buf *out);
  void *user;
} wr_metrics_http_config;

/* Listens on addr (port 0 picks one) and serves as above; cfg is copied.
 * Returns 0 with *pm, WR_ERR_IO when the address cannot be bound (logged with
 * the reason), WR_ERR_INVAL (no registry), WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_metrics_http_new(wr_metrics_http **pm, uv_loop_t *loop,
                                      const struct sockaddr *addr,
                                      const wr_metrics_http_config *cfg);

/* The bound address (with the port picked for port 0). */
WR_MUST_CHECK int wr_metrics_http_local_addr(const wr_metrics_http *m,
                                             struct sockaddr_storage *out);

/* Stops listening and closes every open connection; cb(data) runs once all
 * handles are closed, after which m is freed. cb may be NULL. */
void wr_metrics_http_close(wr_metrics_http *m, void (*cb)(void *data), void *data);

#endif
