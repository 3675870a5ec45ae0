/* tunnel.c: `warren tunnel ...` — tunnels on the edge's side (create, list,
 * delete) and the connector's ingress rules (ingress validate, ingress rule).
 *
 * As in cloudflared, the tunnel flags may come before or after the
 * subcommand (`warren tunnel --config x.yml ingress validate` and `warren
 * tunnel ingress validate --config x.yml` are the same): one getopt pass
 * over the whole line collects every flag into tunnel_opts, and what is
 * left is the subcommand and its arguments. A new subcommand (`run`) adds
 * its flags to the table and a row to `subcommands`. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/tunnel_info.h"
#include "io/file.h"
#include "io/random.h"
#include "proto/text/uuid.h"
#include "tunnel/credentials.h"
#include "tunnel/ingress.h"
#include "tunnel/tunnel_config.h"
#include "tunnel/tunnels_file.h"

#define MAX_HOSTNAME_FLAGS 256
#define MAX_EDGE_METRICS 16

typedef struct tunnel_opts {
  const char *config;
  const char *tunnels;
  const char *credentials;
  const char *hostnames[MAX_HOSTNAME_FLAGS];
  size_t nhostnames;
  const char *edge_metrics[MAX_EDGE_METRICS];
  size_t nedge_metrics;
  int help;
} tunnel_opts;

enum { OPT_CONFIG = 1000, OPT_TUNNELS, OPT_CREDENTIALS, OPT_HOSTNAME, OPT_EDGE_METRICS };

static void usage(FILE *f) {
  fprintf(f, "Usage: warren tunnel [FLAGS] COMMAND [ARGS] [FLAGS]\n\n"
             "Tunnels carry HTTP from a warren edge to private origins. Flags may come\n"
             "before or after the command, as with cloudflared.\n\n"
             "Commands:\n"
             "  run [NAME]  run the connector (`warren tunnel run --help` lists its flags)\n"
             "  create NAME --hostname HOST [--hostname HOST ...] [--tunnels TUNNELS.yml]\n"
             "              --credentials-file CRED.json\n"
             "        make a tunnel: writes the connector's credentials (mode 0600; the\n"
             "        file must not exist yet) and adds the tunnel, its id, secret and\n"
             "        hostnames to the edge's tunnels file (created 0600 if missing)\n"
             "  list [--tunnels TUNNELS.yml]\n"
             "        list the tunnels in the edge's tunnels file\n"
             "  delete NAME [--tunnels TUNNELS.yml] [--credentials-file CRED.json]\n"
             "        remove a tunnel from the tunnels file (and its credentials file,\n"
             "        when given and it belongs to that tunnel)\n"
             "  token NAME [--credentials-file CRED.json]\n"
             "        print the tunnel's token (its credentials in one line)\n"
             "  info NAME --edge-metrics ADDR:PORT\n"
             "        the tunnel's live connections, asked of each edge\n"
             "  cleanup [NAME] [--connector-id ID]\n"
             "        close the tunnel's connections at its edges, proving its secret\n"
             "        (`warren tunnel cleanup --help` lists its flags)\n"
             "  ingress validate [--config FILE]\n"
             "        check the ingress rules of a config file\n"
             "  ingress rule URL [--config FILE]\n"
             "        show which ingress rule a request URL matches\n\n"
             "Flags:\n"
             "  --config FILE            connector config (default: the first of\n"
             "                           ~/.warren/config.yml, ~/.warren/config.yaml,\n"
             "                           /etc/warren/config.yml, /etc/warren/config.yaml)\n"
             "  --tunnels FILE           the edge's tunnels file (YAML, secrets: 0600;\n"
             "                           default: ~/.warren/tunnels.yml, else\n"
             "                           /etc/warren/tunnels.yml when that exists)\n"
             "  --credentials-file FILE  the connector's credentials (JSON, 0600)\n"
             "  --hostname HOST          a hostname the tunnel serves; repeat for more;\n"
             "                           \"*.example.com\" claims every subdomain\n"
             "  -h, --help               this help\n");
}

static void parse_flags(int argc, char **argv, tunnel_opts *o) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, OPT_CONFIG},
      {"tunnels", required_argument, NULL, OPT_TUNNELS},
      {"credentials-file", required_argument, NULL, OPT_CREDENTIALS},
      {"cred-file", required_argument, NULL, OPT_CREDENTIALS}, /* cloudflared's alias */
      {"hostname", required_argument, NULL, OPT_HOSTNAME},
      {"edge-metrics", required_argument, NULL, OPT_EDGE_METRICS},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = wr_cli_getopt("tunnel", argc, argv, "h", opts)) != -1) {
    switch (c) {
    case OPT_CONFIG: o->config = optarg; break;
    case OPT_TUNNELS: o->tunnels = optarg; break;
    case OPT_CREDENTIALS: o->credentials = optarg; break;
    case OPT_HOSTNAME:
      if (o->nhostnames == MAX_HOSTNAME_FLAGS)
        wr_cli_usage_error("tunnel", "at most %d --hostname flags.", MAX_HOSTNAME_FLAGS);
      o->hostnames[o->nhostnames++] = optarg;
      break;
    case OPT_EDGE_METRICS:
      if (o->nedge_metrics == MAX_EDGE_METRICS)
        wr_cli_usage_error("tunnel", "at most %d --edge-metrics flags.", MAX_EDGE_METRICS);
      o->edge_metrics[o->nedge_metrics++] = optarg;
      break;
    case 'h': o->help = 1; break; /* which help depends on the command */
    default: break;
    }
  }
}

/* Refuses flags that the subcommand would silently ignore. */
static void only_flags(const char *sub, const tunnel_opts *o, int config, int tunnels, int creds,
                       int hosts) {
  const char *bad = !config && o->config                           ? "--config"
                    : o->nedge_metrics && strcmp(sub, "info") != 0 ? "--edge-metrics"
                    : !tunnels && o->tunnels                       ? "--tunnels"
                    : !creds && o->credentials                     ? "--credentials-file"
                    : !hosts && o->nhostnames                      ? "--hostname"
                                                                   : NULL;
  if (bad)
    wr_cli_usage_error("tunnel", "tunnel %s does not take %s.", sub, bad);
}

static void warn_if_open(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && (st.st_mode & 077))
    WR_WARN("File holds tunnel secrets but others can read it; run chmod 600",
            "path=%s mode=%03o", path, (unsigned)(st.st_mode & 0777));
}

/* Makes the folder of a tunnels file that does not exist yet (one level:
 * ~/.warren or /etc/warren), private to its owner since the file holds
 * secrets. 0, or 1 after saying why. */
static int ensure_parent_dir(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path || (size_t)(slash - path) >= sizeof dir)
    return 0;
  memcpy(dir, path, (size_t)(slash - path));
  dir[slash - path] = '\0';
  if (mkdir(dir, 0700) == 0 || errno == EEXIST)
    return 0;
  wr_cli_fail("tunnel create: cannot make the folder %s: %s.", dir, strerror(errno));
  return 1;
}

static int tunnel_create(const tunnel_opts *o, int argc, char **argv) {
  only_flags("create", o, 0, 1, 1, 1);
  if (argc != 2)
    wr_cli_usage_error("tunnel", "tunnel create takes exactly one NAME.");
  const char *name = argv[1], *why;
  if (wr_tunnel_name_check(name, &why) != 0)
    wr_cli_usage_error("tunnel", "\"%s\" is not a valid tunnel name: %s.", name, why);
  if (!o->nhostnames)
    wr_cli_usage_error("tunnel", "tunnel create needs at least one --hostname HOST.");
  if (!o->tunnels)
    wr_cli_usage_error("tunnel", "tunnel create needs --tunnels FILE (no HOME to find one in).");
  if (!o->credentials)
    wr_cli_usage_error("tunnel", "tunnel create needs --credentials-file FILE.");
  char err[512];
  int ret = 1, lock = -1, cred_written = 0;
  wr_tunnels_file tf;
  wr_tunnels_init(&tf);
  wr_credentials cred;
  memset(&cred, 0, sizeof cred);
  if (wr_file_exists(o->credentials)) {
    wr_cli_fail("tunnel create: %s already exists; refusing to overwrite another tunnel's "
                "credentials (choose another --credentials-file).", o->credentials);
    goto out;
  }
  if (ensure_parent_dir(o->tunnels) != 0)
    goto out;
  /* The lock makes load-add-save one step against another `tunnel create`. */
  if ((lock = wr_file_lock(o->tunnels, err, sizeof err)) < 0) {
    wr_cli_fail("tunnel create: %s.", err);
    goto out;
  }
  int rv = wr_tunnels_load(o->tunnels, &tf, err, sizeof err);
  if (rv && rv != WR_ERR_NOTFOUND) {
    wr_cli_fail("tunnel create: %s.", err);
    goto out;
  }
  if (rv == 0)
    warn_if_open(o->tunnels);
  if (wr_random_uuid(cred.tunnel_id) != 0 ||
      wr_random_bytes(cred.secret, WR_TUNNEL_SECRET_LEN) != 0) {
    wr_cli_fail("tunnel create: no source of random bytes.");
    goto out;
  }
  cred.secret_len = WR_TUNNEL_SECRET_LEN;
  snprintf(cred.tunnel_name, sizeof cred.tunnel_name, "%s", name);
  if (wr_tunnels_add(&tf, cred.tunnel_id, name, cred.secret, cred.secret_len, o->hostnames,
                     o->nhostnames, err, sizeof err) != 0) {
    wr_cli_fail("tunnel create: %s in %s.", err, o->tunnels);
    goto out;
  }
  if (wr_credentials_save(o->credentials, &cred, err, sizeof err) != 0) {
    wr_cli_fail("tunnel create: %s.", err);
    goto out;
  }
  cred_written = 1;
  if (wr_tunnels_save(o->tunnels, &tf, err, sizeof err) != 0) {
    wr_cli_fail("tunnel create: %s.", err);
    goto out;
  }
  char id[WR_UUID_STR_LEN + 1];
  wr_uuid_format(cred.tunnel_id, id);
  printf("Tunnel credentials written to %s. Keep this file secret. To revoke these credentials, "
         "delete the tunnel.\n\nCreated tunnel %s with id %s\n",
         o->credentials, name, id);
  ret = 0;
out:
  if (ret && cred_written)
    unlink(o->credentials); /* the tunnels file did not take it: leave nothing half-made */
  explicit_bzero(&cred, sizeof cred);
  wr_tunnels_free(&tf);
  wr_file_unlock(lock);
  return ret;
}

static int tunnel_list(const tunnel_opts *o, int argc, char **argv) {
  (void)argv;
  only_flags("list", o, 0, 1, 0, 0);
  if (argc != 1)
    wr_cli_usage_error("tunnel", "tunnel list takes no arguments.");
  if (!o->tunnels)
    wr_cli_usage_error("tunnel", "tunnel list needs --tunnels FILE (no HOME to find one in).");
  char err[512];
  wr_tunnels_file tf;
  wr_tunnels_init(&tf);
  int rv = wr_tunnels_load(o->tunnels, &tf, err, sizeof err);
  if (rv) {
    wr_cli_fail("tunnel list: %s.", err);
    return 1;
  }
  warn_if_open(o->tunnels);
  if (tf.n == 0) {
    printf("No tunnels were found in %s. You can use 'warren tunnel create' to create a tunnel.\n",
           o->tunnels);
  } else {
    printf("%-36s %-20s %s\n", "ID", "NAME", "HOSTNAMES");
    for (size_t i = 0; i < tf.n; i++) {
      char id[WR_UUID_STR_LEN + 1];
      wr_uuid_format(tf.tunnels[i].id, id);
      printf("%-36s %-20s ", id, tf.tunnels[i].name);
      for (size_t j = 0; j < tf.tunnels[i].nhostnames; j++)
        printf("%s%s", j ? "," : "", tf.tunnels[i].hostnames[j]);
      printf("\n");
    }
  }
  wr_tunnels_free(&tf);
  return 0;
}

static int tunnel_delete(const tunnel_opts *o, int argc, char **argv) {
  only_flags("delete", o, 0, 1, 1, 0);
  if (argc != 2)
    wr_cli_usage_error("tunnel", "tunnel delete takes exactly one NAME.");
  if (!o->tunnels)
    wr_cli_usage_error("tunnel", "tunnel delete needs --tunnels FILE (no HOME to find one in).");
  const char *name = argv[1];
  char err[512];
  int ret = 1;
  wr_tunnels_file tf;
  wr_tunnels_init(&tf);
  int lock = wr_file_lock(o->tunnels, err, sizeof err);
  if (lock < 0) {
    wr_cli_fail("tunnel delete: %s.", err);
    return 1;
  }
  if (wr_tunnels_load(o->tunnels, &tf, err, sizeof err) != 0) {
    wr_cli_fail("tunnel delete: %s.", err);
    goto out;
  }
  const wr_tunnel_entry *e = wr_tunnels_find_name(&tf, name);
  if (!e) {
    wr_cli_fail("tunnel delete: there is no tunnel named \"%s\" in %s.", name, o->tunnels);
    goto out;
  }
  uint8_t id[16];
  memcpy(id, e->id, 16);
  wr_credentials cred;
  if (o->credentials) {
    /* Check before changing anything, so a wrong file stops the delete. */
    if (wr_credentials_load(o->credentials, &cred, err, sizeof err) != 0) {
      wr_cli_fail("tunnel delete: %s.", err);
      goto out;
    }
    int same = memcmp(cred.tunnel_id, id, 16) == 0;
    explicit_bzero(&cred, sizeof cred);
    if (!same) {
      wr_cli_fail("tunnel delete: %s holds the credentials of another tunnel; nothing was deleted.",
                  o->credentials);
      goto out;
    }
  }
  if (wr_tunnels_remove(&tf, name) != 0 || wr_tunnels_save(o->tunnels, &tf, err, sizeof err) != 0) {
    wr_cli_fail("tunnel delete: %s.", err);
    goto out;
  }
  if (o->credentials && unlink(o->credentials) != 0)
    WR_WARN("Cannot remove the credentials file", "path=%s error=\"%s\"", o->credentials,
            strerror(errno));
  char s[WR_UUID_STR_LEN + 1];
  wr_uuid_format(id, s);
  printf("Deleted tunnel %s with id %s\n", name, s);
  ret = 0;
out:
  wr_tunnels_free(&tf);
  wr_file_unlock(lock);
  return ret;
}

/* Loads --config or the first default; prints cloudflared's sentence when
 * there is none. Returns 0 or 1 (the failure was printed). */
static int load_config(const tunnel_opts *o, wr_tunnel_config *cfg, const char *what) {
  char path[4096], err[768];
  const char *p = o->config;
  if (!p) {
    if (wr_tunnel_config_find_default(getenv("HOME"), path, sizeof path) != 0) {
      wr_cli_fail("No configuration file was found. Please create one, or use the --config flag "
                  "to specify its filepath (searched ~/.warren/config.yml, "
                  "~/.warren/config.yaml, /etc/warren/config.yml, /etc/warren/config.yaml).");
      return 1;
    }
    p = path;
  }
  printf("%s %s\n", what, p);
  fflush(stdout);
  int rv = wr_tunnel_config_load(p, cfg, err, sizeof err);
  if (rv) {
    wr_cli_fail("Validation failed: %s", err);
    return 1;
  }
  return 0;
}

static int ingress_validate(const tunnel_opts *o, int argc, char **argv) {
  (void)argv;
  only_flags("ingress validate", o, 1, 0, 0, 0);
  if (argc != 1)
    wr_cli_usage_error("tunnel", "tunnel ingress validate takes no arguments.");
  wr_tunnel_config cfg;
  wr_tunnel_config_init(&cfg);
  int ret = load_config(o, &cfg, "Validating rules from");
  char err[768];
  if (!ret && cfg.url && cfg.ingress.n) {
    wr_cli_fail("You can't set the --url flag (or $TUNNEL_URL) when using multiple-origin "
                "ingress rules");
    ret = 1;
  }
  if (!ret && wr_tunnel_config_validate_ingress(&cfg, err, sizeof err) != 0) {
    wr_cli_fail("Validation failed: %s", err);
    ret = 1;
  }
  if (!ret) {
    if (cfg.warnings.len) {
      printf("Warning: unused keys detected in your config file. Here is a list of unused keys:\n"
             "%.*s", (int)cfg.warnings.len, (const char *)cfg.warnings.data);
      if (cfg.warnings_dropped)
        printf("(and %zu more)\n", cfg.warnings_dropped);
    } else {
      printf("OK\n"); /* as cloudflared: the warning list stands instead of "OK" */
    }
  }
  wr_tunnel_config_free(&cfg);
  return ret;
}

/* RFC 3986's scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); Go's
 * url.Parse refuses a URL whose scheme is anything else ("ht tp://x"). */
static int url_scheme_ok(const char *s, size_t n) {
  if (!isalpha((unsigned char)s[0]))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("+-.", s[i]))
      return 0;
  return 1;
}

/* The authority (up to / ? #): no spaces, controls or characters Go refuses
 * in a host name, and a port of digits only. */
static int url_authority_ok(const char *a) {
  size_t n = strcspn(a, "/?#");
  const char *at = memchr(a, '@', n);
  if (at) {
    n -= (size_t)(at + 1 - a);
    a = at + 1;
  }
  const char *port = NULL;
  if (n && a[0] == '[') {
    const char *rb = memchr(a, ']', n);
    if (!rb)
      return 0;
    if ((size_t)(rb + 1 - a) < n)
      port = rb[1] == ':' ? rb + 2 : a + n + 1; /* anything else after ']' is refused */
  } else {
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)a[i] <= ' ' || a[i] == 0x7f || strchr("<>\"{}|\\^`[]", a[i]))
        return 0;
    const char *colon = memchr(a, ':', n);
    if (colon)
      port = colon + 1;
  }
  if (!port)
    return 1;
  if (port > a + n)
    return 0;
  for (const char *p = port; p < a + n; p++)
    if (!isdigit((unsigned char)*p))
      return 0;
  return 1;
}

/* Splits an absolute URL into host (with any port) and path. Returns 0, or
 * prints cloudflared's complaint and returns 1. */
static int split_url(const char *url, char *host, size_t hostcap, char *path, size_t pathcap) {
  const char *sep = strstr(url, "://");
  if (!sep || sep == url || strcspn(url, "/?#") < (size_t)(sep - url)) {
    wr_cli_fail("%s doesn't have a hostname, consider adding a scheme", url);
    return 1;
  }
  if (!url_scheme_ok(url, (size_t)(sep - url)) || !url_authority_ok(sep + 3)) {
    wr_cli_fail("%s is not a valid URL", url);
    return 1;
  }
  const char *auth = sep + 3, *aend = auth + strcspn(auth, "/?#");
  const char *at = memchr(auth, '@', (size_t)(aend - auth));
  if (at)
    auth = at + 1;
  if (aend == auth || (size_t)(aend - auth) >= hostcap) {
    wr_cli_fail("%s is not a valid URL", url);
    return 1;
  }
  memcpy(host, auth, (size_t)(aend - auth));
  host[aend - auth] = '\0';
  size_t plen = *aend == '/' ? strcspn(aend, "?#") : 0;
  if (plen >= pathcap) {
    wr_cli_fail("%s is not a valid URL", url);
    return 1;
  }
  memcpy(path, aend, plen);
  path[plen] = '\0';
  return 0;
}

static int ingress_rule(const tunnel_opts *o, int argc, char **argv) {
  only_flags("ingress rule", o, 1, 0, 0, 0);
  if (argc != 2)
    wr_cli_usage_error("tunnel", "warren tunnel ingress rule expects a single argument, the URL to test.");
  static char host[4096], path[65536];
  if (split_url(argv[1], host, sizeof host, path, sizeof path) != 0)
    return 1;
  wr_tunnel_config cfg;
  wr_tunnel_config_init(&cfg);
  int ret = load_config(o, &cfg, "Using rules from");
  char err[768];
  if (!ret && wr_tunnel_config_validate_ingress(&cfg, err, sizeof err) != 0) {
    wr_cli_fail("Validation failed: %s", err);
    ret = 1;
  }
  if (!ret) {
    long i = wr_ingress_match(&cfg.ingress, host, strlen(host), path);
    wr_buf b;
    wr_buf_init(&b, 1 << 20);
    if (wr_ingress_rule_describe(&cfg.ingress.rules[i], &b) != 0) {
      wr_cli_fail("out of memory");
      ret = 1;
    } else {
      /* Numbered from 0, as cloudflared prints it. */
      printf("Matched rule #%ld\n%.*s", i, (int)b.len, (const char *)b.data);
    }
    wr_buf_free(&b);
  }
  wr_tunnel_config_free(&cfg);
  return ret;
}

static int tunnel_ingress(const tunnel_opts *o, int argc, char **argv) {
  if (argc < 2)
    wr_cli_usage_error("tunnel", "tunnel ingress needs a command: validate or rule URL.");
  if (strcmp(argv[1], "validate") == 0)
    return ingress_validate(o, argc - 1, argv + 1);
  if (strcmp(argv[1], "rule") == 0)
    return ingress_rule(o, argc - 1, argv + 1);
  wr_cli_usage_error("tunnel", "unknown command \"tunnel ingress %s\" (validate or rule URL).",
                     argv[1]);
}

/* `tunnel token NAME`: the tunnel's credentials as cloudflared's token, for
 * `tunnel run --token`; with --credentials-file, written as a credentials
 * file instead (one more way to get back a lost one). */
/* `tunnel info NAME`: the edges to ask come from --edge-metrics, else
 * $TUNNEL_EDGE_METRICS (commas between addresses). */
static int tunnel_info(const tunnel_opts *o, int argc, char **argv) {
  only_flags("info", o, 0, 1, 0, 0);
  if (argc != 2)
    wr_cli_usage_error("tunnel", "tunnel info takes one tunnel name or id.");
  const char *edges[MAX_EDGE_METRICS];
  size_t n = o->nedge_metrics;
  memcpy(edges, o->edge_metrics, n * sizeof *edges);
  static char env[4096];
  const char *e = getenv("TUNNEL_EDGE_METRICS");
  if (n == 0 && e && *e && strlen(e) < sizeof env) {
    strcpy(env, e);
    for (char *save = NULL, *tok = strtok_r(env, ",", &save); tok && n < MAX_EDGE_METRICS;
         tok = strtok_r(NULL, ",", &save))
      edges[n++] = tok;
  }
  if (n == 0)
    wr_cli_usage_error("tunnel", "tunnel info needs the edges' metrics addresses: "
                                 "--edge-metrics ADDR:PORT (repeat for several edges).");
  return wr_tunnel_info(argv[1], edges, n);
}

static int tunnel_token(const tunnel_opts *o, int argc, char **argv) {
  only_flags("token", o, 0, 1, 1, 0);
  if (argc != 2)
    wr_cli_usage_error("tunnel", "tunnel token takes exactly one NAME.");
  if (!o->tunnels)
    wr_cli_usage_error("tunnel", "tunnel token needs --tunnels FILE (no HOME to find one in).");
  char err[512];
  int ret = 1;
  wr_tunnels_file tf;
  wr_tunnels_init(&tf);
  wr_credentials cred;
  memset(&cred, 0, sizeof cred);
  wr_buf b;
  wr_buf_init(&b, WR_TUNNEL_TOKEN_MAX);
  if (wr_tunnels_load(o->tunnels, &tf, err, sizeof err) != 0) {
    wr_cli_fail("tunnel token: %s.", err);
    goto out;
  }
  const wr_tunnel_entry *e = wr_tunnels_find_name(&tf, argv[1]);
  if (!e) {
    wr_cli_fail("tunnel token: there is no tunnel named \"%s\" in %s.", argv[1], o->tunnels);
    goto out;
  }
  memcpy(cred.tunnel_id, e->id, sizeof cred.tunnel_id);
  memcpy(cred.secret, e->secret, e->secret_len);
  cred.secret_len = e->secret_len;
  snprintf(cred.tunnel_name, sizeof cred.tunnel_name, "%s", e->name);
  if (o->credentials) {
    if (wr_credentials_save(o->credentials, &cred, err, sizeof err) != 0) {
      wr_cli_fail("tunnel token: %s.", err);
      goto out;
    }
    printf("Tunnel credentials written to %s. Keep this file secret.\n", o->credentials);
  } else if (wr_credentials_token(&cred, &b) != 0) {
    wr_cli_fail("tunnel token: out of memory.");
    goto out;
  } else {
    printf("%.*s\n", (int)b.len, (const char *)b.data);
  }
  ret = 0;
out:
  explicit_bzero(&cred, sizeof cred);
  if (b.data)
    explicit_bzero(b.data, b.cap);
  wr_buf_free(&b);
  wr_tunnels_free(&tf);
  return ret;
}

static const struct {
  const char *name;
  int (*run)(const tunnel_opts *o, int argc, char **argv);
  const char *help; /* what `warren tunnel NAME --help` prints */
} subcommands[] = {
    {"create", tunnel_create,
     "Usage: warren tunnel create NAME --hostname HOST [--hostname HOST ...]\n"
     "                            --tunnels TUNNELS.yml --credentials-file CRED.json\n\n"
     "Makes a tunnel on the edge's side: a new id and secret, the hostnames it serves\n"
     "(a hostname belongs to one tunnel; \"*.example.com\" claims every subdomain), added\n"
     "to the tunnels file (created mode 0600 if missing), and the connector's\n"
     "credentials written to CRED.json (mode 0600; it must not exist yet). Copy\n"
     "CRED.json to the connector's machine for `warren tunnel run`.\n\n"
     "  --hostname HOST          a hostname the tunnel serves; repeat for more\n"
     "  --tunnels FILE           the edge's tunnels file\n"
     "  --credentials-file FILE  where to write the connector's credentials\n\n"
     "Example:\n"
     "  warren tunnel create web --hostname app.example.com \\\n"
     "      --tunnels /etc/warren/tunnels.yml --credentials-file web.json\n"},
    {"list", tunnel_list,
     "Usage: warren tunnel list --tunnels TUNNELS.yml\n\n"
     "Lists the tunnels in the edge's tunnels file: id, name and hostnames.\n\n"
     "  --tunnels FILE           the edge's tunnels file\n"},
    {"delete", tunnel_delete,
     "Usage: warren tunnel delete NAME --tunnels TUNNELS.yml [--credentials-file CRED.json]\n\n"
     "Removes a tunnel (by name or id) from the edge's tunnels file. With\n"
     "--credentials-file, also deletes that credentials file when it belongs to the\n"
     "tunnel (another tunnel's credentials are left alone).\n\n"
     "  --tunnels FILE           the edge's tunnels file\n"
     "  --credentials-file FILE  the tunnel's credentials, to delete as well\n"},
    {"token", tunnel_token,
     "Usage: warren tunnel token NAME [--tunnels TUNNELS.yml] [--credentials-file CRED.json]\n\n"
     "Prints the tunnel's token: its credentials in one line, as cloudflared's\n"
     "`tunnel token` (base64 of {\"a\",\"s\",\"t\"}), for `warren tunnel run --token`\n"
     "or $TUNNEL_TOKEN. It is a secret. With --credentials-file, writes a credentials\n"
     "file instead (mode 0600; the file must not exist yet).\n\n"
     "  --tunnels FILE           the edge's tunnels file\n"
     "  --credentials-file FILE  write the credentials here instead of printing\n"},
    {"info", tunnel_info,
     "Usage: warren tunnel info NAME --edge-metrics ADDR:PORT [--edge-metrics ...]\n\n"
     "Shows a tunnel's live connections, as cloudflared's `tunnel info`: per connector,\n"
     "since when it is connected, its address as the edge sees it, and how many\n"
     "connections it holds to each edge, by protocol. Each edge serves this at\n"
     "/tunnels on its --metrics address; give every edge's (or $TUNNEL_EDGE_METRICS,\n"
     "commas between them).\n\n"
     "  --edge-metrics ADDR:PORT an edge's --metrics address\n"},
    {"ingress", tunnel_ingress,
     "Usage: warren tunnel ingress validate [--config FILE]\n"
     "       warren tunnel ingress rule URL [--config FILE]\n\n"
     "Checks a connector's ingress rules, as cloudflared's commands of the same names:\n"
     "  validate    parses the config's rules and prints OK (or the unused keys), or\n"
     "              says what is wrong with its line and column\n"
     "  rule URL    prints which rule (counted from 0) a request for URL reaches\n\n"
     "  --config FILE            connector config (default: the first of\n"
     "                           ~/.warren/config.yml, ~/.warren/config.yaml,\n"
     "                           /etc/warren/config.yml, /etc/warren/config.yaml)\n\n"
     "Example:\n"
     "  warren tunnel ingress rule https://app.example.com/api/ --config config.yml\n"},
};

/* The line's subcommand: the first word that is neither a flag nor a flag's
 * value, or NULL. Every tunnel flag takes a value unless it is written
 * --flag=value or is --help or --no-gso (run's only switch). */
static const char *subcommand_of(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-')
      return a;
    if (strcmp(a, "--") == 0)
      return i + 1 < argc ? argv[i + 1] : NULL;
    if (!strchr(a, '=') && strcmp(a, "--help") != 0 && strcmp(a, "-h") != 0 &&
        strcmp(a, "--no-gso") != 0)
      i++;
  }
  return NULL;
}

int wr_cmd_tunnel(int argc, char **argv) {
  /* run and cleanup have flags of their own (the connector's: both dial the
   * edges): they parse the whole line. */
  const char *sub = subcommand_of(argc, argv);
  if (sub && strcmp(sub, "run") == 0)
    return wr_cmd_tunnel_run(argc, argv);
  if (sub && strcmp(sub, "cleanup") == 0)
    return wr_cmd_tunnel_cleanup(argc, argv);
  tunnel_opts o;
  memset(&o, 0, sizeof o);
  parse_flags(argc, argv, &o);
  /* getopt moved every non-flag to the end: argv[optind] is the command. */
  int rest = argc - optind;
  char **args = argv + optind;
  if (rest < 1) {
    usage(o.help ? stdout : stderr);
    return o.help ? 0 : 2;
  }
  for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
    if (strcmp(args[0], subcommands[i].name) != 0)
      continue;
    static char tunnels[4096];
    if (!o.tunnels && strcmp(args[0], "ingress") != 0 &&
        wr_tunnels_default_path(getenv("HOME"), tunnels, sizeof tunnels) == 0)
      o.tunnels = tunnels;
    if (o.help) {
      fputs(subcommands[i].help, stdout);
      return 0;
    }
    return subcommands[i].run(&o, rest, args);
  }
  wr_cli_usage_error("tunnel", "unknown command \"tunnel %s\".", args[0]);
}
