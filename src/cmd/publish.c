/* publish.c: `warren publish` — a folder snapshotted into the store, pinned,
 * and an IPNS name pointed at it, so the site outlives its server. It is
 * `warren add -r` followed by `warren name publish /ipfs/ROOT`, through the
 * daemon when one runs (so the record goes to the DHT), on the repo when
 * none does. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/crawl.h"
#include "cmd/keyload.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "content/names.h"
#include "content/pinning.h"
#include "proto/text/yamldoc.h"
#include "store/repo.h"

#define CMD "publish"

static void usage(void) {
  printf(
      "Usage: warren [--repo DIR] publish [--key NAME] [--lifetime 48h] [--ttl 1h]\n"
      "                                   [--unpin-old] [--cid-version N] [-Q] DIR\n"
      "       warren [--repo DIR] publish [flags] --url http://HOST[:PORT]/[PATH]\n"
      "                                   [--connect ADDR:PORT] [--max-pages N] [--max-bytes N]\n\n"
      "Snapshots DIR (everything below it but hidden files, as `add -r`) into the store,\n"
      "pins it, and points the IPNS name of key NAME (default self) at it: the site then\n"
      "lives on wherever the name is served (`warren edge --content HOST=/ipns/NAME`),\n"
      "whether or not its server still runs. Publishing again moves the name to the new\n"
      "snapshot; the sequence number goes up.\n\n"
      "With a daemon running, both steps go through it and the record is put to the DHT\n"
      "(the daemon republishes it before it expires). Without one, the record is kept in\n"
      "the repo only, where an edge on the same repo reads it and a daemon started later\n"
      "republishes it.\n\n"
      "With --url, the folder is a copy of a web site made first: from the URL, the\n"
      "pages of the same host and port that HTML href and src attributes lead to,\n"
      "breadth first, each stored at its URL path (/ and /docs/ as index.html), so the\n"
      "snapshot answers the same paths. --connect reaches the site through another\n"
      "address with the URL's Host (an edge serving the site through its tunnel).\n"
      "Strict: http only; links with a query, to other hosts, or to other schemes are\n"
      "passed over; a 404 on a linked page is a broken link (warned); any other error,\n"
      "or more pages or bytes than the limits, publishes nothing.\n\n"
      "Flags:\n"
      "  -k, --key NAME        the key whose name moves (default self; `warren key gen`)\n"
      "  -t, --lifetime D      how long the record is valid (default 48h)\n"
      "      --ttl D           how long resolvers may cache it (default 1h)\n"
      "      --unpin-old       unpin the snapshot the name pointed at before (default: keep\n"
      "                        it pinned, as kubo keeps pins; `warren gc` then frees the\n"
      "                        blocks no other pin holds)\n"
      "      --cid-version N   0 (default) or 1 for the snapshot's CIDs\n"
      "  -Q, --quieter         print only the name\n"
      "      --url URL         snapshot the site at URL instead of a folder\n"
      "      --connect A:P     with --url: connect there instead of the URL's host\n"
      "      --max-pages N     with --url: at most N pages (default 1000)\n"
      "      --max-bytes N     with --url: at most N bytes of pages (default 268435456)\n"
      "  -h, --help            this help\n\n"
      "Output, as `add` and `name publish` print:\n"
      "  added <root CID> <DIR>\n"
      "  Published to <name>: /ipfs/<root CID>\n");
}

static int64_t wall_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t parse_duration(const char *flag, const char *v) {
  uint64_t ns;
  if (wr_duration_parse(v, &ns) != 0)
    wr_cli_usage_error(CMD, "%s wants a duration such as 48h or 30m, not \"%s\".", flag, v);
  return ns;
}

/* The /ipfs/ CID the name's stored record points at (any validity: an
 * expired record still names the snapshot it kept pinned), into cid.
 * 0 when there is one. */
static int previous_root(const char *repo, const wr_peerid *name, wr_cid *cid) {
  wr_buf rec;
  wr_buf_init(&rec, WR_IPNS_MAX_RECORD);
  char err[512];
  int rv = wr_names_load(repo, name, &rec, err, sizeof err);
  wr_ipns_record r;
  if (rv == 0)
    rv = wr_ipns_record_decode(rec.data, rec.len, &r, NULL);
  if (rv == 0 && (r.value_len <= 6 || memcmp(r.value, "/ipfs/", 6) != 0))
    rv = WR_ERR_NOTFOUND;
  if (rv == 0) {
    /* Only a value that is exactly /ipfs/CID is a snapshot root. */
    char text[WR_CID_MAX_STR];
    size_t n = r.value_len - 6;
    if (n >= sizeof text || memchr(r.value + 6, '/', n))
      rv = WR_ERR_NOTFOUND;
    else {
      memcpy(text, r.value + 6, n);
      text[n] = '\0';
      rv = wr_cid_parse(text, n, cid, NULL);
    }
  }
  wr_buf_free(&rec);
  return rv;
}

static int discard(void *arg, const uint8_t *p, size_t n) {
  (void)arg, (void)p, (void)n;
  return 0;
}

/* Removes the recursive pin of cid (through the daemon when api is set).
 * Prints one sentence when it fails; an old root that is no longer pinned
 * is no failure. Returns the exit status. */
static int unpin_old(const wr_addr *api, const wr_cid *cid) {
  char s[WR_CID_MAX_STR];
  if (wr_cid_format(cid, 0, s, sizeof s) < 0)
    return 1;
  if (api) {
    wr_buf t;
    wr_buf_init(&t, 1024);
    int rv = wr_buf_puts(&t, "/api/v0/pin/rm");
    if (!rv)
      rv = wr_cmd_query_add(&t, "arg", s);
    if (!rv)
      rv = wr_buf_append(&t, "", 1);
    if (!rv)
      rv = wr_cmd_remote_post(CMD, api, (const char *)t.data, NULL, NULL, NULL, discard, NULL);
    wr_buf_free(&t);
    return rv ? 1 : 0;
  }
  wr_repo *repo = wr_cmd_repo_open(CMD, WR_REPO_SHARED);
  if (!repo)
    return 1;
  int rv = wr_pinning_rm(repo->bs, cid);
  wr_repo_close(repo);
  if (rv == WR_ERR_NOTFOUND)
    return 0;
  if (rv) {
    wr_cli_fail("%s: cannot unpin the previous snapshot %s: %s.", CMD, s, wr_strerror(rv));
    return 1;
  }
  return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

/* Copies the site at o->url into a new temporary folder (its path into
 * dir). 0, or 1 after a printed failure (the folder is gone then). */
static int crawl_site(const wr_crawl_opts *o, char *dir, size_t cap) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, cap, "%s/warren-publish-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    wr_cli_fail("%s: cannot make a temporary folder for the site: %s.", CMD, strerror(errno));
    return 1;
  }
  wr_crawl_stats st;
  if (wr_cmd_crawl(o, dir, &st) != 0) {
    (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 1;
  }
  fprintf(stderr, "%s: copied %zu pages, %llu bytes (%zu broken links, %zu passed over).\n", CMD,
          st.pages, (unsigned long long)st.bytes, st.broken, st.skipped);
  return 0;
}

int wr_cmd_publish(int argc, char **argv) {
  enum { O_TTL = 256, O_UNPIN, O_CIDV, O_URL, O_CONNECT, O_PAGES, O_BYTES };
  static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                       {"lifetime", required_argument, NULL, 't'},
                                       {"ttl", required_argument, NULL, O_TTL},
                                       {"unpin-old", no_argument, NULL, O_UNPIN},
                                       {"cid-version", required_argument, NULL, O_CIDV},
                                       {"quieter", no_argument, NULL, 'Q'},
                                       {"url", required_argument, NULL, O_URL},
                                       {"connect", required_argument, NULL, O_CONNECT},
                                       {"max-pages", required_argument, NULL, O_PAGES},
                                       {"max-bytes", required_argument, NULL, O_BYTES},
                                       {"help", no_argument, NULL, 'h'},
                                       {0, 0, 0, 0}};
  const char *keyname = "self";
  uint64_t lifetime = 48 * 3600 * UINT64_C(1000000000), ttl = 3600 * UINT64_C(1000000000);
  int c, quieter = 0, unpin = 0, cidv = -1;
  wr_crawl_opts co = {0};
  while ((c = wr_cli_getopt(CMD, argc, argv, "k:t:Qh", opts)) != -1) {
    switch (c) {
    case 'k':
      keyname = optarg;
      break;
    case 't':
      lifetime = parse_duration("--lifetime", optarg);
      break;
    case O_TTL:
      ttl = parse_duration("--ttl", optarg);
      break;
    case O_UNPIN:
      unpin = 1;
      break;
    case O_CIDV:
      cidv = (int)wr_cli_parse_uint(CMD, "--cid-version", optarg, 0, 1);
      break;
    case 'Q':
      quieter = 1;
      break;
    case O_URL:
      co.url = optarg;
      break;
    case O_CONNECT:
      co.connect = optarg;
      break;
    case O_PAGES:
      co.max_pages = (size_t)wr_cli_parse_uint(CMD, "--max-pages", optarg, 1, 1000000);
      break;
    case O_BYTES:
      co.max_bytes = wr_cli_parse_uint(CMD, "--max-bytes", optarg, 1, UINT64_C(1) << 40);
      break;
    case 'h':
      usage();
      return 0;
    default:
      usage();
      return 0;
    }
  }
  if (co.url ? argc - optind != 0 : argc - optind != 1)
    wr_cli_usage_error(CMD, co.url ? "publish takes a folder or --url, not both."
                                   : "publish takes one folder (or --url URL).");
  if (!co.url && (co.connect || co.max_pages || co.max_bytes))
    wr_cli_usage_error(CMD, "--connect, --max-pages and --max-bytes go with --url.");
  if (lifetime == 0 || lifetime > (uint64_t)INT64_MAX / 2)
    wr_cli_usage_error(CMD, "--lifetime must be positive and at most about 146 years.");
  if (co.url)
    wr_cmd_crawl_check(&co);
  const char *dir = co.url ? NULL : argv[optind];
  struct stat st;
  if (dir && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
    wr_cli_fail("%s: %s is not a folder: publish snapshots a site's folder.", CMD, dir);
    return 1;
  }

  /* The key first: a typo in its name must not leave a snapshot pinned. */
  char repo[WR_REPO_PATH_MAX], err[1024], name[WR_PEERID_MAX_STR];
  if (wr_cmd_repo_path(repo, sizeof repo) != 0)
    return 1;
  int created = 0;
  if (wr_repo_init(repo, &created) != 0) {
    wr_cli_fail("%s: cannot create the repo %s.", CMD, repo);
    return 1;
  }
  wr_p2p_privkey sk;
  if (wr_cmd_key_load(repo, keyname, &sk, err, sizeof err) != 0) {
    wr_cli_fail("%s: %s.", CMD, err);
    return 1;
  }
  wr_p2p_pubkey pk;
  wr_peerid id;
  wr_p2p_privkey_public(&sk, &pk);
  wr_peerid_from_pubkey(&id, &pk);
  wr_cmd_key_name(&sk, name);
  wr_cid old;
  int has_old = previous_root(repo, &id, &old) == 0;

  char root[WR_CID_MAX_STR], value[WR_CID_MAX_STR + 8], tmpdir[4096];
  if (co.url && crawl_site(&co, tmpdir, sizeof tmpdir) != 0) {
    memset(&sk, 0, sizeof sk);
    return 1;
  }
  int added = wr_cmd_add_snapshot(co.url ? tmpdir : dir, cidv, root);
  if (co.url)
    (void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (added != 0) {
    memset(&sk, 0, sizeof sk);
    return 1;
  }
  snprintf(value, sizeof value, "/ipfs/%s", root);
  if (!quieter)
    printf("added %s %s\n", root, co.url ? co.url : dir);
  fflush(stdout);

  wr_addr api;
  int d = wr_cmd_find_daemon(CMD, &api);
  int rv = d < 0 ? 1 : 0;
  if (d == 1) {
    memset(&sk, 0, sizeof sk);
    char got[WR_PEERID_MAX_STR];
    if (wr_cmd_remote_name_publish(CMD, &api, value, keyname, lifetime, ttl, got, sizeof got) != 0)
      return 1;
  } else if (d == 0) {
    uint64_t seq = 0;
    rv = wr_names_publish(repo, &sk, value, (int64_t)lifetime, ttl, wall_now_ns(), &seq, NULL, err,
                          sizeof err);
    memset(&sk, 0, sizeof sk);
    if (rv) {
      wr_cli_fail("%s: the snapshot %s is pinned, but the name was not moved: %s.", CMD, root, err);
      return 1;
    }
    fprintf(stderr,
            "%s: no daemon runs: the record is kept in the repo; `warren daemon` puts it to "
            "the DHT when it starts.\n",
            CMD);
  } else {
    memset(&sk, 0, sizeof sk);
    return 1;
  }
  if (quieter)
    printf("%s\n", name);
  else
    printf("Published to %s: %s\n", name, value);
  fflush(stdout);

  if (unpin && has_old) {
    wr_cid now;
    if (wr_cid_parse(root, strlen(root), &now, NULL) == 0 && !wr_cid_equal(&now, &old))
      return unpin_old(d == 1 ? &api : NULL, &old);
  }
  return 0;
}
