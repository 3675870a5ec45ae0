/* ingress.h: ingress rules, as cloudflared's: which origin serves a
 * request, chosen by its hostname and path.
 *
 * Rules are tried in order and the first match wins. A rule matches when
 *  - its hostname is empty or "*", or equals the request's host (compared
 *    without case, the request's port stripped), or is "*.example.com" and
 *    the host ends in ".example.com" (one or more labels before it; not
 *    "example.com" itself), and
 *  - its path is empty, or its regular expression matches somewhere in the
 *    request path (unanchored, as Go's MatchString: use ^ and $ to anchor).
 * The last rule must match everything (no hostname or "*", no path), and
 * only the last may; validation says so in cloudflared's words.
 *
 * Path expressions are written in Go's syntax, as for cloudflared, and run
 * by regcomp once proto/text/re2posix has turned them into POSIX extended
 * expressions: \d, (?i) at the start, (?:...), lazy quantifiers and the
 * like work; what POSIX cannot express (\b, \p{...}) is refused with a
 * sentence naming the construct. A hostname with Unicode labels also
 * matches its ASCII (punycode) form, as in cloudflared.
 *
 * Services:
 *   http://HOST[:PORT], https://HOST[:PORT]   an HTTP origin (no path: the
 *                                             request's path is kept)
 *   ws://, wss://                             the same as http://, https://
 *   unix:/PATH, unix+tls:/PATH                HTTP over a Unix socket
 *   http_status:NNN                           answer NNN (100-999) directly
 *   hello_world                               the built-in test origin
 * cloudflared's tcp://, ssh://, rdp://, bastion and socks-proxy services are
 * refused as unsupported.
 *
 * originRequest settings: a top-level block sets the defaults, a rule's own
 * block overrides them key by key. */
#ifndef WR_TUNNEL_INGRESS_H
#define WR_TUNNEL_INGRESS_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* cloudflared's defaults for the settings warren uses. */
#define WR_ORIGIN_CONNECT_TIMEOUT_NS (UINT64_C(30) * 1000000000)
#define WR_ORIGIN_TLS_TIMEOUT_NS (UINT64_C(10) * 1000000000)
#define WR_ORIGIN_TCP_KEEPALIVE_NS (UINT64_C(30) * 1000000000)
#define WR_ORIGIN_KEEPALIVE_TIMEOUT_NS (UINT64_C(90) * 1000000000)
#define WR_ORIGIN_KEEPALIVE_CONNECTIONS 100

/* Bits of wr_origin_request.set: which keys a block gave explicitly. */
enum {
  WR_OR_CONNECT_TIMEOUT = 1u << 0,
  WR_OR_TLS_TIMEOUT = 1u << 1,
  WR_OR_TCP_KEEPALIVE = 1u << 2,
  WR_OR_KEEPALIVE_TIMEOUT = 1u << 3,
  WR_OR_KEEPALIVE_CONNECTIONS = 1u << 4,
  WR_OR_NO_TLS_VERIFY = 1u << 5,
  WR_OR_HTTP_HOST_HEADER = 1u << 6,
  WR_OR_ORIGIN_SERVER_NAME = 1u << 7,
  WR_OR_CA_POOL = 1u << 8,
  WR_OR_NO_HAPPY_EYEBALLS = 1u << 9,
  WR_OR_DISABLE_CHUNKED = 1u << 10,
  WR_OR_HTTP2_ORIGIN = 1u << 11,
};

typedef struct wr_origin_request {
  unsigned set;
  uint64_t connect_timeout_ns;
  uint64_t tls_timeout_ns;
  uint64_t tcp_keepalive_ns;
  uint64_t keepalive_timeout_ns;
  uint64_t keepalive_connections;
  int no_tls_verify;
  int no_happy_eyeballs;
  int disable_chunked_encoding;
  int http2_origin;
  char *http_host_header;   /* NULL: keep the request's Host */
  char *origin_server_name; /* NULL: the service's host */
  char *ca_pool;            /* NULL: the system CAs */
} wr_origin_request;

/* Sets *o to cloudflared's defaults (nothing marked as set). */
void wr_origin_request_defaults(wr_origin_request *o);
/* Frees the strings in *o. */
void wr_origin_request_free(wr_origin_request *o);
/* *dst = base with every key set in over replacing base's. Strings are
 * copied. WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_origin_request_merge(wr_origin_request *dst, const wr_origin_request *base,
                                          const wr_origin_request *over);

typedef enum wr_service_type {
  WR_SERVICE_HTTP,        /* http:// and ws:// */
  WR_SERVICE_HTTPS,       /* https:// and wss:// */
  WR_SERVICE_UNIX,        /* unix:PATH */
  WR_SERVICE_UNIX_TLS,    /* unix+tls:PATH */
  WR_SERVICE_HTTP_STATUS, /* http_status:NNN */
  WR_SERVICE_HELLO_WORLD, /* hello_world */
} wr_service_type;

typedef struct wr_service {
  wr_service_type type;
  char *text;  /* as written in the config */
  char *host;  /* HTTP(S): host without brackets */
  uint16_t port; /* HTTP(S): the port, 80/443 when not given */
  char *path;  /* UNIX: the socket path */
  int status;  /* HTTP_STATUS */
} wr_service;

/* Parses a service string. WR_ERR_INVAL with a sentence in err (cloudflared's
 * wording where it has one), WR_ERR_UNSUPPORTED for a cloudflared service
 * warren lacks, WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_service_parse(const char *s, wr_service *svc, char *err, size_t errlen);
void wr_service_free(wr_service *svc);

typedef struct wr_ingress_rule {
  char *hostname;  /* lowercased; NULL when the rule has none */
  char *punycode;  /* hostname's ASCII form when it has Unicode labels, else NULL */
  char *path;      /* the regex source, NULL when none */
  regex_t re;      /* compiled path, when path != NULL */
  wr_service service;
  wr_origin_request config; /* defaults merged with the rule's own */
} wr_ingress_rule;

typedef struct wr_ingress {
  wr_ingress_rule *rules;
  size_t n, cap;
  wr_origin_request defaults; /* built-in defaults merged with the top-level block */
} wr_ingress;

#define WR_INGRESS_MAX_RULES 4096

/* An empty rule list with cloudflared's origin defaults. */
void wr_ingress_init(wr_ingress *ing);
void wr_ingress_free(wr_ingress *ing);

/* Sets the top-level originRequest block (before adding rules). */
WR_MUST_CHECK int wr_ingress_set_defaults(wr_ingress *ing, const wr_origin_request *top);

/* Appends rule #(n+1). hostname and path may be NULL or "". over (may be
 * NULL) is the rule's own originRequest block. Checks the service, the
 * hostname (no port, at most a leading "*.") and compiles the path. On
 * error nothing is added, err holds the sentence, and the result is
 * WR_ERR_INVAL, WR_ERR_UNSUPPORTED, WR_ERR_LIMIT or WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_ingress_add(wr_ingress *ing, const char *hostname, const char *path,
                                 const char *service, const wr_origin_request *over, char *err,
                                 size_t errlen);

/* Checks the whole list once every rule is added: at least one rule, the
 * last a catch-all, no catch-all before it. On error *pbad (may be NULL)
 * gets the index of the rule at fault (n when the list is empty). */
WR_MUST_CHECK int wr_ingress_validate(const wr_ingress *ing, size_t *pbad, char *err,
                                      size_t errlen);

/* 1 when a rule matches everything (no hostname or "*", no path). */
int wr_ingress_rule_is_catch_all(const wr_ingress_rule *r);

/* The index of the first rule matching host (a Host header value, maybe with
 * a port; hostlen bytes) and path (NUL-terminated; "" is treated as "/").
 * A validated list always matches (the catch-all); an empty one returns
 * -1. */
long wr_ingress_match(const wr_ingress *ing, const char *host, size_t hostlen, const char *path);

/* Appends the rule in cloudflared's `ingress rule` layout:
 *   "\thostname: H\n\tpath: P\n\tservice: S\n" (lines for absent fields left out). */
WR_MUST_CHECK int wr_ingress_rule_describe(const wr_ingress_rule *r, wr_buf *b);

#endif
