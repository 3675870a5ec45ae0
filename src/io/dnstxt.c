#include "io/dnstxt.h"

#include <ares.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "io/dns.h"
#include "proto/dns/dnsmsg.h"

#define ERR_MAX 512

/* One c-ares socket and the poll handle watching it. */
typedef struct sock_watch {
  uv_poll_t poll;
  wr_dnstxt *r;
  ares_socket_t fd;
  struct sock_watch *next;
} sock_watch;

struct wr_dnstxt_query {
  wr_dnstxt *r;
  wr_dnstxt_cb cb;
  void *arg;
  int delivered; /* cb has run, or is queued to run with status */
  int ares_done; /* c-ares has called back: the query may be freed */
  int status;    /* for a queued delivery */
  wr_dnstxt_query *next_ready;
  char err[ERR_MAX];
  char name[WR_DNSMSG_MAX_NAME];
};

struct wr_dnstxt {
  uv_loop_t *loop;
  ares_channel channel;
  int have_channel;
  uv_timer_t timer; /* ares_timeout */
  uv_timer_t defer; /* delivers callbacks that must not run inside a call */
  sock_watch *socks;
  wr_dnstxt_query *ready, **ready_tail;
  int in_call; /* inside wr_dnstxt_lookup: c-ares may call back synchronously */
  int in_ares; /* inside ares_process_fd: ares_destroy must wait until it returns */
  int closing;
  int destroyed;
  char (*vals)[WR_DNSTXT_MAX_VALUE]; /* the joined values of the answer being delivered */
  int open_handles;
  unsigned timeout_ms;
  void (*on_closed)(void *);
  void *closed_arg;
  char server[64];
};

static void rearm(wr_dnstxt *r);

static void defer_cb(uv_timer_t *t);

static void queue_ready(wr_dnstxt *r, wr_dnstxt_query *q, int status, const char *err) {
  q->delivered = 1;
  q->status = status;
  snprintf(q->err, sizeof q->err, "%s", err);
  q->next_ready = NULL;
  *r->ready_tail = q;
  r->ready_tail = &q->next_ready;
  if (!r->closing)
    uv_timer_start(&r->defer, defer_cb, 0, 0);
}

static void flush_ready(wr_dnstxt *r) {
  wr_dnstxt_query *q = r->ready;
  r->ready = NULL;
  r->ready_tail = &r->ready;
  while (q) {
    wr_dnstxt_query *next = q->next_ready;
    q->cb(q->status, NULL, 0, 0, q->err, q->arg);
    q->cb = NULL;
    if (q->ares_done)
      wr_free(q);
    q = next;
  }
}

static void defer_cb(uv_timer_t *t) { flush_ready(t->data); }

static int map_status(int st) {
  switch (st) {
  case ARES_ENOTFOUND:
  case ARES_ENODATA:
    return WR_ERR_NOTFOUND;
  case ARES_ETIMEOUT:
    return WR_ERR_TIMEOUT;
  case ARES_ECONNREFUSED:
    return WR_ERR_REFUSED;
  case ARES_ECANCELLED:
  case ARES_EDESTRUCTION:
    return WR_ERR_CLOSED;
  case ARES_ENOMEM:
    return WR_ERR_NOMEM;
  case ARES_EBADRESP:
    return WR_ERR_MALFORMED;
  default:
    return WR_ERR_IO;
  }
}

static void describe(wr_dnstxt *r, const char *name, int st, char *err, size_t len) {
  switch (st) {
  case ARES_ENOTFOUND:
    snprintf(err, len, "%s does not exist (NXDOMAIN from %s)", name, r->server);
    break;
  case ARES_ENODATA:
    snprintf(err, len, "%s has no TXT record (asked %s)", name, r->server);
    break;
  case ARES_ETIMEOUT:
    snprintf(err, len, "no answer from %s for the TXT record of %s within %u ms", r->server, name,
             r->timeout_ms);
    break;
  case ARES_ECONNREFUSED:
    /* c-ares reports a SERVFAIL or REFUSED answer the same way as a port
     * nobody listens on */
    snprintf(err, len,
             "%s refused or failed the TXT lookup of %s (nothing listens there, or it "
             "answered SERVFAIL or REFUSED)",
             r->server, name);
    break;
  case ARES_ECANCELLED:
  case ARES_EDESTRUCTION:
    snprintf(err, len, "the TXT lookup of %s was cancelled", name);
    break;
  default:
    snprintf(err, len, "the TXT lookup of %s at %s failed: %s", name, r->server, ares_strerror(st));
  }
}

static void answer_cb(void *arg, int st, int timeouts, unsigned char *abuf, int alen) {
  (void)timeouts;
  wr_dnstxt_query *q = arg;
  wr_dnstxt *r = q->r;
  q->ares_done = 1;
  if (q->delivered) {
    if (!q->cb)
      wr_free(q);
    return;
  }
  char err[ERR_MAX] = "";
  int status = 0;
  if (st != ARES_SUCCESS || r->in_call || r->closing) {
    if (st == ARES_SUCCESS) /* only when closing: the answer no longer matters */
      st = ARES_EDESTRUCTION;
    describe(r, q->name, st, err, sizeof err);
    status = map_status(st);
    if (r->in_call || r->closing) {
      queue_ready(r, q, status, err);
      return;
    }
    q->cb(status, NULL, 0, 0, err, q->arg);
    wr_free(q);
    return;
  }
  /* Read the answer here: values point into the resolver's buffer. */
  char(*vals)[WR_DNSTXT_MAX_VALUE] = r->vals;
  wr_dnstxt_value v[WR_DNSTXT_MAX_VALUES];
  wr_dnsmsg_answer a;
  const char *why = NULL;
  size_t n = 0;
  status = wr_dnsmsg_parse_txt(abuf, (size_t)alen, &a, &why);
  if (status != 0) {
    snprintf(err, sizeof err, "the answer from %s for the TXT record of %s does not parse: %s",
             r->server, q->name, why);
    status = WR_ERR_MALFORMED;
  } else {
    for (size_t i = 0; i < a.ntxt && n < WR_DNSTXT_MAX_VALUES; i++) {
      size_t len = 0;
      if (wr_dnsmsg_txt_value(abuf, &a.txt[i], vals[n], sizeof vals[n], &len, &why) != 0) {
        vals[n][0] = '\0'; /* kept as an empty value: it cannot be a DNSLink */
        len = 0;
      }
      v[n] = (wr_dnstxt_value){.s = vals[n], .n = len, .ttl = a.txt[i].ttl};
      n++;
    }
    if (n == 0) {
      status = WR_ERR_NOTFOUND;
      snprintf(err, sizeof err, "%s has no TXT record (asked %s)", q->name, r->server);
    }
  }
  q->delivered = 1;
  q->cb(status, status == 0 ? v : NULL, status == 0 ? n : 0, status == 0 ? a.min_ttl : 0, err,
        q->arg);
  q->cb = NULL;
  wr_free(q);
}

static void finish_close(wr_dnstxt *r);

/* Lets c-ares work; a callback inside may close the resolver, which then
 * finishes here, after c-ares has returned. */
static void process(wr_dnstxt *r, ares_socket_t rfd, ares_socket_t wfd) {
  if (r->destroyed)
    return;
  r->in_ares = 1;
  ares_process_fd(r->channel, rfd, wfd);
  r->in_ares = 0;
  if (r->closing)
    finish_close(r);
  else
    rearm(r);
}

static void timer_cb(uv_timer_t *t) { process(t->data, ARES_SOCKET_BAD, ARES_SOCKET_BAD); }

static void rearm(wr_dnstxt *r) {
  struct timeval tv, *tvp;
  if (r->closing || !r->have_channel)
    return;
  tvp = ares_timeout(r->channel, NULL, &tv);
  if (!tvp) {
    uv_timer_stop(&r->timer);
    return;
  }
  uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)(tvp->tv_usec + 999) / 1000;
  uv_timer_start(&r->timer, timer_cb, ms, 0);
}

static void poll_cb(uv_poll_t *p, int status, int events) {
  sock_watch *w = p->data;
  wr_dnstxt *r = w->r;
  ares_socket_t fd = w->fd;
  /* An error on the socket: let c-ares read it and notice. */
  ares_socket_t rfd = status < 0 || (events & UV_READABLE) ? fd : ARES_SOCKET_BAD;
  ares_socket_t wfd = status < 0 || (events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD;
  process(r, rfd, wfd);
}

static void handle_closed(uv_handle_t *h) {
  wr_dnstxt *r = h->data;
  if (h->type == UV_POLL) {
    sock_watch *w = (sock_watch *)h;
    r = w->r;
    wr_free(w);
  }
  if (--r->open_handles > 0)
    return;
  /* Last handle: the lookups cancelled by close hear of it, then the owner. */
  flush_ready(r);
  if (r->on_closed)
    r->on_closed(r->closed_arg);
  if (r->have_channel)
    ares_library_cleanup();
  wr_free(r->vals);
  wr_free(r);
}

static void unwatch(sock_watch **pp) {
  sock_watch *w = *pp;
  *pp = w->next;
  /* uv_close stops the poll at once, before c-ares closes the fd */
  uv_close((uv_handle_t *)&w->poll, handle_closed);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable) {
  wr_dnstxt *r = data;
  sock_watch **pp = &r->socks;
  while (*pp && (*pp)->fd != fd)
    pp = &(*pp)->next;
  if (!readable && !writable) {
    if (*pp)
      unwatch(pp);
    return;
  }
  sock_watch *w = *pp;
  if (!w) {
    w = wr_calloc(1, sizeof *w);
    if (!w)
      return; /* the lookup times out instead */
    if (uv_poll_init_socket(r->loop, &w->poll, fd) != 0) {
      wr_free(w);
      return;
    }
    w->r = r;
    w->fd = fd;
    w->poll.data = w;
    w->next = r->socks;
    r->socks = w;
    r->open_handles++;
  }
  uv_poll_start(&w->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), poll_cb);
}

int wr_dnstxt_new(uv_loop_t *loop, const wr_dnstxt_cfg *cfg, wr_dnstxt **pr, char *err,
                  size_t errlen) {
  const char *server = cfg && cfg->server && *cfg->server ? cfg->server : NULL;
  char host[WR_DNS_MAX_HOST];
  uint16_t port;
  unsigned char bin[16];
  if (server && (wr_dns_split_hostport(server, host, sizeof host, &port) != 0 ||
                 (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1) ||
                 strlen(server) >= sizeof((wr_dnstxt *)0)->server))
    return wr_errf(err, errlen, WR_ERR_INVAL,
                   "DNS server \"%s\" is not ADDR:PORT with a numeric address (as 127.0.0.1:53 "
                   "or [::1]:53)",
                   server);
  wr_dnstxt *r = wr_calloc(1, sizeof *r);
  if (r && !(r->vals = wr_malloc(WR_DNSTXT_MAX_VALUES * sizeof *r->vals))) {
    wr_free(r);
    r = NULL;
  }
  if (!r)
    return wr_errf(err, errlen, WR_ERR_NOMEM, "out of memory for a DNS resolver");
  r->loop = loop;
  r->ready_tail = &r->ready;
  r->timeout_ms = cfg && cfg->timeout_ms ? cfg->timeout_ms : 5000;
  snprintf(r->server, sizeof r->server, "%s", server ? server : "the system resolver");
  int st = ares_library_init(ARES_LIB_INIT_ALL);
  if (st != ARES_SUCCESS) {
    wr_free(r->vals);
    wr_free(r);
    return wr_errf(err, errlen, WR_ERR_IO, "cannot start c-ares: %s", ares_strerror(st));
  }
  struct ares_options o;
  memset(&o, 0, sizeof o);
  /* Two tries, the second twice as long (c-ares doubles it): a third each. */
  o.timeout = (int)(r->timeout_ms / 3 > 50 ? r->timeout_ms / 3 : 50);
  o.tries = 2;
  o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
  o.ednspsz = 1232; /* the DNS flag day size: no IP fragments */
  o.sock_state_cb = sock_state_cb;
  o.sock_state_cb_data = r;
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ |
             ARES_OPT_SOCK_STATE_CB;
  st = ares_init_options(&r->channel, &o, mask);
  if (st == ARES_SUCCESS && server) {
    st = ares_set_servers_ports_csv(r->channel, server);
    if (st != ARES_SUCCESS)
      ares_destroy(r->channel);
  }
  if (st != ARES_SUCCESS) {
    ares_library_cleanup();
    int code = st == ARES_ENOMEM ? WR_ERR_NOMEM : WR_ERR_IO;
    wr_free(r->vals);
    wr_free(r);
    return wr_errf(err, errlen, code, "cannot set up DNS lookups with %s: %s",
                   server ? server : "/etc/resolv.conf", ares_strerror(st));
  }
  r->have_channel = 1;
  uv_timer_init(loop, &r->timer);
  uv_timer_init(loop, &r->defer);
  r->timer.data = r;
  r->defer.data = r;
  r->open_handles = 2;
  *pr = r;
  return 0;
}

int wr_dnstxt_lookup(wr_dnstxt *r, const char *name, wr_dnstxt_cb cb, void *arg,
                     wr_dnstxt_query **pq) {
  size_t len = strlen(name);
  if (len == 0 || len >= WR_DNSMSG_MAX_NAME)
    return WR_ERR_INVAL;
  if (r->closing)
    return WR_ERR_CLOSED;
  wr_dnstxt_query *q = wr_calloc(1, sizeof *q);
  if (!q)
    return WR_ERR_NOMEM;
  q->r = r;
  q->cb = cb;
  q->arg = arg;
  memcpy(q->name, name, len + 1);
  if (pq)
    *pq = q;
  r->in_call = 1;
  ares_query(r->channel, name, 1 /* C_IN */, 16 /* T_TXT */, answer_cb, q);
  r->in_call = 0;
  if (r->closing) /* a callback of a query that failed at once closed it */
    finish_close(r);
  else
    rearm(r);
  return 0;
}

void wr_dnstxt_cancel(wr_dnstxt_query *q) {
  if (q->delivered)
    return;
  char err[ERR_MAX];
  snprintf(err, sizeof err, "the TXT lookup of %s was cancelled", q->name);
  queue_ready(q->r, q, WR_ERR_CLOSED, err);
}

void wr_dnstxt_close(wr_dnstxt *r, void (*on_closed)(void *arg), void *arg) {
  if (r->closing)
    return;
  r->closing = 1;
  r->on_closed = on_closed;
  r->closed_arg = arg;
  if (!r->in_ares && !r->in_call)
    finish_close(r);
  /* else process() or wr_dnstxt_lookup finishes it when c-ares returns */
}

static void finish_close(wr_dnstxt *r) {
  if (r->destroyed)
    return;
  r->destroyed = 1;
  /* Every pending query calls back now with ARES_EDESTRUCTION (queued, since
   * closing) and every socket is announced closed (its poll goes). */
  ares_destroy(r->channel);
  while (r->socks)
    unwatch(&r->socks);
  uv_close((uv_handle_t *)&r->timer, handle_closed);
  uv_close((uv_handle_t *)&r->defer, handle_closed);
}

const char *wr_dnstxt_server(const wr_dnstxt *r) { return r->server; }
