/* origin_tls.c: client credentials for TLS origins, one set per origin and
 * setting, shared by its connections. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "tunnel/proxy_internal.h"

void wr_origin_tls_unref(wr_proxy_ctx *ctx, origin_tls *ot) {
  if (--ot->refs > 0 || !ctx->closed)
    return;
  for (origin_tls **pp = &ctx->tls; *pp; pp = &(*pp)->next) {
    if (*pp == ot) {
      *pp = ot->next;
      break;
    }
  }
  wr_tls_client_del(ot->cli);
  wr_free(ot);
}

/* The name the origin's certificate must carry (and SNI): originServerName,
 * else the service's host. */
/* The name an origin's certificate is checked for: originServerName, else the
 * service's host; a Unix socket has none, and local certificates name localhost. */
const char *wr_origin_tls_name(const wr_proxy *p) {
  if (p->orq->origin_server_name && p->orq->origin_server_name[0])
    return p->orq->origin_server_name;
  return p->svc->type == WR_SERVICE_UNIX_TLS ? "localhost" : p->svc->host;
}

/* Finds or makes the credentials for p's origin: caPool (a CA file) when set,
 * else the system's CAs; noTLSVerify skips verification (warned once per
 * origin, here). Returns a new reference, or NULL after logging why. */
origin_tls *wr_origin_tls_get(wr_proxy *p, const char *key) {
  wr_proxy_ctx *ctx = p->ctx;
  for (origin_tls *ot = ctx->tls; ot; ot = ot->next) {
    if (strcmp(ot->key, key) == 0) {
      ot->refs++;
      return ot;
    }
  }
  origin_tls *ot = wr_calloc(1, sizeof *ot);
  if (!ot)
    return NULL;
  const char *ca = p->orq->ca_pool && p->orq->ca_pool[0] ? p->orq->ca_pool : NULL;
  wr_tls_client_config cc = {
      .ca_file = ca, .system_trust = !ca, .no_verify = p->orq->no_tls_verify};
  char err[WR_TLS_ERRLEN] = "";
  if (wr_tls_client_new(&ot->cli, &cc, err, sizeof err) != 0) {
    WR_ERROR("Cannot set up TLS to the origin", "error=\"%s\" originService=%s", err,
             p->origin_name);
    wr_free(ot);
    return NULL;
  }
  if (p->orq->no_tls_verify)
    WR_WARN("TLS verification of the origin is off (noTLSVerify): its certificate is not checked",
            "originService=%s", p->origin_name);
  snprintf(ot->key, sizeof ot->key, "%s", key);
  ot->refs = 1;
  ot->next = ctx->tls;
  ctx->tls = ot;
  return ot;
}

void wr_origin_tls_free_unused(wr_proxy_ctx *ctx) {
  for (origin_tls **pp = &ctx->tls; *pp;) {
    origin_tls *ot = *pp;
    if (ot->refs) {
      pp = &ot->next;
      continue;
    }
    *pp = ot->next;
    wr_tls_client_del(ot->cli);
    wr_free(ot);
  }
}
