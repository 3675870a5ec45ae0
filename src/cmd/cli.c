#include "cmd/cli.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/tls.h"

void wr_cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fputs("warren: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nRun 'warren %s%s--help' for usage.\n", cmd ? cmd : "", cmd ? " " : "");
  exit(2);
}

void wr_cli_fail(const char *fmt, ...) {
  va_list ap;
  fputs("warren: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int wr_cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
                  const struct option *longopts) {
  char fmt[128];
  /* A leading ':' makes getopt report a missing value as ':' instead of '?'. */
  snprintf(fmt, sizeof fmt, ":%s", shortopts);
  opterr = 0;
  int prev = optind;
  int c = getopt_long(argc, argv, fmt, longopts, NULL);
  if (c == '?' || c == ':') {
    const char *arg = prev < argc ? argv[prev] : "";
    if (optind > prev && optind - 1 < argc)
      arg = argv[optind - 1];
    if (c == ':')
      wr_cli_usage_error(cmd, "the flag %s needs a value.", arg);
    if (optopt && !(arg[0] == '-' && arg[1] == '-'))
      wr_cli_usage_error(cmd, "unknown flag -%c.", optopt);
    wr_cli_usage_error(cmd, "unknown flag %s.", arg);
  }
  return c;
}

int wr_cli_help_only(const char *cmd, int argc, char **argv, const char *help) {
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = wr_cli_getopt(cmd, argc, argv, "h", opts)) != -1)
    if (c == 'h') {
      fputs(help, stdout);
      return 1;
    }
  return 0;
}

uint64_t wr_cli_parse_uint(const char *cmd, const char *flag, const char *value, uint64_t min,
                           uint64_t max) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(value, &end, 10);
  if (!*value || *end || errno || value[0] == '-')
    wr_cli_usage_error(cmd, "%s takes a whole number, not \"%s\".", flag, value);
  if (v < min || v > max)
    wr_cli_usage_error(cmd, "%s must be between %llu and %llu, not %llu.", flag,
                       (unsigned long long)min, (unsigned long long)max, v);
  return v;
}

uint64_t wr_cli_parse_size(const char *cmd, const char *flag, const char *value) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(value, &end, 10);
  if (end == value || errno || value[0] == '-')
    wr_cli_usage_error(cmd, "%s takes a size such as 8M or 8388608, not \"%s\".", flag, value);
  uint64_t mult = 1;
  if (*end) {
    switch (*end == 0 ? 0 : (*end | 0x20)) {
    case 'k': mult = 1024; break;
    case 'm': mult = 1024 * 1024; break;
    case 'g': mult = 1024 * 1024 * 1024; break;
    default: mult = 0;
    }
    const char *rest = end + 1;
    if (mult && *rest && strcasecmp(rest, "ib") != 0 && strcasecmp(rest, "b") != 0)
      mult = 0;
    if (!mult)
      wr_cli_usage_error(cmd, "%s takes a size such as 8M or 8388608, not \"%s\".", flag, value);
  }
  if (v > UINT64_MAX / mult)
    wr_cli_usage_error(cmd, "%s is too large: \"%s\".", flag, value);
  return v * mult;
}

int wr_cli_parse_bool(const char *cmd, const char *flag, const char *value) {
  static const char *const yes[] = {"true", "1", "yes", "on"};
  static const char *const no[] = {"false", "0", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(value, yes[i]) == 0)
      return 1;
    if (strcasecmp(value, no[i]) == 0)
      return 0;
  }
  wr_cli_usage_error(cmd, "%s takes true or false, not \"%s\".", flag, value);
}

int wr_cli_dispatch(const char *cmd, int argc, char **argv, const wr_subcommand *table,
                    size_t n, void (*usage)(FILE *f)) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    if (strcmp(sub, table[i].name) == 0)
      return table[i].run(argc - 1, argv + 1);
  char names[256] = "";
  for (size_t i = 0; i < n; i++) {
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", table[i].name);
  }
  wr_cli_usage_error(cmd, "unknown %s command \"%s\" (%s).", cmd, sub, names);
}

int wr_cli_listen_addr(const char *s, wr_addr *out, char *err, size_t errlen) {
  if (wr_addr_parse(s, out, err, errlen) == 0)
    return 0;
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || s[0] == '[' || !colon[1])
    return -1; /* wr_addr_parse's sentence says what is wrong */
  char host[256];
  if ((size_t)(colon - s) >= sizeof host) {
    snprintf(err, errlen, "\"%s\": the host name is too long", s);
    return -1;
  }
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG},
                  *res = NULL;
  int rc = getaddrinfo(host, colon + 1, &hints, &res);
  if (rc != 0) {
    snprintf(err, errlen, "\"%s\": cannot resolve %s: %s", s, host, gai_strerror(rc));
    return -1;
  }
  const struct addrinfo *pick = res;
  for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
  memset(out, 0, sizeof *out);
  memcpy(&out->ss, pick->ai_addr, pick->ai_addrlen);
  out->len = pick->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

void wr_cli_human_bytes(char *out, size_t n, uint64_t bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(out, n, "%llu B", (unsigned long long)bytes);
  else
    snprintf(out, n, "%.1f %s", v, units[u]);
}

void wr_cli_check_keepalive(const char *cmd, uint64_t idle_ms, uint64_t keepalive_ms) {
  uint64_t idle = idle_ms ? idle_ms : 30000; /* the transports' default */
  if (keepalive_ms && keepalive_ms >= idle)
    wr_cli_usage_error(cmd, "--tunnel-keepalive (%llu ms) must be shorter than the tunnel idle "
                       "timeout (%llu ms), or connections close between PINGs.",
                       (unsigned long long)keepalive_ms, (unsigned long long)idle);
}

int wr_cli_self_signed(const char *dir, char *cert, char *key, int *pcreated, char *err,
                       size_t errlen) {
  int rv = wr_tls_self_signed_ensure(dir, NULL, 0, pcreated, err, errlen);
  if (rv)
    return rv;
  snprintf(cert, WR_CLI_PATH_MAX, "%s/%s", dir, WR_TLS_SELF_SIGNED_CERT);
  snprintf(key, WR_CLI_PATH_MAX, "%s/%s", dir, WR_TLS_SELF_SIGNED_KEY);
  return 0;
}
