/* main.c: `warren COMMAND ...` — global flags, then the command table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "proto/text/yamldoc.h"

#ifndef WR_VERSION
#define WR_VERSION "0.1.0"
#endif

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("warren %s\n", WR_VERSION);
  return 0;
}

static const wr_command commands[] = {
    {"version", "Print the version", cmd_version},
    {"init", "Create the repo folder (block store, pins, libp2p key)", wr_cmd_init},
    {"id", "Print this node's peer identity (kubo's JSON)", wr_cmd_id},
    {"diag", "Diagnostics: `diag udp` checks replies come from the right address", wr_cmd_diag},
    {"block", "Get, put, stat and remove raw blocks", wr_cmd_block},
    {"pin", "Pin and unpin DAGs: add, rm, ls", wr_cmd_pin},
    {"gc", "Remove every block no pin needs", wr_cmd_gc},
    {"repo", "The store as a whole: stat, verify, gc, compact", wr_cmd_repo},
    {"dag", "Export and import DAGs as CAR files", wr_cmd_dag},
    {"add", "Add files and folders to the store (UnixFS, kubo's CIDs)", wr_cmd_add},
    {"cat", "Print a file from the store (CID[/path], --offset, --length)", wr_cmd_cat},
    {"get", "Write a file or folder from the store to disk", wr_cmd_get},
    {"ls", "List a folder in the store", wr_cmd_ls},
    {"daemon", "Run the node: the repo, the libp2p peer and kubo's RPC API", wr_cmd_daemon},
    {"swarm", "The running node's peers: peers, connect, disconnect, addrs", wr_cmd_swarm},
    {"ping", "Ping a peer through the running node", wr_cmd_ping},
    {"resolve", "Resolve a DNSLink name (/ipns/example.com) to its /ipfs path", wr_cmd_resolve},
    {"routing", "The DHT through the running node: provide, findprovs, findpeer, get, put",
     wr_cmd_routing},
    {"key", "IPNS keys: gen, list, rm", wr_cmd_key},
    {"name", "IPNS names: publish, resolve, inspect, put, get", wr_cmd_name},
    {"publish", "Snapshot a site's folder into the store and point an IPNS name at it",
     wr_cmd_publish},
    {"tunnel", "Tunnels: create, list, delete; check ingress rules", wr_cmd_tunnel},
    {"service", "Run the connector or the edge as a systemd service", wr_cmd_service},
    {"edge", "Run an edge: connectors register, users' HTTP is routed to them", wr_cmd_edge},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f,
          "warren: your own edge. Tunnels to private origins over QUIC, and an\n"
          "IPFS-compatible content network.\n\n"
          "Usage: warren [--loglevel LEVEL] [--output text|json] COMMAND [ARGS]\n\n"
          "Commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(
      f,
      "\nGlobal flags (accepted anywhere on the line):\n"
      "  --loglevel debug|info|warn|error   how much to log (default info)\n"
      "  --output text|json                 log as console lines or JSON (default text)\n"
      "  --repo DIR                         the repo folder (default $WARREN_PATH, else "
      "~/.warren)\n"
      "  --logfile FILE                     log to FILE instead of stderr (also $TUNNEL_LOGFILE);\n"
      "                                     SIGUSR1 reopens it after an outside rotation\n"
      "  --log-max-size SIZE                rotate FILE to FILE.1 past SIZE (default 100M, 0: "
      "never)\n"
      "  --log-max-backups N                rotated files kept (default 5)\n"
      "  --offline                          content commands use the repo directly, not a\n"
      "                                     running `warren daemon` (content the repo lacks\n"
      "                                     is then not fetched from the network)\n"
      "  --timeout D                        (before the command) a daemon's command gives up\n"
      "                                     after D (30s, 2m),\n"
      "                                     for instance while it fetches from the network\n"
      "  -h, --help                         this help; `warren COMMAND --help` for a command\n");
}

/* The flags every command accepts anywhere on the line. */
enum { G_LEVEL, G_OUTPUT, G_REPO, G_LOGFILE, G_LOG_MAX_SIZE, G_LOG_BACKUPS };
static const char *const global_flags[] = {"--loglevel", "--output",       "--repo",
                                           "--logfile",  "--log-max-size", "--log-max-backups"};
#define NGLOBAL (sizeof global_flags / sizeof global_flags[0])

/* Which global flag a is (as --flag or --flag=value), or -1. *pval gets the
 * inline value, if any. */
static int global_flag(const char *a, const char **pval) {
  for (size_t g = 0; g < NGLOBAL; g++) {
    size_t n = strlen(global_flags[g]);
    if (strncmp(a, global_flags[g], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
      *pval = a[n] == '=' ? a + n + 1 : NULL;
      return (int)g;
    }
  }
  return -1;
}

/* Takes the global flags out of argv wherever they are, so every command
 * accepts them without knowing about them, and applies them. Returns the new
 * argc. */
static int take_global_flags(int argc, char **argv) {
  int out = 1;
  const char *logfile = getenv("TUNNEL_LOGFILE"); /* cloudflared's variable */
  unsigned long long log_max = 100ull << 20;
  unsigned log_backups = 5;
  int seen_command = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = NULL;
    if (strcmp(a, "--") == 0) {
      while (i < argc)
        argv[out++] = argv[i++];
      break;
    }
    if (strcmp(a, "--offline") == 0) {
      /* kubo's flag: work on the repo, not through a running daemon. */
      wr_cmd_set_offline(1);
      continue;
    }
    if (!seen_command && (strcmp(a, "--timeout") == 0 || strncmp(a, "--timeout=", 10) == 0)) {
      /* kubo's global flag: the daemon gives up on the command after D. Only
       * before the command: `diag quic`, `diag udp` and `resolve` have a
       * --timeout of their own. */
      const char *d = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
      uint64_t ns;
      if (!d || wr_duration_parse(d, &ns) != 0 || ns == 0)
        wr_cli_usage_error(NULL, "--timeout needs a duration such as 30s or 2m.");
      wr_cmd_set_timeout(d);
      continue;
    }
    int g = global_flag(a, &val);
    if (g < 0) {
      if (a[0] != '-')
        seen_command = 1;
      argv[out++] = argv[i];
      continue;
    }
    if (!val) {
      if (i + 1 >= argc)
        wr_cli_usage_error(NULL, "the flag %s needs a value.", a);
      val = argv[++i];
    }
    wr_log_level level;
    switch (g) {
    case G_REPO:
      if (!*val)
        wr_cli_usage_error(NULL, "--repo needs a folder, not an empty string.");
      wr_cmd_set_repo_flag(val);
      break;
    case G_LEVEL:
      if (wr_log_level_parse(val, &level) != 0)
        wr_cli_usage_error(NULL, "--loglevel takes debug, info, warn or error, not \"%s\".", val);
      wr_log_set_level(level);
      break;
    case G_OUTPUT:
      if (strcmp(val, "json") == 0)
        wr_log_set_json(1);
      else if (strcmp(val, "text") != 0)
        wr_cli_usage_error(NULL, "--output takes text or json, not \"%s\".", val);
      break;
    case G_LOGFILE:
      logfile = val;
      break;
    case G_LOG_MAX_SIZE:
      log_max = wr_cli_parse_size(NULL, "--log-max-size", val);
      break;
    case G_LOG_BACKUPS:
      log_backups = (unsigned)wr_cli_parse_uint(NULL, "--log-max-backups", val, 0, 100);
      break;
    }
  }
  argv[out] = NULL;
  char err[4200];
  if (logfile && *logfile && wr_log_set_file(logfile, log_max, log_backups, err, sizeof err) != 0)
    wr_cli_usage_error(NULL, "--logfile: %s.", err);
  return out;
}

int main(int argc, char **argv) {
  char **given = malloc(((size_t)argc + 1) * sizeof *given); /* argv before flags are taken */
  if (given)
    memcpy(given, argv, ((size_t)argc + 1) * sizeof *given);
  argc = take_global_flags(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "daemon") == 0 && given)
    wr_mem_tune_for_bulk(given);
  free(given);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  if (strcmp(name, "help") == 0 && argc > 2) {
    /* `warren help add` is `warren add --help`, as with git and cloudflared. */
    char *help[] = {argv[2], "--help", NULL};
    for (size_t i = 0; i < NCOMMANDS; i++)
      if (strcmp(argv[2], commands[i].name) == 0)
        return commands[i].run(2, help);
    wr_cli_usage_error(NULL, "unknown command \"%s\".", argv[2]);
  }
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(name, "--version") == 0)
    return cmd_version(0, NULL);
  for (size_t i = 0; i < NCOMMANDS; i++) {
    if (strcmp(name, commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  }
  if (name[0] == '-')
    wr_cli_usage_error(NULL, "unknown flag %s.", name);
  wr_cli_usage_error(NULL, "unknown command \"%s\".", name);
}
