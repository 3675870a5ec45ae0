/* dnsmsg.h: the TXT answers of a DNS response message (RFC 1035).
 *
 * c-ares sends the query and hands back the raw response; its TXT parser
 * drops the TTL, which the DNSLink cache needs, so the answer section is read
 * here: follow CNAMEs from the question's name, collect the TXT records of the
 * name they end at, keep the smallest TTL on the way. Pure and
 * allocation-free: records point into the caller's message. */
#ifndef WR_PROTO_DNS_DNSMSG_H
#define WR_PROTO_DNS_DNSMSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* A name in text form: at most 253 characters, plus a NUL. */
#define WR_DNSMSG_MAX_NAME 254
/* TXT records kept from one answer; the rest are dropped (and counted). */
#define WR_DNSMSG_MAX_TXT 32
/* Longest joined TXT value copied by wr_dnsmsg_txt_value. */
#define WR_DNSMSG_MAX_TXT_VALUE 4096

enum { WR_DNSMSG_TYPE_CNAME = 5, WR_DNSMSG_TYPE_TXT = 16 };

typedef struct wr_dnsmsg_txt {
  uint32_t ttl;
  uint16_t off; /* RDATA: a run of <len><bytes> character-strings */
  uint16_t len;
} wr_dnsmsg_txt;

typedef struct wr_dnsmsg_answer {
  uint16_t id;
  int rcode;                      /* 0 NOERROR, 3 NXDOMAIN, ... */
  int truncated;                  /* TC bit: the answer is incomplete */
  char qname[WR_DNSMSG_MAX_NAME]; /* lowercased, no trailing dot */
  char name[WR_DNSMSG_MAX_NAME];  /* where the CNAME chain ended */
  size_t ntxt;
  size_t dropped; /* TXT records past WR_DNSMSG_MAX_TXT */
  uint32_t
      min_ttl; /* smallest TTL of the CNAMEs followed and the TXTs kept; UINT32_MAX when none */
  wr_dnsmsg_txt txt[WR_DNSMSG_MAX_TXT];
} wr_dnsmsg_answer;

/* Reads a response of n bytes: header, one question (its name is the
 * starting point), the answer section. TXT records owned by the question's
 * name, or by the end of a CNAME chain starting there, are kept; others are
 * skipped. Authority and additional sections are not read. Returns 0 (also
 * for NXDOMAIN or an empty answer: see rcode and ntxt), or WR_ERR_MALFORMED /
 * WR_ERR_TRUNCATED with *preason (may be NULL) a static sentence. */
WR_MUST_CHECK int wr_dnsmsg_parse_txt(const uint8_t *msg, size_t n, wr_dnsmsg_answer *a,
                                      const char **preason);

/* Joins the character-strings of TXT record t of msg (a string may be at
 * most 255 bytes, so long values come split) into out (cap bytes, NUL
 * appended; *plen without it). 0, WR_ERR_MALFORMED (a string runs past the
 * record) or WR_ERR_LIMIT (longer than cap - 1). */
WR_MUST_CHECK int wr_dnsmsg_txt_value(const uint8_t *msg, const wr_dnsmsg_txt *t, char *out,
                                      size_t cap, size_t *plen, const char **preason);

#endif
