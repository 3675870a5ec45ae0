/* apiaddr.c: API multiaddrs and the repo's `api` file (see apiaddr.h). */
#include "rpc/apiaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/file.h"

int wr_api_maddr_parse(const char *s, size_t n, wr_addr *pa, const char **preason) {
  const char *why = "not /ip4/ADDR/tcp/PORT or /ip6/ADDR/tcp/PORT";
  char host[64];
  const char *end = s + n;
  int v6;
  memset(pa, 0, sizeof *pa);
  while (end > s && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r'))
    end--; /* kubo's file has no newline, but a hand-edited one may */
  if ((size_t)(end - s) > 5 && memcmp(s, "/ip4/", 5) == 0)
    v6 = 0;
  else if ((size_t)(end - s) > 5 && memcmp(s, "/ip6/", 5) == 0)
    v6 = 1;
  else
    goto fail;
  const char *h = s + 5;
  const char *slash = memchr(h, '/', (size_t)(end - h));
  if (!slash || slash == h || (size_t)(slash - h) >= sizeof host)
    goto fail;
  memcpy(host, h, (size_t)(slash - h));
  host[slash - h] = '\0';
  if ((size_t)(end - slash) < 6 || memcmp(slash, "/tcp/", 5) != 0)
    goto fail;
  const char *p = slash + 5;
  if (p == end || (*p == '0' && end - p > 1)) {
    why = "the port is empty or has a leading zero";
    goto fail;
  }
  unsigned long port = 0;
  for (const char *q = p; q < end; q++) {
    if (*q < '0' || *q > '9' || (port = port * 10 + (unsigned long)(*q - '0')) > 65535) {
      why = "the port is not a number from 0 to 65535";
      goto fail;
    }
  }
  if (v6) {
    pa->in6.sin6_family = AF_INET6;
    pa->in6.sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &pa->in6.sin6_addr) != 1) {
      why = "the IPv6 address is not numeric";
      goto fail;
    }
    pa->len = sizeof pa->in6;
  } else {
    pa->in.sin_family = AF_INET;
    pa->in.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &pa->in.sin_addr) != 1) {
      why = "the IPv4 address is not numeric";
      goto fail;
    }
    pa->len = sizeof pa->in;
  }
  return 0;
fail:
  memset(pa, 0, sizeof *pa);
  if (preason)
    *preason = why;
  return WR_ERR_INVAL;
}

void wr_api_maddr_format(const wr_addr *a, char *out) {
  char ip[WR_ADDR_STRLEN];
  wr_addr u;
  wr_addr_unmap(a, &u);
  wr_addr_format_ip(&u, ip, sizeof ip);
  snprintf(out, WR_API_MADDR_MAX, "/%s/%s/tcp/%u", u.sa.sa_family == AF_INET6 ? "ip6" : "ip4", ip,
           wr_addr_port(&u));
}

static int api_path(const char *repo, char *out, size_t n) {
  int k = snprintf(out, n, "%s/api", repo);
  return k < 0 || (size_t)k >= n ? WR_ERR_LIMIT : 0;
}

int wr_api_file_write(const char *repo, const wr_addr *a, char *err, size_t errlen) {
  char path[4200], m[WR_API_MADDR_MAX];
  if (api_path(repo, path, sizeof path)) {
    snprintf(err, errlen, "the repo path is too long");
    return WR_ERR_IO;
  }
  wr_api_maddr_format(a, m);
  return wr_file_write_atomic(path, m, strlen(m), 0644, WR_FILE_REPLACE, err, errlen);
}

int wr_api_file_read(const char *repo, wr_addr *pa, char *err, size_t errlen) {
  char path[4200];
  if (api_path(repo, path, sizeof path))
    return WR_ERR_NOTFOUND;
  wr_buf b;
  wr_buf_init(&b, 4096);
  int rv = wr_file_read_all(path, 1024, &b, err, errlen);
  if (rv) {
    wr_buf_free(&b);
    return rv;
  }
  const char *why = NULL;
  rv = wr_api_maddr_parse((const char *)b.data, b.len, pa, &why);
  if (rv)
    snprintf(err, errlen, "%s does not hold an API address: %s", path, why);
  wr_buf_free(&b);
  return rv;
}

void wr_api_file_remove(const char *repo) {
  char path[4200];
  if (api_path(repo, path, sizeof path) == 0)
    (void)unlink(path);
}
