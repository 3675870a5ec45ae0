#include "tunnel/ingress.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "proto/text/idna.h"
#include "proto/text/re2posix.h"

/* cloudflared's own sentences (ingress/ingress.go), so users searching for
 * them find the same explanations. */
#define ERR_NO_RULES "The config file doesn't contain any ingress rules"
#define ERR_LAST_NOT_CATCH_ALL \
  "The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)"
#define ERR_BAD_WILDCARD                                                                        \
  "Hostname patterns can have at most one wildcard character (\"*\") and it can only be used " \
  "for subdomains, e.g. \"*.example.com\""
#define ERR_HOST_PORT "Hostname cannot contain a port"

#define MAX_PATH_REGEX 1024

void wr_origin_request_defaults(wr_origin_request *o) {
  memset(o, 0, sizeof *o);
  o->connect_timeout_ns = WR_ORIGIN_CONNECT_TIMEOUT_NS;
  o->tls_timeout_ns = WR_ORIGIN_TLS_TIMEOUT_NS;
  o->tcp_keepalive_ns = WR_ORIGIN_TCP_KEEPALIVE_NS;
  o->keepalive_timeout_ns = WR_ORIGIN_KEEPALIVE_TIMEOUT_NS;
  o->keepalive_connections = WR_ORIGIN_KEEPALIVE_CONNECTIONS;
}

void wr_origin_request_free(wr_origin_request *o) {
  wr_free(o->http_host_header);
  wr_free(o->origin_server_name);
  wr_free(o->ca_pool);
  o->http_host_header = o->origin_server_name = o->ca_pool = NULL;
}

static int dup_or_null(char **dst, const char *s) {
  *dst = NULL;
  if (s && !(*dst = wr_strdup(s)))
    return WR_ERR_NOMEM;
  return 0;
}

int wr_origin_request_merge(wr_origin_request *dst, const wr_origin_request *base,
                            const wr_origin_request *over) {
  wr_origin_request r = *base;
  r.http_host_header = r.origin_server_name = r.ca_pool = NULL;
  const char *host = base->http_host_header, *sni = base->origin_server_name, *ca = base->ca_pool;
  if (over) {
    unsigned s = over->set;
    r.set |= s;
    if (s & WR_OR_CONNECT_TIMEOUT) r.connect_timeout_ns = over->connect_timeout_ns;
    if (s & WR_OR_TLS_TIMEOUT) r.tls_timeout_ns = over->tls_timeout_ns;
    if (s & WR_OR_TCP_KEEPALIVE) r.tcp_keepalive_ns = over->tcp_keepalive_ns;
    if (s & WR_OR_KEEPALIVE_TIMEOUT) r.keepalive_timeout_ns = over->keepalive_timeout_ns;
    if (s & WR_OR_KEEPALIVE_CONNECTIONS) r.keepalive_connections = over->keepalive_connections;
    if (s & WR_OR_NO_TLS_VERIFY) r.no_tls_verify = over->no_tls_verify;
    if (s & WR_OR_NO_HAPPY_EYEBALLS) r.no_happy_eyeballs = over->no_happy_eyeballs;
    if (s & WR_OR_DISABLE_CHUNKED) r.disable_chunked_encoding = over->disable_chunked_encoding;
    if (s & WR_OR_HTTP2_ORIGIN) r.http2_origin = over->http2_origin;
    if (s & WR_OR_HTTP_HOST_HEADER) host = over->http_host_header;
    if (s & WR_OR_ORIGIN_SERVER_NAME) sni = over->origin_server_name;
    if (s & WR_OR_CA_POOL) ca = over->ca_pool;
  }
  if (dup_or_null(&r.http_host_header, host) || dup_or_null(&r.origin_server_name, sni) ||
      dup_or_null(&r.ca_pool, ca)) {
    wr_origin_request_free(&r);
    return WR_ERR_NOMEM;
  }
  *dst = r;
  return 0;
}

void wr_service_free(wr_service *svc) {
  wr_free(svc->text);
  wr_free(svc->host);
  wr_free(svc->path);
  memset(svc, 0, sizeof *svc);
}

static int parse_url_service(const char *s, wr_service *svc, char *err, size_t errlen) {
  const char *sep = strstr(s, "://");
  size_t slen = sep ? (size_t)(sep - s) : 0;
  int ok = slen > 0 && ((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z');
  for (size_t i = 1; ok && i < slen; i++) {
    char c = s[i];
    ok = (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? 1 : (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  }
  if (!ok)
    return wr_errf(err, errlen, WR_ERR_INVAL,
                "%s is an invalid address, please make sure it has a scheme and a hostname", s);
  char scheme[16];
  if (slen >= sizeof scheme)
    return wr_errf(err, errlen, WR_ERR_UNSUPPORTED, "%s: warren does not support this scheme", s);
  for (size_t i = 0; i < slen; i++)
    scheme[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
  scheme[slen] = '\0';
  uint16_t defport;
  if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0) {
    svc->type = WR_SERVICE_HTTP;
    defport = 80;
  } else if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0) {
    svc->type = WR_SERVICE_HTTPS;
    defport = 443;
  } else {
    return wr_errf(err, errlen, WR_ERR_UNSUPPORTED,
                "%s: warren does not support %s:// services (use http://, https://, unix:, "
                "http_status: or hello_world)",
                s, scheme);
  }
  const char *auth = sep + 3, *aend = auth + strcspn(auth, "/?#");
  if (*aend)
    return wr_errf(err, errlen, WR_ERR_INVAL,
                "%s is an invalid address, ingress rules don't support proxying to a different "
                "path on the origin service. The path will be the same as the eyeball request's "
                "path",
                s);
  if (memchr(auth, '@', (size_t)(aend - auth)))
    return wr_errf(err, errlen, WR_ERR_INVAL, "%s is an invalid address: a service cannot carry a user name or password", s);
  const char *host = auth, *hend, *port = NULL;
  if (*auth == '[') {
    const char *rb = memchr(auth, ']', (size_t)(aend - auth));
    if (!rb)
      return wr_errf(err, errlen, WR_ERR_INVAL, "%s is an invalid address: an IPv6 address needs a closing ']'", s);
    host = auth + 1;
    hend = rb;
    if (rb + 1 < aend) {
      if (rb[1] != ':')
        return wr_errf(err, errlen, WR_ERR_INVAL, "%s is an invalid address: expected ':' and a port after ']'", s);
      port = rb + 2;
    }
  } else {
    const char *colon = memchr(auth, ':', (size_t)(aend - auth));
    hend = colon ? colon : aend;
    if (colon)
      port = colon + 1;
  }
  if (hend == host)
    return wr_errf(err, errlen, WR_ERR_INVAL,
                "%s is an invalid address, please make sure it has a scheme and a hostname", s);
  for (const char *q = host; q < hend; q++)
    if ((unsigned char)*q <= ' ' || *q == '[' || *q == ']' || (*q == ':' && *auth != '['))
      return wr_errf(err, errlen, WR_ERR_INVAL, "%s is an invalid address: bad character in the host", s);
  unsigned long pv = defport;
  if (port) {
    pv = 0;
    if (port == aend)
      return wr_errf(err, errlen, WR_ERR_INVAL, "%s is an invalid address: the port is empty", s);
    for (const char *q = port; q < aend; q++) {
      if (*q < '0' || *q > '9' || (pv = pv * 10 + (unsigned long)(*q - '0')) > 65535)
        return wr_errf(err, errlen, WR_ERR_INVAL, "%s is an invalid address: the port must be a number from 1 to 65535", s);
    }
    if (pv == 0)
      return wr_errf(err, errlen, WR_ERR_INVAL, "%s is an invalid address: the port must be a number from 1 to 65535", s);
  }
  svc->port = (uint16_t)pv;
  size_t hl = (size_t)(hend - host);
  if (!(svc->host = wr_malloc(hl + 1)))
    return WR_ERR_NOMEM;
  memcpy(svc->host, host, hl);
  svc->host[hl] = '\0';
  return 0;
}

int wr_service_parse(const char *s, wr_service *svc, char *err, size_t errlen) {
  memset(svc, 0, sizeof *svc);
  int rv = 0;
  if (!s || !*s)
    return wr_errf(err, errlen, WR_ERR_INVAL, "the rule has no service");
  if (strncmp(s, "unix:", 5) == 0 || strncmp(s, "unix+tls:", 9) == 0) {
    int tls = s[4] == '+';
    const char *p = s + (tls ? 9 : 5);
    if (!*p)
      return wr_errf(err, errlen, WR_ERR_INVAL, "%s needs the path of a Unix socket, as in unix:/run/app.sock", s);
    svc->type = tls ? WR_SERVICE_UNIX_TLS : WR_SERVICE_UNIX;
    if (!(svc->path = wr_strdup(p)))
      rv = WR_ERR_NOMEM;
  } else if (strncmp(s, "http_status:", 12) == 0) {
    const char *p = s + 12;
    long v = 0;
    int ok = *p != '\0';
    for (const char *q = p; ok && *q; q++) {
      if (*q < '0' || *q > '9' || v > 100000)
        ok = 0;
      else
        v = v * 10 + (*q - '0');
    }
    if (!ok)
      return wr_errf(err, errlen, WR_ERR_INVAL, "invalid HTTP status code: \"%s\" is not a number", p);
    if (v < 100 || v > 999)
      return wr_errf(err, errlen, WR_ERR_INVAL, "invalid HTTP status code: %ld", v);
    svc->type = WR_SERVICE_HTTP_STATUS;
    svc->status = (int)v;
  } else if (strcmp(s, "hello_world") == 0 || strcmp(s, "hello-world") == 0) {
    svc->type = WR_SERVICE_HELLO_WORLD;
  } else if (strcmp(s, "bastion") == 0 || strcmp(s, "socks-proxy") == 0 ||
             strcmp(s, "warp-routing") == 0) {
    return wr_errf(err, errlen, WR_ERR_UNSUPPORTED, "warren does not support the %s service", s);
  } else {
    rv = parse_url_service(s, svc, err, errlen);
  }
  if (!rv && !(svc->text = wr_strdup(s)))
    rv = WR_ERR_NOMEM;
  if (rv == WR_ERR_NOMEM)
    wr_errf(err, errlen, rv, "out of memory");
  if (rv)
    wr_service_free(svc);
  return rv;
}

/* glibc's regcomp copies a sub-expression once per repetition ('+' and
 * {m,n} duplicate it), so nested repeats such as "((a+)+)+" or "(a{99}){99}"
 * grow exponentially and a short pattern can exhaust memory. This walk over
 * the POSIX translation (which already refused what Go refuses: nested
 * repetition operators, back-references) bounds the expanded size before
 * regcomp sees it. Returns 0 or WR_ERR_INVAL with why. */
#define REGEX_MAX_WEIGHT 20000
#define REGEX_MAX_REPEAT 1000
#define REGEX_MAX_GROUPS 64

/* When p starts a quantifier (* ? + {m,n}), sets *pfactor to how many
 * copies regcomp makes and returns its length; 0 when it is not one, or
 * WR_ERR_INVAL with why for a count over REGEX_MAX_REPEAT. */
static int quantifier(const char *p, unsigned long *pfactor, char *why, size_t whylen) {
  if (*p == '*' || *p == '?' || *p == '+') {
    *pfactor = *p == '+' ? 2 : 1;
    return 1;
  }
  if (*p != '{')
    return 0;
  const char *q = p + 1;
  unsigned long m = 0, n = 0;
  int dm = 0, dn = 0, comma = 0;
  while (*q >= '0' && *q <= '9' && dm < 8)
    m = m * 10 + (unsigned long)(*q++ - '0'), dm++;
  if (*q == ',') {
    comma = 1;
    for (q++; *q >= '0' && *q <= '9' && dn < 8; q++)
      n = n * 10 + (unsigned long)(*q - '0'), dn++;
  }
  if (*q != '}' || (!dm && !dn))
    return 0;
  if (m > REGEX_MAX_REPEAT || n > REGEX_MAX_REPEAT)
    return wr_errf(why, whylen, WR_ERR_INVAL, "invalid repeat count: `%.*s`", (int)(q + 1 - p),
                   p);
  *pfactor = (m > n ? m : n) + (comma && !dn ? 1 : 0) + 1;
  return (int)(q + 1 - p);
}

/* The end of a bracket expression whose '[' is at p (past its ']'). */
static const char *bracket_end(const char *p) {
  const char *q = p + 1;
  if (*q == '^')
    q++;
  if (*q == ']')
    q++;
  while (*q && *q != ']') {
    if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
      const char *end = strchr(q + 2, q[1]);
      q = end && end[1] == ']' ? end + 2 : q + 1;
    } else {
      q++;
    }
  }
  return *q ? q + 1 : q;
}

static int check_regex(const char *re, char *why, size_t whylen) {
  /* Per open group: the weight of its complete atoms, and of the last one
   * (which a quantifier multiplies). */
  struct {
    unsigned long sum, last;
  } st[REGEX_MAX_GROUPS + 1];
  int top = 0;
  st[0].sum = st[0].last = 0;
  for (const char *p = re; *p;) {
    unsigned long factor = 1;
    int q = quantifier(p, &factor, why, whylen);
    if (q < 0)
      return q;
    if (q > 0) {
      st[top].last *= factor;
      p += q;
      if (st[top].last > REGEX_MAX_WEIGHT)
        goto too_big;
      continue;
    }
    /* Not a quantifier: the previous atom is complete; this one weighs 1,
     * or a group its contents. */
    st[top].sum += st[top].last;
    st[top].last = 0;
    if (*p == '(') {
      if (top == REGEX_MAX_GROUPS)
        return wr_errf(why, whylen, WR_ERR_INVAL, "more than %d nested groups", REGEX_MAX_GROUPS);
      top++;
      st[top].sum = st[top].last = 0;
      p++;
    } else if (*p == ')' && top > 0) {
      unsigned long w = st[top].sum ? st[top].sum : 1;
      top--;
      st[top].last = w;
      p++;
    } else {
      st[top].last = 1;
      p = *p == '\\' ? p + (p[1] ? 2 : 1) : *p == '[' ? bracket_end(p) : p + 1;
    }
    if (st[top].sum > REGEX_MAX_WEIGHT)
      goto too_big;
  }
  unsigned long total = 0;
  for (int i = 0; i <= top; i++)
    total += st[i].sum + st[i].last;
  if (total <= REGEX_MAX_WEIGHT)
    return 0;
too_big:
  return wr_errf(why, whylen, WR_ERR_INVAL,
                 "the expression repeats too much (nested repeats expand past %d)",
                 REGEX_MAX_WEIGHT);
}

void wr_ingress_init(wr_ingress *ing) {
  memset(ing, 0, sizeof *ing);
  wr_origin_request_defaults(&ing->defaults);
}

static void rule_free(wr_ingress_rule *r) {
  wr_free(r->hostname);
  wr_free(r->punycode);
  if (r->path) {
    regfree(&r->re);
    wr_free(r->path);
  }
  wr_service_free(&r->service);
  wr_origin_request_free(&r->config);
}

void wr_ingress_free(wr_ingress *ing) {
  for (size_t i = 0; i < ing->n; i++)
    rule_free(&ing->rules[i]);
  wr_free(ing->rules);
  wr_origin_request_free(&ing->defaults);
  wr_ingress_init(ing);
}

int wr_ingress_set_defaults(wr_ingress *ing, const wr_origin_request *top) {
  wr_origin_request base, merged;
  wr_origin_request_defaults(&base);
  int rv = wr_origin_request_merge(&merged, &base, top);
  if (rv)
    return rv;
  wr_origin_request_free(&ing->defaults);
  ing->defaults = merged;
  return 0;
}

/* Checks and keeps a rule's hostname, lowercased, and its ASCII form when it
 * has Unicode labels, since cloudflared matches either (a request for
 * xn--m-xgaa.example.com reaches the rule for môô.example.com). */
static int rule_set_hostname(wr_ingress_rule *r, size_t index, const char *hostname, char *err,
                             size_t errlen) {
  const char *star = strrchr(hostname, '*');
  const char *colon = strchr(hostname, ':');
  /* Go's net.SplitHostPort accepts "host:port" and "[v6]:port". */
  if (colon && (hostname[0] != '[' || strstr(hostname, "]:")))
    return wr_errf(err, errlen, WR_ERR_INVAL, ERR_HOST_PORT);
  if (star && (star != hostname || (hostname[1] != '.' && hostname[1] != '\0')))
    return wr_errf(err, errlen, WR_ERR_INVAL, ERR_BAD_WILDCARD);
  int unicode = 0;
  for (const char *q = hostname; *q; q++) {
    if ((unsigned char)*q <= ' ' || *q == '/' || *q == '\x7f')
      return wr_errf(err, errlen, WR_ERR_INVAL, "Rule #%zu has an invalid hostname \"%s\"", index,
                     hostname);
    unicode |= (unsigned char)*q >= 0x80;
  }
  if (!(r->hostname = wr_strdup(hostname)))
    return WR_ERR_NOMEM;
  for (char *q = r->hostname; *q; q++)
    if (*q >= 'A' && *q <= 'Z')
      *q = (char)(*q + 32);
  if (!unicode)
    return 0;
  char ascii[WR_IDNA_MAX + 1];
  const char *why = NULL;
  if (wr_idna_to_ascii(hostname, strlen(hostname), ascii, &why) != 0)
    return wr_errf(err, errlen, WR_ERR_INVAL, "Rule #%zu has an invalid hostname \"%s\": %s",
                   index, hostname, why);
  return (r->punycode = wr_strdup(ascii)) ? 0 : WR_ERR_NOMEM;
}

/* Compiles a rule's path, written in Go's syntax as for cloudflared, through
 * its POSIX translation (proto/text/re2posix); keeps the source for display. */
static int rule_set_path(wr_ingress_rule *r, size_t index, const char *path, char *err,
                         size_t errlen) {
  if (strlen(path) > MAX_PATH_REGEX)
    return wr_errf(err, errlen, WR_ERR_LIMIT,
                   "Rule #%zu has an invalid regex: longer than %d characters", index,
                   MAX_PATH_REGEX);
  wr_buf posix;
  wr_buf_init(&posix, 8 * MAX_PATH_REGEX);
  int icase = 0, rv;
  char why[256] = "too long";
  if ((rv = wr_re2_to_posix(path, strlen(path), &posix, &icase, why, sizeof why)) != 0 ||
      (rv = wr_buf_append(&posix, "", 1)) != 0) {
    rv = wr_errf(err, errlen, rv == WR_ERR_NOMEM ? rv : WR_ERR_INVAL,
                 "Rule #%zu has an invalid regex: %s", index, why);
    goto out;
  }
  if (check_regex((const char *)posix.data, why, sizeof why) != 0) {
    rv = wr_errf(err, errlen, WR_ERR_INVAL, "Rule #%zu has an invalid regex: %s", index, why);
    goto out;
  }
  int rc = regcomp(&r->re, (const char *)posix.data,
                   REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
  if (rc != 0) {
    regerror(rc, &r->re, why, sizeof why);
    rv = wr_errf(err, errlen, WR_ERR_INVAL, "Rule #%zu has an invalid regex: %s", index, why);
    goto out;
  }
  if (!(r->path = wr_strdup(path))) {
    regfree(&r->re);
    rv = WR_ERR_NOMEM;
  }
out:
  wr_buf_free(&posix);
  return rv;
}

int wr_ingress_add(wr_ingress *ing, const char *hostname, const char *path, const char *service,
                   const wr_origin_request *over, char *err, size_t errlen) {
  if (ing->n >= WR_INGRESS_MAX_RULES)
    return wr_errf(err, errlen, WR_ERR_LIMIT, "more than %d ingress rules", WR_INGRESS_MAX_RULES);
  size_t index = ing->n + 1;
  wr_ingress_rule r;
  memset(&r, 0, sizeof r);
  int rv = wr_service_parse(service, &r.service, err, errlen);
  if (rv)
    return rv;
  if (hostname && *hostname && (rv = rule_set_hostname(&r, index, hostname, err, errlen)) != 0)
    goto fail;
  if (path && *path && (rv = rule_set_path(&r, index, path, err, errlen)) != 0)
    goto fail;
  if ((rv = wr_origin_request_merge(&r.config, &ing->defaults, over)) != 0)
    goto fail;
  if (ing->n == ing->cap) {
    size_t cap = ing->cap ? ing->cap * 2 : 4;
    wr_ingress_rule *rs = wr_realloc(ing->rules, cap * sizeof *rs);
    if (!rs) {
      rv = WR_ERR_NOMEM;
      goto fail;
    }
    ing->rules = rs;
    ing->cap = cap;
  }
  ing->rules[ing->n++] = r;
  return 0;
fail:
  if (rv == WR_ERR_NOMEM)
    wr_errf(err, errlen, rv, "out of memory");
  rule_free(&r);
  return rv;
}

int wr_ingress_rule_is_catch_all(const wr_ingress_rule *r) {
  return (!r->hostname || strcmp(r->hostname, "*") == 0) && !r->path;
}

int wr_ingress_validate(const wr_ingress *ing, size_t *pbad, char *err, size_t errlen) {
  if (ing->n == 0) {
    if (pbad)
      *pbad = 0;
    return wr_errf(err, errlen, WR_ERR_INVAL, ERR_NO_RULES);
  }
  for (size_t i = 0; i < ing->n; i++) {
    int last = i + 1 == ing->n, all = wr_ingress_rule_is_catch_all(&ing->rules[i]);
    if (pbad)
      *pbad = i;
    if (last && !all)
      return wr_errf(err, errlen, WR_ERR_INVAL, ERR_LAST_NOT_CATCH_ALL);
    if (!last && all)
      return wr_errf(err, errlen, WR_ERR_INVAL,
                  "Rule #%zu is matching the hostname '%s', but this will match every hostname, "
                  "meaning the rules which follow it will never be triggered.",
                  i + 1, ing->rules[i].hostname ? ing->rules[i].hostname : "");
  }
  return 0;
}

/* Does rule host pattern `rule` (lowercase) match host h[0..n) (any case)? */
static int host_matches(const char *rule, const char *h, size_t n) {
  size_t rl = strlen(rule);
  if (rl == n && strncasecmp(rule, h, n) == 0)
    return 1;
  if (rl > 2 && rule[0] == '*' && rule[1] == '.') {
    size_t sl = rl - 1; /* ".example.com" */
    return n > sl && strncasecmp(h + n - sl, rule + 1, sl) == 0;
  }
  return 0;
}

long wr_ingress_match(const wr_ingress *ing, const char *host, size_t hostlen, const char *path) {
  if (ing->n == 0)
    return -1;
  /* Strip a port ("host:8080", "[::1]:8080"), brackets and one trailing
   * dot, so the rules see the bare name. */
  const char *h = host;
  size_t n = hostlen;
  if (n && h[0] == '[') {
    const char *rb = memchr(h, ']', n);
    if (rb) {
      n = (size_t)(rb - h - 1);
      h++;
    }
  } else {
    const char *colon = memchr(h, ':', n);
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - h)))
      n = (size_t)(colon - h);
  }
  if (n > 1 && h[n - 1] == '.')
    n--;
  if (!path || !*path)
    path = "/";
  for (size_t i = 0; i < ing->n; i++) {
    const wr_ingress_rule *r = &ing->rules[i];
    if (r->hostname && strcmp(r->hostname, "*") != 0 && !host_matches(r->hostname, h, n) &&
        !(r->punycode && host_matches(r->punycode, h, n)))
      continue;
    if (r->path && regexec(&r->re, path, 0, NULL, 0) != 0)
      continue;
    return (long)i;
  }
  /* cloudflared falls back to the last rule, which validation makes a
   * catch-all anyway. */
  return (long)ing->n - 1;
}

int wr_ingress_rule_describe(const wr_ingress_rule *r, wr_buf *b) {
  int rv = 0;
  if (r->hostname)
    rv = wr_buf_printf(b, "\thostname: %s\n", r->hostname);
  if (!rv && r->path)
    rv = wr_buf_printf(b, "\tpath: %s\n", r->path);
  if (!rv)
    rv = wr_buf_printf(b, "\tservice: %s\n", r->service.text);
  return rv;
}
