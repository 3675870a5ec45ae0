/* addr.h: one socket address type for every layer (UDP, TCP, logs), with
 * strict numeric parsing and the one text form used in log lines and errors.
 * Host names are resolved elsewhere (io/dns); nothing here blocks. */
#ifndef WR_IO_ADDR_H
#define WR_IO_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"

/* Longest text wr_addr_format writes, with its NUL:
 * "[" + 45 + "%" + 15 + "]:" + 5 + NUL, rounded up. */
#define WR_ADDR_STRLEN 80

/* A socket address with its length. AF_UNSPEC (len 0) means "none". */
typedef struct wr_addr {
  union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
  };
  socklen_t len;
} wr_addr;

/* Parses a numeric "ADDR:PORT": "192.0.2.1:443", "[2001:db8::1]:443",
 * "[fe80::1%eth0]:443", "0.0.0.0:0", "[::]:0". Host names are not resolved.
 * Returns 0, or WR_ERR_INVAL and, when errbuf is not NULL, a sentence saying
 * what is wrong (errlen bytes at most). */
WR_MUST_CHECK int wr_addr_parse(const char *s, wr_addr *paddr, char *errbuf, size_t errlen);
/* Writes "a.b.c.d:port" or "[v6]:port" (IPv4-mapped shown as [::ffff:a.b.c.d])
 * into buf (WR_ADDR_STRLEN bytes is always enough); "-" for AF_UNSPEC.
 * Returns buf. */
char *wr_addr_format(const wr_addr *a, char *buf, size_t buflen);
/* As wr_addr_format, without the port: "a.b.c.d" or "v6". */
char *wr_addr_format_ip(const wr_addr *a, char *buf, size_t buflen);
/* Copies a into *pout, turning an IPv4-mapped IPv6 address into plain IPv4. */
void wr_addr_unmap(const wr_addr *a, wr_addr *pout);
/* The reverse, for a dual-stack socket: an IPv4 address becomes IPv4-mapped
 * IPv6 (an IPv6 one is copied as it is). */
void wr_addr_map(const wr_addr *a, wr_addr *pout);
/* 1 when a and b are the same address and port (IPv4-mapped equals IPv4). */
int wr_addr_equal(const wr_addr *a, const wr_addr *b);
/* 1 when a and b have the same IP address, ports ignored. */
int wr_addr_equal_ip(const wr_addr *a, const wr_addr *b);
/* The port in host byte order (0 for AF_UNSPEC). */
uint16_t wr_addr_port(const wr_addr *a);
void wr_addr_set_port(wr_addr *a, uint16_t port);

/* Copies a struct sockaddr (AF_INET or AF_INET6; anything else or NULL gives
 * AF_UNSPEC) into *pout. */
void wr_addr_from_sockaddr(const struct sockaddr *sa, wr_addr *pout);
/* wr_addr_format for a struct sockaddr, IPv4-mapped addresses shown as plain
 * IPv4 when unmap is 1 ("-" for NULL). Returns buf. */
char *wr_addr_format_sa(const struct sockaddr *sa, int unmap, char *buf, size_t buflen);
/* The IP alone, IPv4-mapped shown as plain IPv4 (for X-Forwarded-For and
 * per-address limits); "-" for NULL. Returns buf. */
char *wr_addr_format_ip_sa(const struct sockaddr *sa, char *buf, size_t buflen);

#endif
