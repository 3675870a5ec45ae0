/* http_origin: a small, fast HTTP/1.1 origin for bench/tunnel.py.
 *
 *   build/bench/http_origin [--listen ADDR]     (default 127.0.0.1, port picked)
 *
 * Prints "listening on ADDR:PORT" once ready, then serves until killed:
 *   GET /small            13 bytes ("hello, world\n")
 *   GET /bytes/N          N bytes of a fixed pattern (N up to 2^40)
 *   PUT or POST anything  reads the whole body (Content-Length or chunked),
 *                         then answers 200 "received N bytes\n"
 * Keep-alive, one thread per connection, bodies never stored. It exists so the
 * benchmark's origin costs little next to what is measured: the Python origin
 * of the end-to-end tests tops out far below a relay, and nginx answers an
 * upload before reading it (a `return` discards the body in the background),
 * which would measure the relays on an unusual path. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum { HEAD_MAX = 16384, IO_BUF = 256 * 1024 };

static char pattern[IO_BUF];

typedef struct {
  int fd;
  char buf[IO_BUF];
  size_t pos, end; /* unread bytes are buf[pos..end) */
} conn;

/* Reads more bytes into c->buf, compacting first. Returns bytes read, 0 on EOF, -1 on error. */
static ssize_t fill(conn *c) {
  if (c->pos > 0) {
    memmove(c->buf, c->buf + c->pos, c->end - c->pos);
    c->end -= c->pos;
    c->pos = 0;
  }
  if (c->end == sizeof c->buf)
    return -1;
  for (;;) {
    ssize_t n = recv(c->fd, c->buf + c->end, sizeof c->buf - c->end, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n > 0)
      c->end += (size_t)n;
    return n;
  }
}

/* Sends all of p; returns 0, or -1 when the peer is gone. */
static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Discards exactly n body bytes; returns 0 or -1. */
static int skip(conn *c, uint64_t n) {
  while (n > 0) {
    if (c->pos == c->end && fill(c) <= 0)
      return -1;
    size_t have = c->end - c->pos;
    size_t take = have < n ? have : (size_t)n;
    c->pos += take;
    n -= take;
  }
  return 0;
}

/* Reads one CRLF-terminated line into line (NUL-terminated, CRLF removed). Returns 0 or -1. */
static int read_line(conn *c, char *line, size_t cap) {
  for (;;) {
    char *nl = memchr(c->buf + c->pos, '\n', c->end - c->pos);
    if (nl) {
      size_t len = (size_t)(nl - (c->buf + c->pos));
      if (len > 0 && nl[-1] == '\r')
        len--;
      if (len >= cap)
        return -1;
      memcpy(line, c->buf + c->pos, len);
      line[len] = 0;
      c->pos = (size_t)(nl - c->buf) + 1;
      return 0;
    }
    if (c->end - c->pos > HEAD_MAX || fill(c) <= 0)
      return -1;
  }
}

/* Discards a chunked body, trailers included; sets *ptotal. Returns 0 or -1. */
static int skip_chunked(conn *c, uint64_t *ptotal) {
  char line[512];
  *ptotal = 0;
  for (;;) {
    if (read_line(c, line, sizeof line))
      return -1;
    char *endp;
    errno = 0;
    uint64_t n = strtoull(line, &endp, 16);
    if (endp == line || errno)
      return -1;
    if (n == 0)
      break;
    if (skip(c, n) || read_line(c, line, sizeof line) || line[0])
      return -1;
    *ptotal += n;
  }
  do {
    if (read_line(c, line, sizeof line))
      return -1;
  } while (line[0]);
  return 0;
}

/* Sends a response head and n bytes of the pattern. Returns 0 or -1. */
static int send_pattern(int fd, uint64_t n) {
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    "Content-Length: %" PRIu64 "\r\n\r\n",
                    n);
  if (send_all(fd, head, (size_t)hl))
    return -1;
  while (n > 0) {
    size_t take = n < sizeof pattern ? (size_t)n : sizeof pattern;
    if (send_all(fd, pattern, take))
      return -1;
    n -= take;
  }
  return 0;
}

static int send_text(int fd, int status, const char *reason, const char *body) {
  char out[512];
  int n = snprintf(out, sizeof out,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                   status, reason, strlen(body), body);
  return send_all(fd, out, (size_t)n);
}

/* Serves requests on one connection until it closes or misbehaves. */
static void serve(conn *c) {
  char line[HEAD_MAX];
  for (;;) {
    char method[16], path[1024];
    if (read_line(c, line, sizeof line))
      return;
    if (sscanf(line, "%15s %1023s HTTP/1.%*c", method, path) != 2)
      return;
    uint64_t clen = 0;
    int chunked = 0, expect = 0, closing = 0;
    for (;;) {
      if (read_line(c, line, sizeof line))
        return;
      if (!line[0])
        break;
      if (!strncasecmp(line, "content-length:", 15))
        clen = strtoull(line + 15, NULL, 10);
      else if (!strncasecmp(line, "transfer-encoding:", 18) && strcasestr(line + 18, "chunked"))
        chunked = 1;
      else if (!strncasecmp(line, "expect:", 7) && strcasestr(line + 7, "100-continue"))
        expect = 1;
      else if (!strncasecmp(line, "connection:", 11) && strcasestr(line + 11, "close"))
        closing = 1;
    }
    int rc;
    if (!strcmp(method, "PUT") || !strcmp(method, "POST")) {
      const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      if (expect && send_all(c->fd, cont, sizeof cont - 1))
        return;
      uint64_t got = clen;
      if (chunked ? skip_chunked(c, &got) : skip(c, clen))
        return;
      char body[64];
      snprintf(body, sizeof body, "received %" PRIu64 " bytes\n", got);
      rc = send_text(c->fd, 200, "OK", body);
    } else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
      rc = send_text(c->fd, 405, "Method Not Allowed", "GET, HEAD, PUT or POST\n");
    } else if (!strcmp(path, "/small")) {
      rc = send_text(c->fd, 200, "OK", "hello, world\n");
    } else if (!strncmp(path, "/bytes/", 7)) {
      char *endp;
      uint64_t n = strtoull(path + 7, &endp, 10);
      rc = *endp || n > (1ull << 40) ? send_text(c->fd, 400, "Bad Request", "bad size\n")
                                     : send_pattern(c->fd, n);
    } else {
      rc = send_text(c->fd, 404, "Not Found", "try /small or /bytes/N\n");
    }
    if (rc || closing)
      return;
  }
}

static void *conn_main(void *arg) {
  conn *c = arg;
  serve(c);
  close(c->fd);
  free(c);
  return NULL;
}

int main(int argc, char **argv) {
  const char *addr = "127.0.0.1";
  if (argc == 3 && !strcmp(argv[1], "--listen"))
    addr = argv[2];
  else if (argc != 1) {
    fprintf(stderr, "usage: http_origin [--listen IPv4-ADDR]\n");
    return 2;
  }
  for (size_t i = 0; i < sizeof pattern; i++)
    pattern[i] = (char)('a' + i % 26);
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "http_origin: %s is not an IPv4 address\n", addr);
    return 2;
  }
  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  socklen_t sl = sizeof sa;
  if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1024) ||
      getsockname(ls, (struct sockaddr *)&sa, &sl)) {
    perror("http_origin: listen");
    return 1;
  }
  printf("listening on %s:%u\n", addr, ntohs(sa.sin_port));
  fflush(stdout);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
        continue;
      perror("http_origin: accept");
      return 1;
    }
    /* Small answers go out at once, as a real server's would. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = malloc(sizeof *c);
    pthread_t t;
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    c->pos = c->end = 0;
    if (pthread_create(&t, &attr, conn_main, c)) {
      close(fd);
      free(c);
    }
  }
}
