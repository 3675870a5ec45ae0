/* name.c: `warren name publish|resolve|inspect|put|get` — IPNS names, as
 * kubo's `ipfs name`. Records live in the repo (src/content/names.h); the
 * DHT, when it lands, carries them between nodes. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/keyload.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "content/names.h"
#include "io/file.h"
#include "proto/multiformats/multibase.h"
#include "proto/text/base64.h"
#include "proto/text/json.h"
#include "proto/text/yamldoc.h"
#include "store/repo.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: warren [--repo DIR] name COMMAND\n\n"
             "IPNS names: a key's name (k51...) points at a path and can be moved.\n\n"
             "Commands:\n"
             "  publish [--key NAME] [--lifetime 48h] [--ttl 1h] [--allow-offline] PATH\n"
             "      sign a record (V1 and V2 signatures) that points the key's name (default\n"
             "      self) at PATH (/ipfs/CID[/path], /ipns/NAME or a CID) and keep it in the\n"
             "      repo; the sequence number goes up when the value changes. Without a\n"
             "      network to publish to, --allow-offline is required (as in kubo).\n"
             "  resolve [-r=BOOL] [--record FILE] [NAME[/path]]\n"
             "      the path NAME (default self) points to, from the repo's records; with\n"
             "      --record, from that record file instead (validated against NAME).\n"
             "  inspect [--verify NAME] FILE|-\n"
             "      print a record's fields; with --verify, whether it is valid for NAME.\n"
             "  put NAME FILE|-     validate a record of NAME and keep it if it is newer\n"
             "  get NAME            write NAME's stored record to stdout\n");
}

static int64_t wall_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int repo_path(const char *cmd, char *path, size_t cap) {
  if (wr_cmd_repo_path(path, cap) != 0)
    return -1;
  int created = 0, rv = wr_repo_init(path, &created);
  if (rv != 0) {
    wr_cli_fail("%s: cannot create the repo %s: %s.", cmd, path, wr_strerror(rv));
    return -1;
  }
  return 0;
}

static uint64_t parse_duration(const char *cmd, const char *flag, const char *v) {
  uint64_t ns;
  if (wr_duration_parse(v, &ns) != 0)
    wr_cli_usage_error(cmd, "%s wants a duration such as 48h or 30m, not \"%s\".", flag, v);
  return ns;
}

/* Reads a record from FILE or "-" (stdin) into b. */
static int read_record(const char *cmd, const char *file, wr_buf *b) {
  char err[512];
  if (strcmp(file, "-") == 0) {
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
      if (b->len + n > WR_IPNS_MAX_RECORD + 1) {
        n = WR_IPNS_MAX_RECORD + 1 - b->len;
        if (wr_buf_append(b, chunk, n) != 0)
          return -1;
        break;
      }
      if (wr_buf_append(b, chunk, n) != 0)
        return -1;
    }
    return 0;
  }
  /* One byte more than allowed, so an oversize record reaches the decoder
   * and is refused for its size. */
  int rv = wr_file_read_all(file, WR_IPNS_MAX_RECORD + 1, b, err, sizeof err);
  if (rv == WR_ERR_LIMIT) {
    wr_cli_fail("%s: %s is larger than 10 KiB, the limit of an IPNS record.", cmd, file);
    return -1;
  }
  if (rv != 0) {
    wr_cli_fail("%s: %s.", cmd, err);
    return -1;
  }
  return 0;
}

static int parse_name(const char *cmd, const char *s, wr_peerid *id) {
  const char *why = NULL;
  const char *key = strncmp(s, "/ipns/", 6) == 0 ? s + 6 : s;
  const char *slash = strchr(key, '/');
  if (wr_ipns_name_parse(key, slash ? (size_t)(slash - key) : strlen(key), id, &why) != 0) {
    wr_cli_fail("%s: \"%s\" is not an IPNS name: %s.", cmd, s, why);
    return -1;
  }
  return 0;
}

/* NAME as a key name in the repo's keystore, "self", or an IPNS name. */
static int name_or_key(const char *cmd, const char *repo, const char *s, wr_peerid *id) {
  wr_p2p_privkey sk;
  char err[512];
  if (strchr(s, '/') == NULL && wr_cmd_key_load(repo, s, &sk, err, sizeof err) == 0) {
    wr_p2p_pubkey pk;
    wr_p2p_privkey_public(&sk, &pk);
    wr_peerid_from_pubkey(id, &pk);
    memset(&sk, 0, sizeof sk);
    return 0;
  }
  return parse_name(cmd, s, id);
}

static int name_publish(int argc, char **argv) {
  enum { O_KEY = 256, O_LIFETIME, O_TTL, O_OFFLINE, O_QUIETER };
  static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                       {"lifetime", required_argument, NULL, 't'},
                                       {"ttl", required_argument, NULL, O_TTL},
                                       {"allow-offline", no_argument, NULL, O_OFFLINE},
                                       {"quieter", no_argument, NULL, 'Q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  const char *keyname = "self";
  uint64_t lifetime = 48 * 3600 * UINT64_C(1000000000), ttl = 3600 * UINT64_C(1000000000);
  int c, offline = 0, quieter = 0;
  while ((c = wr_cli_getopt("name publish", argc, argv, "k:t:Qh", opts)) != -1) {
    switch (c) {
    case 'k':
      keyname = optarg;
      break;
    case 't':
      lifetime = parse_duration("name publish", "--lifetime", optarg);
      break;
    case O_TTL:
      ttl = parse_duration("name publish", "--ttl", optarg);
      break;
    case O_OFFLINE:
      offline = 1;
      break;
    case 'Q':
      quieter = 1;
      break;
    default:
      usage(stdout);
      return 0;
    }
  }
  if (argc - optind != 1)
    wr_cli_usage_error("name publish", "name publish takes one PATH.");
  if (lifetime == 0 || lifetime > (uint64_t)INT64_MAX / 2)
    wr_cli_usage_error("name publish", "--lifetime must be positive and at most about 146 years.");
  wr_addr api;
  int d = wr_cmd_find_daemon("name publish", &api);
  if (d < 0)
    return 1;
  if (d == 1) {
    /* The daemon signs with the same repo's keys and keeps the record. */
    char got[WR_PEERID_MAX_STR];
    char v[WR_NAMES_PATH_MAX];
    snprintf(v, sizeof v, "%s%s", argv[optind][0] == '/' ? "" : "/ipfs/", argv[optind]);
    if (wr_cmd_remote_name_publish("name publish", &api, v, keyname, lifetime, ttl, got,
                                   sizeof got) != 0)
      return 1;
    if (quieter)
      printf("%s\n", got);
    else
      printf("Published to %s: %s\n", got, v);
    return 0;
  }
  if (!offline) {
    wr_cli_fail("name publish: records reach the network (the DHT) through the running node: "
                "start `warren daemon`, or pass --allow-offline to keep the record in the repo "
                "only.");
    return 1;
  }
  /* A bare CID means /ipfs/CID, as in kubo. */
  char value[WR_NAMES_PATH_MAX];
  const char *arg = argv[optind];
  snprintf(value, sizeof value, "%s%s", arg[0] == '/' ? "" : "/ipfs/", arg);
  if (strncmp(value, "/ipfs/", 6) == 0) {
    wr_cid cid;
    const char *p = value + 6, *slash = strchr(p, '/');
    char cidtext[WR_NAMES_PATH_MAX];
    snprintf(cidtext, sizeof cidtext, "%.*s", slash ? (int)(slash - p) : (int)strlen(p), p);
    if (wr_cmd_parse_cid("name publish", cidtext, &cid) != 0)
      return 1;
  }
  char repo[WR_REPO_PATH_MAX], err[512], name[WR_PEERID_MAX_STR];
  if (repo_path("name publish", repo, sizeof repo) != 0)
    return 1;
  wr_p2p_privkey sk;
  if (wr_cmd_key_load(repo, keyname, &sk, err, sizeof err) != 0) {
    wr_cli_fail("name publish: %s.", err);
    return 1;
  }
  uint64_t seq = 0;
  int rv = wr_names_publish(repo, &sk, value, (int64_t)lifetime, ttl, wall_now_ns(), &seq, NULL,
                            err, sizeof err);
  wr_cmd_key_name(&sk, name);
  memset(&sk, 0, sizeof sk);
  if (rv != 0) {
    wr_cli_fail("name publish: %s.", err);
    return 1;
  }
  if (quieter)
    printf("%s\n", name);
  else
    printf("Published to %s: %s\n", name, value);
  return 0;
}

/* A DNSLink name, through `warren resolve` (its loop and c-ares). */
static int dnslink(const char *path, int recursive, const char *server) {
  char *argv[6];
  int argc = 0;
  argv[argc++] = (char *)"resolve";
  argv[argc++] = (char *)(recursive ? "--recursive=true" : "--recursive=false");
  if (server) {
    argv[argc++] = (char *)"--dns-resolver";
    argv[argc++] = (char *)server;
  }
  argv[argc++] = (char *)path;
  argv[argc] = NULL;
  optind = 1;
  return wr_cmd_resolve(argc, argv);
}

static int name_resolve(int argc, char **argv) {
  enum { O_RECORD = 256, O_DNS };
  static const struct option opts[] = {{"recursive", optional_argument, NULL, 'r'},
                                       {"record", required_argument, NULL, O_RECORD},
                                       {"dns-resolver", required_argument, NULL, O_DNS},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  int c, recursive = 1;
  const char *record = NULL, *dns_server = NULL;
  while ((c = wr_cli_getopt("name resolve", argc, argv, "r::h", opts)) != -1) {
    switch (c) {
    case 'r':
      recursive = optarg ? wr_cli_parse_bool("name resolve", "--recursive",
                                             optarg[0] == '=' ? optarg + 1 : optarg)
                         : 1;
      break;
    case O_RECORD:
      record = optarg;
      break;
    case O_DNS:
      dns_server = optarg;
      break;
    default:
      usage(stdout);
      return 0;
    }
  }
  if (argc - optind > 1)
    wr_cli_usage_error("name resolve", "name resolve takes at most one NAME.");
  char repo[WR_REPO_PATH_MAX], err[1024], out[WR_NAMES_PATH_MAX], name[WR_NAMES_PATH_MAX];
  if (repo_path("name resolve", repo, sizeof repo) != 0)
    return 1;
  const char *arg = optind < argc ? argv[optind] : "self";
  const char *rest = "";
  wr_p2p_privkey probe;
  if (strchr(arg, '/') == NULL && strchr(arg, '.') &&
      wr_cmd_key_load(repo, arg, &probe, err, sizeof err) != 0) {
    snprintf(name, sizeof name, "%s", arg); /* a DNSLink domain, below */
  } else if (strchr(arg, '/') == NULL) {
    /* A key name of this repo ("self", "mykey") or a bare IPNS name. */
    wr_peerid id;
    if (name_or_key("name resolve", repo, arg, &id) != 0)
      return 1;
    if (wr_peerid_format_cid(&id, WR_MB_BASE36, name, sizeof name) < 0)
      return 1;
  } else {
    const char *k = strncmp(arg, "/ipns/", 6) == 0 ? arg + 6 : arg;
    const char *slash = strchr(k, '/');
    snprintf(name, sizeof name, "%.*s", slash ? (int)(slash - k) : (int)strlen(k), k);
    rest = slash ? slash : "";
  }
  if (record) {
    wr_buf b;
    wr_buf_init(&b, WR_IPNS_MAX_RECORD + 1);
    wr_peerid id;
    wr_ipns_record r;
    const char *why = NULL;
    int status = 1;
    if (parse_name("name resolve", name, &id) != 0 || read_record("name resolve", record, &b) != 0)
      goto done;
    if (wr_ipns_validate(b.data, b.len, &id, wall_now_ns(), &r, &why) != 0) {
      wr_cli_fail("name resolve: the record in %s is refused: %s.", record, why);
      goto done;
    }
    printf("%.*s%s\n", (int)r.value_len, (const char *)r.value, rest);
    status = 0;
  done:
    wr_buf_free(&b);
    return status;
  }
  memset(&probe, 0, sizeof probe);
  char full[2 * WR_NAMES_PATH_MAX];
  snprintf(full, sizeof full, "/ipns/%s%s", name, rest);
  wr_peerid id;
  if (strchr(name, '.') && wr_ipns_name_parse(name, strlen(name), &id, NULL) != 0)
    return dnslink(full, recursive, dns_server); /* a DNSLink domain */
  wr_addr api;
  int d = wr_cmd_find_daemon("name resolve", &api);
  if (d < 0)
    return 1;
  if (d == 1) {
    wr_buf t;
    wr_buf_init(&t, 4 * WR_NAMES_PATH_MAX);
    int rv = wr_buf_puts(&t, "/api/v0/name/resolve");
    if (!rv)
      rv = wr_cmd_query_add(&t, "arg", full);
    if (!rv)
      rv = wr_cmd_query_add(&t, "recursive", recursive ? "true" : "false");
    if (!rv)
      rv = wr_buf_append(&t, "", 1); /* the target is a C string */
    if (!rv)
      rv = wr_cmd_remote_field("name resolve", &api, (const char *)t.data, "Path", out, sizeof out);
    wr_buf_free(&t);
    if (rv != 0)
      return 1;
  } else if (wr_names_resolve(repo, full, wall_now_ns(), recursive, out, sizeof out, NULL, err,
                              sizeof err) != 0) {
    wr_cli_fail("name resolve: %s.", err);
    return 1;
  }
  if (recursive && strncmp(out, "/ipns/", 6) == 0)
    return dnslink(out, recursive, dns_server);
  printf("%s\n", out);
  return 0;
}

static void print_hex_or_b64(const char *label, const uint8_t *p, size_t n) {
  char b64[WR_BASE64_ENCODED_LEN(WR_IPNS_MAX_RECORD) + 1];
  if (!p) {
    printf("%s: (none)\n", label);
    return;
  }
  if (wr_base64_encode(p, n, b64, sizeof b64) < 0)
    b64[0] = '\0';
  printf("%s: %s\n", label, b64);
}

static int name_inspect(int argc, char **argv) {
  static const struct option opts[] = {
      {"verify", required_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
  int c;
  const char *verify = NULL;
  while ((c = wr_cli_getopt("name inspect", argc, argv, "h", opts)) != -1) {
    if (c == 'v') {
      verify = optarg;
    } else {
      usage(stdout);
      return 0;
    }
  }
  if (argc - optind != 1)
    wr_cli_usage_error("name inspect", "name inspect takes one FILE (or - for stdin).");
  wr_buf b;
  wr_buf_init(&b, WR_IPNS_MAX_RECORD + 1);
  int status = 1;
  wr_ipns_record r;
  const char *why = NULL;
  if (read_record("name inspect", argv[optind], &b) != 0)
    goto out;
  if (wr_ipns_record_decode(b.data, b.len, &r, &why) != 0) {
    wr_cli_fail("name inspect: not a valid IPNS record: %s.", why);
    goto out;
  }
  printf("Value: %.*s\n", (int)r.value_len, (const char *)r.value);
  printf("Validity Type: %s\n", r.validity_type == WR_IPNS_EOL ? "EOL" : "unknown");
  printf("Validity: %.*s\n", (int)r.validity_len, (const char *)r.validity);
  printf("Sequence: %llu\n", (unsigned long long)r.sequence);
  printf("TTL: %llu\n", (unsigned long long)r.ttl_ns);
  printf("Size: %zu\n", b.len);
  print_hex_or_b64("PublicKey", r.pubkey, r.pubkey_len);
  print_hex_or_b64("Signature V1", r.sig_v1, r.sig_v1_len);
  print_hex_or_b64("Signature V2", r.sig_v2, r.sig_v2_len);
  status = 0;
  if (verify) {
    char repo[WR_REPO_PATH_MAX];
    wr_peerid id;
    if (repo_path("name inspect", repo, sizeof repo) != 0 ||
        name_or_key("name inspect", repo, verify, &id) != 0) {
      status = 1;
      goto out;
    }
    int rv = wr_ipns_record_verify(&r, &id, wall_now_ns(), &why);
    printf("Valid: %s\n", rv == 0 ? "true" : "false");
    if (rv != 0) {
      printf("Reason: %s\n", why);
      status = 1;
    }
  }
out:
  wr_buf_free(&b);
  return status;
}

static int name_put(int argc, char **argv) {
  if (wr_cli_help_only("name put", argc, argv, "Usage: warren name put NAME FILE|-\n"))
    return 0;
  if (argc - optind != 2)
    wr_cli_usage_error("name put", "name put takes NAME and FILE.");
  char repo[WR_REPO_PATH_MAX], err[1024];
  wr_peerid id;
  wr_buf b;
  wr_buf_init(&b, WR_IPNS_MAX_RECORD + 1);
  int status = 1, kept = 0;
  if (repo_path("name put", repo, sizeof repo) != 0 ||
      name_or_key("name put", repo, argv[optind], &id) != 0 ||
      read_record("name put", argv[optind + 1], &b) != 0)
    goto out;
  if (wr_names_store(repo, &id, b.data, b.len, wall_now_ns(), &kept, err, sizeof err) != 0) {
    wr_cli_fail("name put: %s.", err);
    goto out;
  }
  printf(kept ? "stored\n" : "kept the stored record: it is newer\n");
  status = 0;
out:
  wr_buf_free(&b);
  return status;
}

static int name_get(int argc, char **argv) {
  if (wr_cli_help_only("name get", argc, argv, "Usage: warren name get NAME > FILE\n"))
    return 0;
  if (argc - optind != 1)
    wr_cli_usage_error("name get", "name get takes one NAME.");
  char repo[WR_REPO_PATH_MAX], err[1024];
  wr_peerid id;
  wr_buf b;
  wr_buf_init(&b, WR_IPNS_MAX_RECORD);
  int status = 1;
  if (repo_path("name get", repo, sizeof repo) != 0 ||
      name_or_key("name get", repo, argv[optind], &id) != 0)
    goto out;
  if (wr_names_load(repo, &id, &b, err, sizeof err) != 0) {
    wr_cli_fail("name get: %s.", err);
    goto out;
  }
  status = fwrite(b.data, 1, b.len, stdout) == b.len ? 0 : 1;
out:
  wr_buf_free(&b);
  return status;
}

int wr_cmd_name(int argc, char **argv) {
  static const wr_subcommand subs[] = {
      {"publish", name_publish}, {"resolve", name_resolve}, {"inspect", name_inspect},
      {"put", name_put},         {"get", name_get},
  };
  return wr_cli_dispatch("name", argc, argv, subs, sizeof subs / sizeof subs[0], usage);
}
