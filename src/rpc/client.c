/* client.c: blocking RPC client for the CLI (see client.h). */
#include "rpc/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "proto/http/http1.h"
#include "proto/text/json.h"
#include "rpc/apiaddr.h"

#define CONNECT_MS 2000
#define IO_MS                                                                                      \
  (24 * 3600 * 1000) /* a command may run long (a big add); the daemon says when it ends */

#define IN_BUF (1024u * 1024u)

struct wr_rpc_conn {
  int fd;
  wr_h1_parser p;
  int status;
  int done;
  wr_buf errbody; /* a non-200 answer's body */
  uint8_t *in;    /* IN_BUF bytes read from the daemon */
  int errbody_short;
  wr_rpc_recv_fn recv;
  void *rarg;
  int rerr; /* recv's error */
  char *err;
  size_t errlen;
};

static int dial(const wr_addr *a, int *pfd, char *err, size_t errlen) {
  int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "cannot make a socket: %s", strerror(errno));
    return WR_ERR_IO;
  }
  int fl = fcntl(fd, F_GETFL);
  (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  int rc = connect(fd, &a->sa, a->len);
  if (rc != 0 && errno == EINPROGRESS) {
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int k = poll(&pf, 1, CONNECT_MS);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (k == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
      rc = 0;
    else
      errno = k == 0 ? ETIMEDOUT : soerr;
  }
  if (rc != 0) {
    int e = errno;
    char s[WR_ADDR_STRLEN];
    snprintf(err, errlen, "cannot reach the daemon's API at %s: %s", wr_addr_format(a, s, sizeof s),
             strerror(e));
    close(fd);
    return e == ECONNREFUSED ? WR_ERR_REFUSED : WR_ERR_IO;
  }
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  *pfd = fd;
  return 0;
}

int wr_rpc_client_find(const char *repo, wr_addr *pa, char *err, size_t errlen) {
  int rv = wr_api_file_read(repo, pa, err, errlen);
  if (rv == WR_ERR_NOTFOUND)
    return 0;
  if (rv)
    return rv;
  int fd;
  char why[256];
  rv = dial(pa, &fd, why, sizeof why);
  if (rv)
    return 0; /* a stale file: the daemon is gone */
  close(fd);
  return 1;
}

/* Feeds received bytes to the response parser. */
static int take(wr_rpc_conn *c, const uint8_t *data, size_t len, int eof) {
  for (;;) {
    size_t used = 0;
    wr_h1_event ev;
    int e;
    if (eof && len == 0)
      e = wr_h1_parser_finish(&c->p, &ev);
    else
      e = wr_h1_parse(&c->p, data, len, &used, &ev);
    if (e < 0) {
      snprintf(c->err, c->errlen, "the daemon's answer is not valid HTTP: %s",
               e == WR_ERR_TRUNCATED ? "it ends early" : wr_h1_parser_reason(&c->p));
      return WR_ERR_MALFORMED;
    }
    data += used;
    len -= used;
    if (e == WR_H1_EV_HEAD) {
      if (ev.head->status >= 100 && ev.head->status < 200)
        continue;
      c->status = ev.head->status;
    } else if (e == WR_H1_EV_BODY) {
      if (c->status == 200) {
        if (!c->rerr && c->recv)
          c->rerr = c->recv(c->rarg, ev.data, ev.len);
      } else {
        /* An error object is small: past the buffer's cap the rest is
         * dropped and the message shows what arrived. */
        size_t room = c->errbody.limit - c->errbody.len;
        if (wr_buf_append(&c->errbody, ev.data, ev.len < room ? ev.len : room) != 0)
          c->errbody_short = 1;
      }
    } else if (e == WR_H1_EV_DONE) {
      c->done = 1;
      return 0;
    } else if (e == WR_H1_EV_NEED_MORE && (len == 0 || eof)) {
      if (eof) {
        snprintf(c->err, c->errlen, "the daemon closed the connection mid-answer");
        return WR_ERR_IO;
      }
      return 0;
    }
    if (len == 0 && !eof)
      return 0;
  }
}

/* Reads what is there, waiting up to ms for it. The read comes first and
 * takes up to IN_BUF: a cat streams hundreds of MB through here, and a
 * poll before each 64 KiB read was three system calls per 64 KiB. */
static int pump_in(wr_rpc_conn *c, int ms) {
  ssize_t r = recv(c->fd, c->in, IN_BUF, 0);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && ms > 0) {
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    int k = poll(&pf, 1, ms);
    if (k <= 0)
      return k < 0 && errno != EINTR ? WR_ERR_IO : 0;
    r = recv(c->fd, c->in, IN_BUF, 0);
  }
  if (r < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : WR_ERR_IO;
  return take(c, c->in, (size_t)r, r == 0);
}

static int send_all(wr_rpc_conn *c, const uint8_t *p, size_t n, int more) {
  while (n) {
    if (c->done) {
      /* The daemon answered before taking everything (an error): stop. */
      return WR_ERR_CLOSED;
    }
    struct pollfd pf = {.fd = c->fd, .events = POLLOUT | POLLIN};
    int k = poll(&pf, 1, IO_MS);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      snprintf(c->err, c->errlen, "the daemon stopped reading");
      return WR_ERR_IO;
    }
    if (pf.revents & (POLLIN | POLLHUP)) {
      int rv = pump_in(c, 0);
      if (rv)
        return rv;
      if (c->rerr)
        return c->rerr;
      continue;
    }
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      snprintf(c->err, c->errlen, "cannot send to the daemon: %s", strerror(errno));
      return WR_ERR_IO;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int wr_rpc_conn_send(wr_rpc_conn *c, const void *p, size_t n) {
  if (n == 0)
    return 0;
  char head[32];
  int k = snprintf(head, sizeof head, "%zx\r\n", n);
  /* The chunk's size line, bytes and CRLF leave as full segments (MSG_MORE):
   * sent apart, the small pieces met Nagle's algorithm and the daemon's
   * delayed ACKs. */
  int rv = send_all(c, (const uint8_t *)head, (size_t)k, 1);
  if (!rv)
    rv = send_all(c, p, n, 1);
  if (!rv)
    rv = send_all(c, (const uint8_t *)"\r\n", 2, 0);
  return rv;
}

/* The Message of kubo's error object, or the body as text. */
static void error_message(wr_rpc_conn *c) {
  wr_json *root = NULL;
  const wr_json *m = NULL;
  if (wr_json_parse((const char *)c->errbody.data, c->errbody.len, NULL, &root, NULL) == 0)
    m = wr_json_get(root, "Message");
  if (m && m->type == WR_JSON_STRING)
    snprintf(c->err, c->errlen, "%s", m->str);
  else {
    size_t n = c->errbody.len;
    while (n && (c->errbody.data[n - 1] == '\n' || c->errbody.data[n - 1] == '\r'))
      n--;
    snprintf(c->err, c->errlen, "the daemon answered %d: %.*s", c->status, (int)(n > 300 ? 300 : n),
             (const char *)c->errbody.data);
  }
  wr_json_del(root);
}

int wr_rpc_client_post(const wr_addr *a, const char *target, const char *content_type,
                       wr_rpc_produce_fn produce, void *parg, wr_rpc_recv_fn recv, void *rarg,
                       int *pstatus, char *err, size_t errlen) {
  wr_rpc_conn c;
  memset(&c, 0, sizeof c);
  c.fd = -1;
  c.recv = recv;
  c.rarg = rarg;
  c.err = err;
  c.errlen = errlen;
  err[0] = '\0';
  *pstatus = 0;
  wr_buf_init(&c.errbody, 64 * 1024);
  c.in = wr_malloc(IN_BUF);
  int rv = c.in ? wr_h1_parser_init(&c.p, WR_H1_RESPONSE, NULL) : WR_ERR_NOMEM;
  if (rv) {
    snprintf(err, errlen, "out of memory");
    wr_buf_free(&c.errbody);
    wr_free(c.in);
    return rv;
  }
  wr_h1_parser_set_request_method(&c.p, WR_H1_M_POST);
  if ((rv = dial(a, &c.fd, err, errlen)) != 0)
    goto out;
  char host[WR_ADDR_STRLEN];
  wr_addr_format(a, host, sizeof host);
  wr_buf head;
  wr_buf_init(&head, 16 * 1024);
  rv = wr_buf_printf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: warren-cli\r\n", target,
                     host);
  if (!rv && produce)
    rv = wr_buf_printf(&head, "Content-Type: %s\r\nTransfer-Encoding: chunked\r\n", content_type);
  if (!rv)
    rv = wr_buf_puts(&head, produce ? "Connection: close\r\n\r\n"
                                    : "Content-Length: 0\r\nConnection: close\r\n\r\n");
  if (!rv)
    rv = send_all(&c, head.data, head.len, produce != NULL);
  wr_buf_free(&head);
  if (!rv && produce) {
    rv = produce(parg, &c);
    if (!rv)
      rv = send_all(&c, (const uint8_t *)"0\r\n\r\n", 5, 0);
    if (rv == WR_ERR_CLOSED)
      rv = 0; /* the daemon has answered already: read it */
  }
  while (!rv && !c.done && !c.rerr)
    rv = pump_in(&c, IO_MS);
  if (!rv && c.rerr)
    rv = c.rerr;
  *pstatus = c.status;
  if (!rv && c.status != 200) {
    error_message(&c);
    rv = WR_ERR_DENIED;
  }
out:
  if (c.fd >= 0)
    close(c.fd);
  wr_h1_parser_free(&c.p);
  wr_buf_free(&c.errbody);
  wr_free(c.in);
  return rv;
}

int wr_rpc_url_escape(const char *s, int keep_slash, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t w = 0;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/');
    if (w + (plain ? 1 : 3) >= cap)
      return WR_ERR_LIMIT;
    if (plain) {
      out[w++] = (char)ch;
    } else {
      out[w++] = '%';
      out[w++] = hex[ch >> 4];
      out[w++] = hex[ch & 15];
    }
  }
  out[w] = '\0';
  return 0;
}
