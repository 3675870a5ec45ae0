#include "io/dns.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"

struct wr_dns_req {
  uv_getaddrinfo_t req; /* first: the libuv callback casts back */
  wr_dns_cb cb;
  void *arg;
  int cancelled;
  char host[WR_DNS_MAX_HOST];
};

int wr_dns_split_hostport(const char *s, char *host, size_t hostcap, uint16_t *pport) {
  const char *h, *port;
  size_t hl;
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb == s + 1 || rb[1] != ':')
      return WR_ERR_INVAL;
    h = s + 1;
    hl = (size_t)(rb - h);
    port = rb + 2;
  } else {
    const char *colon = strrchr(s, ':');
    /* One colon only: a bare IPv6 address needs its brackets. */
    if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
      return WR_ERR_INVAL;
    for (const char *q = s; q < colon; q++)
      if ((unsigned char)*q <= ' ' || *q == '/' || *q == '[' || *q == ']')
        return WR_ERR_INVAL;
    h = s;
    hl = (size_t)(colon - s);
    port = colon + 1;
  }
  unsigned long v = 0;
  if (!*port)
    return WR_ERR_INVAL;
  for (const char *q = port; *q; q++)
    if (*q < '0' || *q > '9' || (v = v * 10 + (unsigned long)(*q - '0')) > 65535)
      return WR_ERR_INVAL;
  if (v == 0)
    return WR_ERR_INVAL;
  if (host) {
    if (hl >= hostcap)
      return WR_ERR_INVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
  }
  if (pport)
    *pport = (uint16_t)v;
  return 0;
}

static void resolved_cb(uv_getaddrinfo_t *ureq, int status, struct addrinfo *res) {
  wr_dns_req *r = (wr_dns_req *)ureq;
  wr_addr addrs[WR_DNS_MAX_ADDRS];
  size_t n = 0;
  char err[WR_DNS_MAX_HOST + 96] = "";
  int rv = 0;
  if (r->cancelled || status == UV_EAI_CANCELED) {
    rv = WR_ERR_CLOSED;
    snprintf(err, sizeof err, "resolving %s was cancelled", r->host);
  } else if (status < 0) {
    rv = status == UV_EAI_NONAME || status == UV_EAI_NODATA   ? WR_ERR_NOTFOUND
         : status == UV_EAI_MEMORY || status == UV_ENOMEM ? WR_ERR_NOMEM
                                                              : WR_ERR_IO;
    snprintf(err, sizeof err, "cannot resolve %s: %s", r->host, uv_strerror(status));
  } else {
    for (const struct addrinfo *ai = res; ai && n < WR_DNS_MAX_ADDRS; ai = ai->ai_next) {
      wr_addr_from_sockaddr(ai->ai_addr, &addrs[n]);
      if (addrs[n].sa.sa_family != AF_UNSPEC)
        n++;
    }
    if (n == 0) {
      rv = WR_ERR_NOTFOUND;
      snprintf(err, sizeof err, "cannot resolve %s: no IPv4 or IPv6 address", r->host);
    }
  }
  uv_freeaddrinfo(res);
  r->cb(rv, n ? addrs : NULL, n, err, r->arg);
  wr_free(r);
}

int wr_dns_resolve(uv_loop_t *loop, const char *hostport, wr_dns_cb cb, void *arg,
                   wr_dns_req **preq, char *err, size_t errlen) {
  char port[8];
  uint16_t p;
  wr_dns_req *r = wr_calloc(1, sizeof *r);
  if (!r)
    return wr_errf(err, errlen, WR_ERR_NOMEM, "out of memory while resolving %s", hostport);
  if (wr_dns_split_hostport(hostport, r->host, sizeof r->host, &p) != 0) {
    wr_free(r);
    return wr_errf(err, errlen, WR_ERR_INVAL, "\"%s\" is not HOST:PORT", hostport);
  }
  snprintf(port, sizeof port, "%u", p);
  r->cb = cb;
  r->arg = arg;
  /* SOCK_DGRAM only so each address comes once (not once per socket type);
   * the same addresses serve TCP. AI_ADDRCONFIG: no IPv6 answers on a host
   * without IPv6. */
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                           .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV};
  int rv = uv_getaddrinfo(loop, &r->req, resolved_cb, r->host, port, &hints);
  if (rv < 0) {
    rv = wr_errf(err, errlen, rv == UV_ENOMEM ? WR_ERR_NOMEM : WR_ERR_IO, "cannot resolve %s: %s",
                 r->host, uv_strerror(rv));
    wr_free(r);
    return rv;
  }
  if (preq)
    *preq = r;
  return 0;
}

void wr_dns_cancel(wr_dns_req *req) {
  req->cancelled = 1;
  /* Fails (harmlessly) once the lookup runs; cancelled still decides. */
  (void)uv_cancel((uv_req_t *)&req->req);
}
