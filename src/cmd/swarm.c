/* swarm.c: `warren swarm peers|connect|disconnect|addrs` and `warren ping`,
 * as kubo's: they ask the running daemon (these need its libp2p host). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "proto/text/json.h"

/* The running daemon's API address, or 1 after saying none runs. */
static int need_daemon(const char *cmd, wr_addr *api) {
  int d = wr_cmd_find_daemon(cmd, api);
  if (d == 1)
    return 0;
  if (d == 0)
    wr_cli_fail("%s: this command needs the running node: start `warren daemon` first.", cmd);
  return 1;
}

/* Collects a whole JSON answer. */
static int collect(void *arg, const uint8_t *p, size_t n) { return wr_buf_append(arg, p, n); }

/* POSTs target and parses the JSON answer into *proot. 0 or 1 (told). */
static int post_json(const char *cmd, const wr_addr *api, const char *target, wr_json **proot) {
  wr_buf b;
  wr_buf_init(&b, 16 << 20);
  int rv = wr_cmd_remote_post(cmd, api, target, NULL, NULL, NULL, collect, &b);
  if (!rv && wr_json_parse((const char *)b.data, b.len, NULL, proot, NULL) != 0) {
    wr_cli_fail("%s: the daemon's answer is not JSON.", cmd);
    rv = 1;
  }
  wr_buf_free(&b);
  return rv ? 1 : 0;
}

/* "/api/v0/PATH?arg=A&arg=B..." for argv[optind..]. 0 or 1 (told). */
static int target_with_args(const char *cmd, const char *path, int argc, char **argv, wr_buf *t) {
  int rv = wr_buf_printf(t, "/api/v0/%s", path);
  for (int i = optind; i < argc && !rv; i++) {
    char esc[3 * 1024 + 1];
    rv = wr_rpc_url_escape(argv[i], 1, esc, sizeof esc);
    if (!rv)
      rv = wr_buf_printf(t, "%sarg=%s", i == optind ? "?" : "&", esc);
  }
  if (!rv)
    rv = wr_buf_append(t, "", 1);
  if (rv)
    wr_cli_fail("%s: too many or too long arguments.", cmd);
  return rv ? 1 : 0;
}

/* Prints each string of a {"Strings":[...]} answer on its own line. */
static void print_strings(const wr_json *root) {
  const wr_json *s = wr_json_get(root, "Strings");
  for (const wr_json *e = s && s->type == WR_JSON_ARRAY ? s->child : NULL; e; e = e->next)
    if (e->type == WR_JSON_STRING)
      printf("%s\n", e->str);
}

static int swarm_peers(int argc, char **argv) {
  if (wr_cli_help_only("swarm peers", argc, argv,
                       "Usage: warren swarm peers\n\n"
                       "Lists the peers the node is connected to, one \"ADDR/p2p/ID\" per line, "
                       "as kubo.\n"))
    return 0;
  wr_addr api;
  wr_json *root = NULL;
  if (need_daemon("swarm peers", &api) ||
      post_json("swarm peers", &api, "/api/v0/swarm/peers", &root))
    return 1;
  const wr_json *peers = wr_json_get(root, "Peers");
  for (const wr_json *p = peers && peers->type == WR_JSON_ARRAY ? peers->child : NULL; p;
       p = p->next) {
    const wr_json *addr = wr_json_get(p, "Addr"), *id = wr_json_get(p, "Peer");
    if (addr && id && addr->type == WR_JSON_STRING && id->type == WR_JSON_STRING)
      printf("%s/p2p/%s\n", addr->str, id->str);
  }
  wr_json_del(root);
  return 0;
}

/* connect and disconnect: one or more addresses, kubo's answer lines. */
static int swarm_change(const char *cmd, const char *path, const char *help, int argc,
                        char **argv) {
  if (wr_cli_help_only(cmd, argc, argv, help))
    return 0;
  if (optind >= argc)
    wr_cli_usage_error(cmd, "%s needs at least one address.", cmd);
  wr_addr api;
  wr_buf t;
  wr_buf_init(&t, 256 * 1024);
  wr_json *root = NULL;
  int rv = need_daemon(cmd, &api) || target_with_args(cmd, path, argc, argv, &t) ||
           post_json(cmd, &api, (const char *)t.data, &root);
  wr_buf_free(&t);
  if (!rv)
    print_strings(root);
  wr_json_del(root);
  return rv;
}

static int swarm_connect(int argc, char **argv) {
  return swarm_change("swarm connect", "swarm/connect",
                      "Usage: warren swarm connect /ip4/ADDR/tcp/PORT/p2p/ID...\n\n"
                      "Dials each peer at its address (the peer ID is checked in the Noise\n"
                      "handshake) and prints \"connect ID success\", as kubo.\n",
                      argc, argv);
}

static int swarm_disconnect(int argc, char **argv) {
  return swarm_change("swarm disconnect", "swarm/disconnect",
                      "Usage: warren swarm disconnect (ADDR/p2p/ID | ID)...\n\n"
                      "Closes the connections to each peer (yamux GO_AWAY first).\n",
                      argc, argv);
}

static int swarm_addrs(int argc, char **argv) {
  if (wr_cli_help_only("swarm addrs", argc, argv,
                       "Usage: warren swarm addrs listen\n\n"
                       "Prints the addresses the node listens on (wildcards expanded).\n"))
    return 0;
  if (optind >= argc || strcmp(argv[optind], "listen") != 0)
    wr_cli_usage_error("swarm addrs", "only `swarm addrs listen` is supported.");
  wr_addr api;
  wr_json *root = NULL;
  if (need_daemon("swarm addrs listen", &api) ||
      post_json("swarm addrs listen", &api, "/api/v0/swarm/addrs/listen", &root))
    return 1;
  print_strings(root);
  wr_json_del(root);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "Usage: warren swarm COMMAND\n\n"
             "The running node's peers, as kubo's `ipfs swarm`:\n"
             "  peers                    the connected peers\n"
             "  connect ADDR/p2p/ID...   dial peers\n"
             "  disconnect ID...         close connections\n"
             "  addrs listen             the addresses the node listens on\n");
}

int wr_cmd_swarm(int argc, char **argv) {
  static const wr_subcommand table[] = {{"peers", swarm_peers},
                                        {"connect", swarm_connect},
                                        {"disconnect", swarm_disconnect},
                                        {"addrs", swarm_addrs}};
  return wr_cli_dispatch("swarm", argc, argv, table, sizeof table / sizeof table[0], usage);
}

/* One ping line from the daemon, printed as kubo prints them. */
static int ping_line(void *arg, const char *line, size_t n) {
  int *failed = arg;
  wr_json *root = NULL;
  if (wr_json_parse(line, n, NULL, &root, NULL) != 0)
    return WR_ERR_MALFORMED;
  const wr_json *ok = wr_json_get(root, "Success"), *t = wr_json_get(root, "Time"),
                *text = wr_json_get(root, "Text");
  int success = ok && ok->type == WR_JSON_TRUE;
  double ns = t && t->type == WR_JSON_NUMBER ? strtod(t->str, NULL) : 0;
  if (success && ns > 0)
    printf("Pong received: time=%.2f ms\n", ns / 1e6);
  else if (text && text->type == WR_JSON_STRING && text->str[0])
    printf("%s\n", text->str);
  if (text && text->type == WR_JSON_STRING && strncmp(text->str, "Ping failed", 11) == 0)
    *failed = 1;
  wr_json_del(root);
  return 0;
}

int wr_cmd_ping(int argc, char **argv) {
  static const struct option opts[] = {
      {"count", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  uint64_t count = 10;
  int c;
  optind = 1;
  while ((c = wr_cli_getopt("ping", argc, argv, "n:h", opts)) != -1) {
    if (c == 'n')
      count = wr_cli_parse_uint("ping", "--count", optarg, 1, 1000000);
    else if (c == 'h') {
      printf("Usage: warren ping [-n COUNT] (ID | ADDR/p2p/ID)\n\n"
             "Pings a peer over /ipfs/ping/1.0.0 through the running node (dialling the\n"
             "address first when one is given) and prints each round trip, as kubo.\n");
      return 0;
    }
  }
  if (argc - optind != 1)
    wr_cli_usage_error("ping", "ping takes one peer ID or address.");
  wr_addr api;
  char esc[3 * 1024 + 1], target[3 * 1024 + 64];
  if (need_daemon("ping", &api))
    return 1;
  if (wr_rpc_url_escape(argv[optind], 1, esc, sizeof esc) != 0) {
    wr_cli_fail("ping: the address is too long.");
    return 1;
  }
  snprintf(target, sizeof target, "/api/v0/ping?arg=%s&count=%llu", esc, (unsigned long long)count);
  int failed = 0;
  wr_cmd_lines lines = {.fn = ping_line, .arg = &failed};
  int rv = wr_cmd_remote_post("ping", &api, target, NULL, NULL, NULL, wr_cmd_lines_recv, &lines);
  return rv || failed ? 1 : 0;
}
