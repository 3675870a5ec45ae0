/* addr.c: socket addresses: parse, format, compare (see addr.h). */
#include "io/addr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static void set_err(char *errbuf, size_t errlen,
                                                          const char *fmt, ...) {
  va_list ap;
  if (!errbuf || !errlen)
    return;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
}

int wr_addr_parse(const char *s, wr_addr *paddr, char *errbuf, size_t errlen) {
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  const char *port_s;
  int v6 = 0;
  memset(paddr, 0, sizeof *paddr);
  if (!s || !*s) {
    set_err(errbuf, errlen, "an address is needed, such as 0.0.0.0:7000 or [::1]:7000");
    return WR_ERR_INVAL;
  }
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close) {
      set_err(errbuf, errlen, "\"%s\" opens '[' but never closes it; write [IPv6]:PORT", s);
      return WR_ERR_INVAL;
    }
    size_t n = (size_t)(close - s - 1);
    if (n == 0 || n >= sizeof host) {
      set_err(errbuf, errlen, "\"%s\" has no valid IPv6 address between [ and ]", s);
      return WR_ERR_INVAL;
    }
    memcpy(host, s + 1, n);
    host[n] = '\0';
    if (close[1] != ':') {
      set_err(errbuf, errlen, "\"%s\" needs a port after the address: [IPv6]:PORT", s);
      return WR_ERR_INVAL;
    }
    port_s = close + 2;
    v6 = 1;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon) {
      set_err(errbuf, errlen, "\"%s\" needs a port: write ADDR:PORT, such as 127.0.0.1:7000", s);
      return WR_ERR_INVAL;
    }
    if (memchr(s, ':', (size_t)(colon - s))) {
      set_err(errbuf, errlen, "\"%s\" looks like an IPv6 address: write it as [IPv6]:PORT", s);
      return WR_ERR_INVAL;
    }
    size_t n = (size_t)(colon - s);
    if (n == 0 || n >= sizeof host) {
      set_err(errbuf, errlen, "\"%s\" has no address before the port", s);
      return WR_ERR_INVAL;
    }
    memcpy(host, s, n);
    host[n] = '\0';
    port_s = colon + 1;
  }
  /* The port: 1 to 5 digits, at most 65535. */
  unsigned long port = 0;
  size_t nd = 0;
  for (const char *p = port_s; *p; p++, nd++) {
    if (*p < '0' || *p > '9' || nd >= 5) {
      set_err(errbuf, errlen, "\"%s\" has a bad port: it must be a number from 0 to 65535", s);
      return WR_ERR_INVAL;
    }
    port = port * 10 + (unsigned long)(*p - '0');
  }
  if (nd == 0 || port > 65535) {
    set_err(errbuf, errlen, "\"%s\" has a bad port: it must be a number from 0 to 65535", s);
    return WR_ERR_INVAL;
  }
  if (!v6) {
    if (inet_pton(AF_INET, host, &paddr->in.sin_addr) != 1) {
      set_err(errbuf, errlen,
              "\"%s\" is not a numeric IPv4 address (host names are not "
              "resolved here)",
              host);
      return WR_ERR_INVAL;
    }
    paddr->in.sin_family = AF_INET;
    paddr->in.sin_port = htons((uint16_t)port);
    paddr->len = sizeof paddr->in;
    return 0;
  }
  char *pct = strchr(host, '%');
  unsigned scope = 0;
  if (pct) {
    *pct = '\0';
    const char *zone = pct + 1;
    char *end;
    unsigned long z = strtoul(zone, &end, 10);
    if (*zone && !*end && z <= UINT32_MAX) {
      scope = (unsigned)z;
    } else {
      scope = if_nametoindex(zone);
      if (!*zone || !scope) {
        set_err(errbuf, errlen, "\"%s\" is not a network interface on this machine", zone);
        memset(paddr, 0, sizeof *paddr);
        return WR_ERR_INVAL;
      }
    }
  }
  if (inet_pton(AF_INET6, host, &paddr->in6.sin6_addr) != 1) {
    set_err(errbuf, errlen, "\"%s\" is not a numeric IPv6 address", host);
    memset(paddr, 0, sizeof *paddr);
    return WR_ERR_INVAL;
  }
  paddr->in6.sin6_family = AF_INET6;
  paddr->in6.sin6_port = htons((uint16_t)port);
  paddr->in6.sin6_scope_id = scope;
  paddr->len = sizeof paddr->in6;
  return 0;
}

char *wr_addr_format_ip(const wr_addr *a, char *buf, size_t buflen) {
  char ip[INET6_ADDRSTRLEN];
  if (a->sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->in.sin_addr, ip, sizeof ip);
    snprintf(buf, buflen, "%s", ip);
  } else if (a->sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a->in6.sin6_addr, ip, sizeof ip);
    if (a->in6.sin6_scope_id)
      snprintf(buf, buflen, "%s%%%u", ip, a->in6.sin6_scope_id);
    else
      snprintf(buf, buflen, "%s", ip);
  } else {
    snprintf(buf, buflen, "-");
  }
  return buf;
}

char *wr_addr_format(const wr_addr *a, char *buf, size_t buflen) {
  char ip[WR_ADDR_STRLEN];
  wr_addr_format_ip(a, ip, sizeof ip);
  if (a->sa.sa_family == AF_INET)
    snprintf(buf, buflen, "%s:%u", ip, ntohs(a->in.sin_port));
  else if (a->sa.sa_family == AF_INET6)
    snprintf(buf, buflen, "[%s]:%u", ip, ntohs(a->in6.sin6_port));
  else
    snprintf(buf, buflen, "-");
  return buf;
}

void wr_addr_unmap(const wr_addr *a, wr_addr *pout) {
  if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
    wr_addr o;
    memset(&o, 0, sizeof o);
    o.in.sin_family = AF_INET;
    o.in.sin_port = a->in6.sin6_port;
    memcpy(&o.in.sin_addr, &a->in6.sin6_addr.s6_addr[12], 4);
    o.len = sizeof o.in;
    *pout = o;
    return;
  }
  if (pout != a)
    *pout = *a;
}

void wr_addr_map(const wr_addr *a, wr_addr *pout) {
  if (a->sa.sa_family != AF_INET) {
    *pout = *a;
    return;
  }
  wr_addr o;
  memset(&o, 0, sizeof o);
  o.in6.sin6_family = AF_INET6;
  o.in6.sin6_port = a->in.sin_port;
  o.in6.sin6_addr.s6_addr[10] = 0xff;
  o.in6.sin6_addr.s6_addr[11] = 0xff;
  memcpy(&o.in6.sin6_addr.s6_addr[12], &a->in.sin_addr, 4);
  o.len = sizeof o.in6;
  *pout = o;
}

int wr_addr_equal_ip(const wr_addr *a, const wr_addr *b) {
  wr_addr x, y;
  wr_addr_unmap(a, &x);
  wr_addr_unmap(b, &y);
  if (x.sa.sa_family != y.sa.sa_family)
    return 0;
  if (x.sa.sa_family == AF_INET)
    return x.in.sin_addr.s_addr == y.in.sin_addr.s_addr;
  if (x.sa.sa_family == AF_INET6)
    return memcmp(&x.in6.sin6_addr, &y.in6.sin6_addr, 16) == 0;
  return x.sa.sa_family == AF_UNSPEC;
}

int wr_addr_equal(const wr_addr *a, const wr_addr *b) {
  return wr_addr_equal_ip(a, b) && wr_addr_port(a) == wr_addr_port(b);
}

uint16_t wr_addr_port(const wr_addr *a) {
  if (a->sa.sa_family == AF_INET)
    return ntohs(a->in.sin_port);
  if (a->sa.sa_family == AF_INET6)
    return ntohs(a->in6.sin6_port);
  return 0;
}

void wr_addr_set_port(wr_addr *a, uint16_t port) {
  if (a->sa.sa_family == AF_INET)
    a->in.sin_port = htons(port);
  else if (a->sa.sa_family == AF_INET6)
    a->in6.sin6_port = htons(port);
}

void wr_addr_from_sockaddr(const struct sockaddr *sa, wr_addr *pout) {
  memset(pout, 0, sizeof *pout);
  if (sa && sa->sa_family == AF_INET) {
    memcpy(&pout->in, sa, sizeof pout->in);
    pout->len = sizeof pout->in;
  } else if (sa && sa->sa_family == AF_INET6) {
    memcpy(&pout->in6, sa, sizeof pout->in6);
    pout->len = sizeof pout->in6;
  }
}

char *wr_addr_format_sa(const struct sockaddr *sa, int unmap, char *buf, size_t buflen) {
  wr_addr a, u;
  wr_addr_from_sockaddr(sa, &a);
  if (!unmap)
    return wr_addr_format(&a, buf, buflen);
  wr_addr_unmap(&a, &u);
  return wr_addr_format(&u, buf, buflen);
}

char *wr_addr_format_ip_sa(const struct sockaddr *sa, char *buf, size_t buflen) {
  wr_addr a, u;
  wr_addr_from_sockaddr(sa, &a);
  wr_addr_unmap(&a, &u);
  return wr_addr_format_ip(&u, buf, buflen);
}
