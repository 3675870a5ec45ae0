/* resolve.c: `warren resolve /ipns/<domain>[/path]` — the content path a
 * DNSLink name points to (kubo's `ipfs resolve` and `ipfs dns`); an IPNS
 * key name (/ipns/k51...) through the repo's records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/repoflag.h"
#include "content/names.h"
#include "io/dnslink_resolver.h"
#include "proto/text/dnslink.h"
#include "proto/text/yamldoc.h"

static void usage(void) {
  printf("Usage: warren resolve [flags] NAME...\n\n"
         "Prints the content path (/ipfs/CID/...) each NAME points to, one line each.\n"
         "NAME is /ipns/DOMAIN[/path] or DOMAIN: its DNSLink, a TXT record\n"
         "\"dnslink=/ipfs/CID\" at _dnslink.DOMAIN (or at DOMAIN itself), is looked up,\n"
         "and a link to /ipns/OTHER-DOMAIN is followed (at most %d steps).\n"
         "NAME may also be an IPNS key, /ipns/KEY[/path] (k51..., 12D3KooW...): the\n"
         "record the repo keeps for it (`warren name publish`, `warren name put`).\n"
         "A /ipfs/ path is printed as it is.\n\n"
         "Flags:\n"
         "  -r, --recursive[=BOOL]       follow /ipns/DOMAIN links to the end (default true)\n"
         "      --dns-resolver ADDR:PORT ask this DNS server (default: /etc/resolv.conf)\n"
         "      --timeout DURATION       give up on one TXT lookup after this (default 5s)\n"
         "      --negative-ttl DURATION  with --stdin: how long \"no DNSLink\" is remembered\n"
         "                               (default 1m)\n"
         "      --stdin                  also read names from stdin, one a line; each answer\n"
         "                               (or \"error: ...\") is printed when it is known, and\n"
         "                               answers are cached for their TTL between lines\n"
         "  -h, --help                   this help\n",
         WR_DNSLINK_MAX_DEPTH);
}

static int64_t wall_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct job {
  int done;
  int status;
  char out[WR_DNSLINK_MAX_STR + 1];
  char err[1024];
} job;

static void resolved(int status, const char *path, const char *err, void *arg) {
  job *j = arg;
  j->done = 1;
  j->status = status;
  snprintf(j->out, sizeof j->out, "%s", path);
  snprintf(j->err, sizeof j->err, "%s", err);
}

/* Resolves one NAME; prints the path, or returns 1 with the error printed
 * (to stdout as "error: ..." in stdin mode, else to stderr). */
static int resolve_one(uv_loop_t *loop, wr_dnslink_resolver *res, const char *name, int recursive,
                       int as_line) {
  wr_dnslink l;
  const char *why = NULL, *host = name, *rest = "";
  char hostbuf[WR_DNSLINK_MAX_ID + 1], restbuf[WR_DNSLINK_MAX_PATH + 1];
  job j = {0};
  char ipns_out[WR_NAMES_PATH_MAX] = "";
  if (name[0] == '/') {
    int rv = wr_dnslink_parse_path(name, strlen(name), &l, &why);
    if (rv == 0 && l.ns == WR_DNSLINK_IPNS && !l.is_domain) {
      /* An IPNS key: the repo's record (src/content/names.h); a value that
       * is a DNSLink name continues below. */
      char repo[WR_REPO_PATH_MAX];
      if (wr_cmd_repo_path(repo, sizeof repo) != 0)
        return 1;
      rv = wr_names_resolve(repo, name, wall_now_ns(), recursive, ipns_out, sizeof ipns_out, NULL,
                            j.err, sizeof j.err);
      if (rv != 0) {
        j.status = rv;
        goto out;
      }
      if (!recursive || strncmp(ipns_out, "/ipns/", 6) != 0) {
        printf("%s\n", ipns_out);
        return 0;
      }
      rv = wr_dnslink_parse_path(ipns_out, strlen(ipns_out), &l, &why);
    }
    if (rv == 0 && (l.ns == WR_DNSLINK_IPFS || !l.is_domain)) {
      printf("%s\n", l.ns == WR_DNSLINK_IPFS && ipns_out[0] ? ipns_out : name);
      return 0;
    }
    if (rv != 0) {
      snprintf(j.err, sizeof j.err, "%s: %s", name, why);
      j.status = rv;
      goto out;
    }
    memcpy(hostbuf, l.id, sizeof hostbuf);
    memcpy(restbuf, l.path, sizeof restbuf);
    host = hostbuf;
    rest = restbuf; /* checked, without a final '/' */
  }
  wr_dnslink_req *req = NULL;
  int rv = wr_dnslink_resolve(res, host, recursive, resolved, &j, &req);
  if (rv != 0) {
    snprintf(j.err, sizeof j.err, "%s: %s", name, wr_strerror(rv));
    j.status = rv;
    goto out;
  }
  while (!j.done)
    uv_run(loop, UV_RUN_ONCE);
  if (j.status == 0) {
    printf("%s%s\n", j.out, rest);
    return 0;
  }
out:
  if (as_line)
    printf("error: %s\n", j.err);
  else
    wr_cli_fail("resolve: %s.", j.err);
  return 1;
}

int wr_cmd_resolve(int argc, char **argv) {
  enum { O_RESOLVER = 256, O_TIMEOUT, O_STDIN, O_NEGTTL };
  static const struct option opts[] = {{"recursive", optional_argument, NULL, 'r'},
                                       {"dns-resolver", required_argument, NULL, O_RESOLVER},
                                       {"timeout", required_argument, NULL, O_TIMEOUT},
                                       {"stdin", no_argument, NULL, O_STDIN},
                                       {"negative-ttl", required_argument, NULL, O_NEGTTL},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  wr_dnslink_cfg cfg = {0};
  int recursive = 1, from_stdin = 0, c;
  while ((c = wr_cli_getopt("resolve", argc, argv, "r::h", opts)) != -1) {
    switch (c) {
    case 'r':
      /* kubo writes -r=false */
      recursive = optarg ? wr_cli_parse_bool("resolve", "--recursive",
                                             optarg[0] == '=' ? optarg + 1 : optarg)
                         : 1;
      break;
    case O_RESOLVER:
      cfg.server = optarg;
      break;
    case O_TIMEOUT: {
      uint64_t ns = 0;
      if (wr_duration_parse(optarg, &ns) != 0 || ns < 1000000 || ns > 600000000000ull)
        wr_cli_usage_error("resolve",
                           "--timeout wants a duration from 1ms to 10m, as 2s or "
                           "500ms; \"%s\" is not one.",
                           optarg);
      cfg.timeout_ms = (unsigned)(ns / 1000000);
      break;
    }
    case O_STDIN:
      from_stdin = 1;
      break;
    case O_NEGTTL: {
      uint64_t ns = 0;
      if (wr_duration_parse(optarg, &ns) != 0 || ns < 1000000000ull || ns > 86400000000000ull)
        wr_cli_usage_error("resolve",
                           "--negative-ttl wants a duration from 1s to 24h, as 5s; \"%s\" "
                           "is not one.",
                           optarg);
      cfg.negative_ttl_s = (uint32_t)(ns / 1000000000ull);
      break;
    }
    case 'h':
      usage();
      return 0;
    default:
      break;
    }
  }
  if (optind >= argc && !from_stdin)
    wr_cli_usage_error("resolve", "resolve needs a name, as /ipns/example.com.");
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    wr_cli_fail("resolve: cannot start an event loop.");
    return 1;
  }
  wr_dnslink_resolver *res = NULL;
  char err[512];
  if (wr_dnslink_resolver_new(&loop, &cfg, &res, err, sizeof err) != 0) {
    wr_cli_fail("resolve: %s.", err);
    uv_loop_close(&loop);
    return cfg.server ? 2 : 1;
  }
  int status = 0;
  for (int i = optind; i < argc; i++)
    status |= resolve_one(&loop, res, argv[i], recursive, 0);
  fflush(stdout);
  if (from_stdin) {
    char line[2048];
    while (fgets(line, sizeof line, stdin)) {
      line[strcspn(line, "\r\n")] = '\0';
      if (line[0])
        status |= resolve_one(&loop, res, line, recursive, 1);
      fflush(stdout);
    }
  }
  wr_dnslink_resolver_close(res, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    wr_cli_fail("resolve: internal error: handles left open at exit.");
  return status;
}
