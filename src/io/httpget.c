/* httpget.c: a blocking HTTP/1.1 GET (see httpget.h). */
#include "io/httpget.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/http/http1.h"

/* Waits until fd is ready for events; 0, WR_ERR_TIMEOUT or WR_ERR_IO. */
static int wait_fd(int fd, short events, uint64_t timeout_ms) {
  struct pollfd p = {.fd = fd, .events = events};
  for (;;) {
    int r = poll(&p, 1, timeout_ms > 600000 ? 600000 : (int)timeout_ms);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return WR_ERR_IO;
    return r == 0 ? WR_ERR_TIMEOUT : 0;
  }
}

/* Connects to one of host's addresses within timeout_ms each. */
static int dial(const char *host, uint16_t port, uint64_t timeout_ms, int *pfd, char *err,
                size_t errlen) {
  char name[300], svc[8];
  size_t hl = strlen(host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
    snprintf(name, sizeof name, "%.*s", (int)(hl - 2), host + 1);
  else
    snprintf(name, sizeof name, "%s", host);
  snprintf(svc, sizeof svc, "%u", (unsigned)port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
  int g = getaddrinfo(name, svc, &hints, &ai);
  if (g != 0) {
    snprintf(err, errlen, "cannot resolve %s: %s", name, gai_strerror(g));
    return WR_ERR_NOTFOUND;
  }
  int rv = WR_ERR_REFUSED, saved = 0;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0)
      continue;
    int c = connect(fd, a->ai_addr, a->ai_addrlen);
    if (c != 0 && errno == EINPROGRESS) {
      int w = wait_fd(fd, POLLOUT, timeout_ms);
      socklen_t sl = sizeof saved;
      if (w == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &saved, &sl) == 0 && saved == 0)
        c = 0;
      else if (w == WR_ERR_TIMEOUT)
        saved = ETIMEDOUT;
    } else if (c != 0) {
      saved = errno;
    }
    if (c == 0) {
      *pfd = fd;
      freeaddrinfo(ai);
      return 0;
    }
    close(fd);
  }
  freeaddrinfo(ai);
  if (saved == ETIMEDOUT)
    rv = WR_ERR_TIMEOUT;
  else if (saved != ECONNREFUSED && saved != 0)
    rv = WR_ERR_IO;
  snprintf(err, errlen, "cannot connect to %s port %u: %s", name, (unsigned)port,
           saved ? strerror(saved) : "no usable address");
  return rv;
}

static void copy_field(const wr_h1_head *h, const char *name, char *out, size_t cap) {
  const wr_h1_header *f = wr_h1_find(h->headers, h->nheaders, name);
  out[0] = '\0';
  if (f && f->value.len < cap) {
    memcpy(out, f->value.p, f->value.len);
    out[f->value.len] = '\0';
  }
}

int wr_httpget(const char *connect_host, uint16_t port, const char *host_header, const char *target,
               uint64_t timeout_ms, size_t max_body, wr_buf *body, wr_httpget_result *res,
               char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  int fd = -1;
  int rv = dial(connect_host, port, timeout_ms, &fd, err, errlen);
  if (rv)
    return rv;
  wr_h1_parser p;
  wr_h1_limits lim = {.max_body = max_body ? max_body : 1};
  if ((rv = wr_h1_parser_init(&p, WR_H1_RESPONSE, &lim)) != 0) {
    close(fd);
    snprintf(err, errlen, "out of memory");
    return rv;
  }
  wr_h1_parser_set_request_method(&p, WR_H1_M_GET);
  char req[WR_HTTPGET_FIELD_MAX * 2 + 512];
  int rl = snprintf(req, sizeof req,
                    "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: warren-publish\r\n"
                    "Accept: */*\r\nConnection: close\r\n\r\n",
                    target, host_header);
  if (rl < 0 || (size_t)rl >= sizeof req) {
    snprintf(err, errlen, "the request is too long");
    rv = WR_ERR_LIMIT;
    goto out;
  }
  for (size_t off = 0; off < (size_t)rl;) {
    ssize_t w = send(fd, req + off, (size_t)rl - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno == EAGAIN) {
      if ((rv = wait_fd(fd, POLLOUT, timeout_ms)) != 0)
        goto timeout;
      continue;
    }
    if (w < 0) {
      snprintf(err, errlen, "cannot send the request: %s", strerror(errno));
      rv = WR_ERR_IO;
      goto out;
    }
    off += (size_t)w;
  }
  uint8_t buf[16384];
  int done = 0;
  while (!done) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN) {
      if ((rv = wait_fd(fd, POLLIN, timeout_ms)) != 0)
        goto timeout;
      continue;
    }
    if (r < 0) {
      snprintf(err, errlen, "cannot read the response: %s", strerror(errno));
      rv = WR_ERR_IO;
      goto out;
    }
    wr_h1_event ev;
    if (r == 0) {
      int f = wr_h1_parser_finish(&p, &ev);
      if (f == WR_H1_EV_DONE && res->status) {
        done = 1;
        break;
      }
      snprintf(err, errlen, "the server closed the connection inside the response");
      rv = WR_ERR_TRUNCATED;
      goto out;
    }
    const uint8_t *d = buf;
    size_t left = (size_t)r;
    while (!done) {
      size_t used = 0;
      int e = wr_h1_parse(&p, d, left, &used, &ev);
      d += used;
      left -= used;
      if (e < 0) {
        if (e == WR_ERR_LIMIT && wr_h1_parser_status(&p) == 413) {
          snprintf(err, errlen, "the response body is larger than %zu bytes", max_body);
          rv = WR_ERR_LIMIT;
        } else {
          snprintf(err, errlen, "the response is not acceptable HTTP/1.1: %s",
                   wr_h1_parser_reason(&p));
          rv = WR_ERR_MALFORMED;
        }
        goto out;
      }
      if (e == WR_H1_EV_HEAD) {
        if (ev.head->status < 200)
          continue; /* 1xx: the final answer follows */
        res->status = ev.head->status;
        copy_field(ev.head, "content-type", res->content_type, sizeof res->content_type);
        copy_field(ev.head, "location", res->location, sizeof res->location);
      } else if (e == WR_H1_EV_BODY) {
        if (wr_buf_append(body, ev.data, ev.len) != 0) {
          snprintf(err, errlen, "the response body is larger than %zu bytes", max_body);
          rv = WR_ERR_LIMIT;
          goto out;
        }
      } else if (e == WR_H1_EV_DONE) {
        done = res->status != 0;
      } else if (e == WR_H1_EV_NEED_MORE || left == 0) {
        break;
      }
    }
  }
  rv = 0;
  goto out;
timeout:
  snprintf(err, errlen, "no answer within %llu ms", (unsigned long long)timeout_ms);
  rv = WR_ERR_TIMEOUT;
out:
  wr_h1_parser_free(&p);
  close(fd);
  return rv;
}
