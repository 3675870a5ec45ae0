/* service.c: `warren service install|uninstall [tunnel|edge]` — run warren
 * under systemd, as `cloudflared service install` does: the configuration
 * and its secrets are copied to /etc/warren, the unit that `make install`
 * would install is written with this program's path, and the service is
 * enabled and started. The units are the files in dist/systemd, built in
 * (scripts/embed-units), so the two ways of installing never drift apart. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "io/file.h"
#include "tunnel/credentials.h"
#include "tunnel/tunnel_config.h"
#include "tunnel/tunnels_file.h"
#include "units.h"

#define PATH_CAP 4096

typedef struct service_opts {
  const char *kind;        /* "tunnel" or "edge" */
  const char *config;      /* --config */
  const char *credentials; /* --credentials-file (tunnel) */
  const char *token;       /* --token (tunnel) */
  const char *tunnels;     /* --tunnels (edge) */
  const char *root;        /* --root: a folder standing for / (packaging, tests) */
  int no_start;            /* --no-start / --no-stop: leave systemctl alone */
} service_opts;

static void usage(FILE *f) {
  fprintf(f,
          "Usage: warren service install [tunnel|edge|daemon] [FLAGS]\n"
          "       warren service uninstall [tunnel|edge|daemon] [FLAGS]\n\n"
          "Runs warren as a systemd service, as `cloudflared service install`. install copies\n"
          "the configuration to /etc/warren, writes /etc/systemd/system/warren-KIND.service\n"
          "(the unit `make install` installs, with this program's path), then runs\n"
          "`systemctl daemon-reload` and `systemctl enable --now`. uninstall disables and\n"
          "stops the service and removes the unit; /etc/warren is kept.\n\n"
          "tunnel (the default: the connector, `warren tunnel run`):\n"
          "  --config FILE            config.yml (default: ~/.warren/config.yml, then\n"
          "                           /etc/warren/config.yml), checked, copied to\n"
          "                           /etc/warren/config.yml\n"
          "  --credentials-file FILE  the tunnel's credentials (default: the config's\n"
          "                           credentials-file), copied to /etc/warren/credentials.json\n"
          "  --token TOKEN            the credentials as a token (`warren tunnel token`)\n"
          "edge (`warren edge`):\n"
          "  --config FILE            edge.yml (the flags of `warren edge --help` as keys),\n"
          "                           copied to /etc/warren/edge.yml\n"
          "  --tunnels FILE           the tunnels file (default: ~/.warren/tunnels.yml), copied\n"
          "                           to /etc/warren/tunnels.yml\n"
          "daemon (`warren daemon`, the IPFS node): no files to copy; its repo is the\n"
          "  service's state folder (/var/lib/warren-node)\n"
          "All:\n"
          "  --root DIR               write under DIR instead of / (packaging, tests)\n"
          "  --no-start               write the files only; do not run systemctl\n\n"
          "Secrets (credentials, tunnels file) are written 0600 and reach the service\n"
          "through systemd credentials; the service runs as a throw-away user.\n");
}

/* ROOT + path into out. */
static void rooted(char *out, const service_opts *o, const char *path) {
  snprintf(out, PATH_CAP, "%s%s", o->root ? o->root : "", path);
}

static int make_dirs(const char *path) {
  char tmp[PATH_CAP];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Writes len bytes to ROOT+path (mode), creating its folder. 0 or 1 (told). */
static int put_file(const service_opts *o, const char *path, const void *data, size_t len,
                    mode_t mode) {
  char full[PATH_CAP], dir[PATH_CAP], why[PATH_CAP + 128];
  rooted(full, o, path);
  snprintf(dir, sizeof dir, "%s", full);
  *strrchr(dir, '/') = '\0';
  if (make_dirs(dir) != 0) {
    wr_cli_fail("service install: cannot create %s: %s.", dir, strerror(errno));
    return 1;
  }
  if (wr_file_write_atomic(full, data, len, mode, WR_FILE_REPLACE, why, sizeof why) != 0) {
    wr_cli_fail("service install: %s.", why);
    return 1;
  }
  printf("wrote %s\n", full);
  return 0;
}

/* Copies src to ROOT+dst (mode) unless they are the same file. 0 or 1. */
static int copy_file(const service_opts *o, const char *src, const char *dst, mode_t mode) {
  char full[PATH_CAP], a[PATH_MAX], b[PATH_MAX], err[PATH_CAP + 128];
  rooted(full, o, dst);
  if (realpath(src, a) && realpath(full, b) && strcmp(a, b) == 0)
    return 0; /* already in place */
  wr_buf data;
  wr_buf_init(&data, 16u << 20);
  int rc = wr_file_read_all(src, 16u << 20, &data, err, sizeof err);
  if (rc == 0)
    rc = put_file(o, dst, data.data, data.len, mode);
  else
    wr_cli_fail("service install: %s.", err);
  wr_buf_free(&data);
  return rc != 0;
}

/* Runs systemctl with args; 0 when it succeeded, else 1 (told). */
static int systemctl(const char *const *args) {
  pid_t pid = fork();
  if (pid == 0) {
    execvp("systemctl", (char *const *)args);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    wr_cli_fail("service: `systemctl %s %s` failed%s.", args[1], args[2] ? args[2] : "",
                WIFEXITED(status) && WEXITSTATUS(status) == 127 ? " (no systemctl here)" : "");
    return 1;
  }
  return 0;
}

/* The unit's text with @BINDIR@ replaced by this program's folder. */
static int unit_text(const char *name, wr_buf *out) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return WR_ERR_IO;
  exe[n] = '\0';
  *strrchr(exe, '/') = '\0';
  for (size_t i = 0; i < sizeof embedded_units / sizeof embedded_units[0]; i++) {
    if (strcmp(embedded_units[i].name, name) != 0)
      continue;
    const char *t = embedded_units[i].text, *at;
    while ((at = strstr(t, "@BINDIR@"))) {
      if (wr_buf_append(out, t, (size_t)(at - t)) != 0 || wr_buf_append(out, exe, strlen(exe)))
        return WR_ERR_NOMEM;
      t = at + 8;
    }
    return wr_buf_append(out, t, strlen(t));
  }
  return WR_ERR_NOTFOUND;
}

/* The connector's files: config.yml (checked) and credentials.json. */
static int install_tunnel_files(const service_opts *o) {
  char err[PATH_CAP + 1024], found[PATH_CAP];
  const char *config = o->config;
  if (!config && wr_tunnel_config_find_default(getenv("HOME"), found, sizeof found) == 0)
    config = found;
  if (!config) {
    wr_cli_fail("service install: no config.yml (give --config FILE, or put it at "
                "~/.warren/config.yml): the service needs the ingress rules and edges.");
    return 1;
  }
  wr_tunnel_config tc;
  wr_tunnel_config_init(&tc);
  /* The checks `tunnel run` makes: the file's url, else its ingress rules. */
  if (wr_tunnel_config_load(config, &tc, err, sizeof err) != 0 ||
      (tc.url ? wr_tunnel_config_use_url(&tc, tc.url, err, sizeof err)
              : wr_tunnel_config_validate_ingress(&tc, err, sizeof err)) != 0) {
    wr_cli_fail("service install: %s", err);
    wr_tunnel_config_free(&tc);
    return 1;
  }
  wr_credentials cred;
  const char *cred_file = o->credentials ? o->credentials : tc.credentials_file;
  int rc;
  if (o->token)
    rc = wr_credentials_from_token(o->token, strlen(o->token), &cred, err, sizeof err);
  else if (cred_file)
    rc = wr_credentials_load(cred_file, &cred, err, sizeof err);
  else {
    snprintf(err, sizeof err,
             "no credentials: give --credentials-file or --token, or set "
             "credentials-file in %s",
             config);
    rc = WR_ERR_NOTFOUND;
  }
  if (rc == 0 && tc.tunnel)
    rc = wr_credentials_check_tunnel(&cred, tc.tunnel, o->token ? "the token" : cred_file, err,
                                     sizeof err);
  wr_tunnel_config_free(&tc);
  if (rc != 0) {
    wr_cli_fail("service install: %s.", err);
    return 1;
  }
  wr_buf json;
  wr_buf_init(&json, 64 * 1024);
  rc = wr_credentials_encode(&cred, &json) != 0 ||
       put_file(o, "/etc/warren/credentials.json", json.data, json.len, 0600) ||
       copy_file(o, config, "/etc/warren/config.yml", 0644);
  wr_buf_free(&json);
  return rc;
}

/* The edge's files: edge.yml and the tunnels file (checked). */
static int install_edge_files(const service_opts *o) {
  char err[PATH_CAP + 1024], found[PATH_CAP];
  const char *tunnels = o->tunnels;
  if (!tunnels && wr_tunnels_default_path(getenv("HOME"), found, sizeof found) == 0)
    tunnels = found;
  wr_tunnels_file tf;
  wr_tunnels_init(&tf);
  int rc = tunnels ? wr_tunnels_load(tunnels, &tf, err, sizeof err) : WR_ERR_NOTFOUND;
  wr_tunnels_free(&tf);
  if (rc != 0) {
    wr_cli_fail("service install: %s.", tunnels ? err : "no tunnels file: give --tunnels FILE");
    return 1;
  }
  if (!o->config) {
    wr_cli_fail("service install: give the edge's settings with --config edge.yml (the flags "
                "of `warren edge --help` as keys: listen, http, self-signed or certificates).");
    return 1;
  }
  return copy_file(o, tunnels, "/etc/warren/tunnels.yml", 0600) ||
         copy_file(o, o->config, "/etc/warren/edge.yml", 0644);
}

static int install(const service_opts *o) {
  char unit[64], path[128];
  snprintf(unit, sizeof unit, "warren-%s.service", o->kind);
  snprintf(path, sizeof path, "/etc/systemd/system/%s", unit);
  if (!o->root && geteuid() != 0) {
    wr_cli_fail("service install: writing /etc needs root: run it with sudo.");
    return 1;
  }
  int rc = strcmp(o->kind, "edge") == 0     ? install_edge_files(o)
           : strcmp(o->kind, "daemon") == 0 ? 0
                                             : install_tunnel_files(o);
  if (rc)
    return 1;
  wr_buf text;
  wr_buf_init(&text, 64 * 1024);
  rc = unit_text(unit, &text) != 0 || put_file(o, path, text.data, text.len, 0644);
  wr_buf_free(&text);
  if (rc)
    return 1;
  if (o->no_start)
    return 0;
  const char *reload[] = {"systemctl", "daemon-reload", NULL, NULL};
  const char *enable[] = {"systemctl", "enable", "--now", unit, NULL};
  if (systemctl(reload) || systemctl(enable))
    return 1;
  printf("%s is enabled and started: `journalctl -u %s` shows its log.\n", unit, unit);
  return 0;
}

static int uninstall(const service_opts *o) {
  char unit[64], path[128], full[PATH_CAP];
  snprintf(unit, sizeof unit, "warren-%s.service", o->kind);
  snprintf(path, sizeof path, "/etc/systemd/system/%s", unit);
  rooted(full, o, path);
  if (!o->root && geteuid() != 0) {
    wr_cli_fail("service uninstall: removing from /etc needs root: run it with sudo.");
    return 1;
  }
  const char *disable[] = {"systemctl", "disable", "--now", unit, NULL};
  if (!o->no_start && systemctl(disable))
    return 1;
  if (unlink(full) != 0 && errno != ENOENT) {
    wr_cli_fail("service uninstall: cannot remove %s: %s.", full, strerror(errno));
    return 1;
  }
  printf("removed %s (the configuration in /etc/warren is kept)\n", full);
  const char *reload[] = {"systemctl", "daemon-reload", NULL, NULL};
  return !o->no_start && systemctl(reload);
}

static int run(const char *sub, int argc, char **argv, int (*fn)(const service_opts *)) {
  enum { O_CONFIG = 1000, O_CRED, O_TOKEN, O_TUNNELS, O_ROOT, O_NO_START };
  static const struct option opts[] = {{"config", required_argument, NULL, O_CONFIG},
                                       {"credentials-file", required_argument, NULL, O_CRED},
                                       {"token", required_argument, NULL, O_TOKEN},
                                       {"tunnels", required_argument, NULL, O_TUNNELS},
                                       {"root", required_argument, NULL, O_ROOT},
                                       {"no-start", no_argument, NULL, O_NO_START},
                                       {"no-stop", no_argument, NULL, O_NO_START},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  service_opts o = {.kind = "tunnel"};
  int c;
  optind = 1;
  while ((c = wr_cli_getopt(sub, argc, argv, "h", opts)) != -1) {
    switch (c) {
    case O_CONFIG:
      o.config = optarg;
      break;
    case O_CRED:
      o.credentials = optarg;
      break;
    case O_TOKEN:
      o.token = optarg;
      break;
    case O_TUNNELS:
      o.tunnels = optarg;
      break;
    case O_ROOT:
      o.root = optarg;
      break;
    case O_NO_START:
      o.no_start = 1;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      break;
    }
  }
  if (optind < argc)
    o.kind = argv[optind++];
  if (strcmp(o.kind, "tunnel") != 0 && strcmp(o.kind, "edge") != 0 &&
      strcmp(o.kind, "daemon") != 0)
    wr_cli_usage_error(sub, "the service is tunnel, edge or daemon, not \"%s\".", o.kind);
  if (optind < argc)
    wr_cli_usage_error(sub, "unexpected argument \"%s\".", argv[optind]);
  if (!o.token)
    o.token = getenv("TUNNEL_TOKEN");
  return fn(&o);
}

static int service_install(int argc, char **argv) {
  return run("service install", argc, argv, install);
}
static int service_uninstall(int argc, char **argv) {
  return run("service uninstall", argc, argv, uninstall);
}

int wr_cmd_service(int argc, char **argv) {
  static const wr_subcommand table[] = {{"install", service_install},
                                        {"uninstall", service_uninstall}};
  return wr_cli_dispatch("service", argc, argv, table, sizeof table / sizeof table[0], usage);
}
