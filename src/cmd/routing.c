/* routing.c: `warren routing provide|findprovs|findpeer|get|put`, as
 * kubo's `ipfs routing`: they ask the running daemon, whose DHT answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "io/file.h"
#include "proto/text/base64.h"
#include "proto/text/json.h"

static int need_daemon(const char *cmd, wr_addr *api) {
  int d = wr_cmd_find_daemon(cmd, api);
  if (d == 1)
    return 0;
  if (d == 0)
    wr_cli_fail("%s: this command needs the running node: start `warren daemon` first.", cmd);
  return 1;
}

/* "/api/v0/PATH?arg=A&arg=B...&EXTRA" for argv[optind..]. 0 or 1 (told). */
static int target(const char *cmd, const char *path, int argc, char **argv, const char *extra,
                  wr_buf *t) {
  int rv = wr_buf_printf(t, "/api/v0/%s", path);
  for (int i = optind; i < argc && !rv; i++) {
    char esc[3 * 1024 + 1];
    rv = wr_rpc_url_escape(argv[i], 1, esc, sizeof esc);
    if (!rv)
      rv = wr_buf_printf(t, "%sarg=%s", i == optind ? "?" : "&", esc);
  }
  if (!rv && extra)
    rv = wr_buf_printf(t, "%s%s", optind < argc ? "&" : "?", extra);
  if (!rv)
    rv = wr_buf_append(t, "", 1);
  if (rv)
    wr_cli_fail("%s: too many or too long arguments.", cmd);
  return rv ? 1 : 0;
}

typedef struct printer {
  int type;  /* the event type printed */
  int addrs; /* print addresses (findpeer) rather than IDs */
  int value; /* print Extra decoded from base64 (get) */
  int bad;
} printer;

static int on_line(void *arg, const char *line, size_t n) {
  printer *pr = arg;
  wr_json *root = NULL;
  if (wr_json_parse(line, n, NULL, &root, NULL) != 0) {
    pr->bad = 1;
    return 0;
  }
  const wr_json *type = wr_json_get(root, "Type");
  if (type && type->type == WR_JSON_NUMBER && atoi(type->str) == pr->type) {
    if (pr->value) {
      const wr_json *x = wr_json_get(root, "Extra");
      if (x && x->type == WR_JSON_STRING) {
        size_t len = strlen(x->str);
        uint8_t *v = wr_malloc(len + 1);
        size_t got = 0;
        size_t off = 0;
        if (v && wr_base64_decode(x->str, len, v, len + 1, &got, &off, NULL) == 0)
          fwrite(v, 1, got, stdout);
        wr_free(v);
      }
    }
    const wr_json *rs = wr_json_get(root, "Responses");
    for (const wr_json *p = rs && rs->type == WR_JSON_ARRAY ? rs->child : NULL; p; p = p->next) {
      const wr_json *id = wr_json_get(p, "ID"), *as = wr_json_get(p, "Addrs");
      if (!pr->addrs && id && id->type == WR_JSON_STRING)
        printf("%s\n", id->str);
      for (const wr_json *a = pr->addrs && as && as->type == WR_JSON_ARRAY ? as->child : NULL; a;
           a = a->next)
        if (a->type == WR_JSON_STRING)
          printf("%s\n", a->str);
    }
  }
  fflush(stdout);
  wr_json_del(root);
  return 0;
}

static int run(const char *cmd, const char *path, int argc, char **argv, const char *extra,
               printer *pr, const char *ctype, wr_rpc_produce_fn produce, void *parg) {
  wr_addr api;
  wr_buf t;
  wr_buf_init(&t, 1 << 20);
  wr_cmd_lines lines = {.fn = on_line, .arg = pr};
  int rv = need_daemon(cmd, &api) || target(cmd, path, argc, argv, extra, &t);
  if (!rv)
    rv = wr_cmd_remote_post(cmd, &api, (const char *)t.data, ctype, produce, parg,
                            wr_cmd_lines_recv, &lines) != 0;
  wr_buf_free(&t);
  return rv ? 1 : 0;
}

static int r_provide(int argc, char **argv) {
  if (wr_cli_help_only("routing provide", argc, argv,
                       "Usage: warren routing provide CID...\n\n"
                       "Announces to the DHT that this node provides each CID (the blocks must\n"
                       "be in the repo). All keys go in one sweep over the keyspace; the node\n"
                       "provides them again before the records expire (48 h).\n"))
    return 0;
  if (optind >= argc)
    wr_cli_usage_error("routing provide", "give at least one CID.");
  printer pr = {.type = -1};
  return run("routing provide", "routing/provide", argc, argv, NULL, &pr, NULL, NULL, NULL);
}

static int r_findprovs(int argc, char **argv) {
  if (wr_cli_help_only("routing findprovs", argc, argv,
                       "Usage: warren routing findprovs CID [--num-providers N]\n\n"
                       "Prints the peer IDs of the CID's providers, one per line (at most N,\n"
                       "default 20).\n"))
    return 0;
  const char *num = NULL;
  for (int i = optind; i < argc; i++)
    if ((strcmp(argv[i], "--num-providers") == 0 || strcmp(argv[i], "-n") == 0) && i + 1 < argc) {
      num = argv[i + 1];
      memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 2) * sizeof *argv);
      argc -= 2;
      break;
    }
  if (argc - optind != 1)
    wr_cli_usage_error("routing findprovs", "give one CID.");
  char extra[64];
  snprintf(extra, sizeof extra, "num-providers=%lu", num ? strtoul(num, NULL, 10) : 20ul);
  printer pr = {.type = 4};
  return run("routing findprovs", "routing/findprovs", argc, argv, extra, &pr, NULL, NULL, NULL);
}

static int r_findpeer(int argc, char **argv) {
  if (wr_cli_help_only("routing findpeer", argc, argv,
                       "Usage: warren routing findpeer PEERID\n\n"
                       "Prints the peer's addresses, one per line.\n"))
    return 0;
  if (argc - optind != 1)
    wr_cli_usage_error("routing findpeer", "give one peer ID.");
  printer pr = {.type = 2, .addrs = 1};
  return run("routing findpeer", "routing/findpeer", argc, argv, NULL, &pr, NULL, NULL, NULL);
}

static int r_get(int argc, char **argv) {
  if (wr_cli_help_only("routing get", argc, argv,
                       "Usage: warren routing get /NAMESPACE/KEY\n\n"
                       "Prints the best valid record's value for the key (bytes, as stored).\n"
                       "A peer ID in KEY is taken in binary, as kubo does: /pk/PEERID.\n"))
    return 0;
  if (argc - optind != 1)
    wr_cli_usage_error("routing get", "give one key.");
  printer pr = {.type = 5, .value = 1};
  return run("routing get", "routing/get", argc, argv, NULL, &pr, NULL, NULL, NULL);
}

typedef struct put_body {
  const uint8_t *val;
  size_t len;
} put_body;

static int produce_value(void *arg, wr_rpc_conn *conn) {
  put_body *pb = arg;
  static const char head[] = "--warrenboundary\r\nContent-Disposition: form-data; name=\"file\"; "
                             "filename=\"value\"\r\nContent-Type: application/octet-stream\r\n\r\n";
  static const char tail[] = "\r\n--warrenboundary--\r\n";
  int rv = wr_rpc_conn_send(conn, head, sizeof head - 1);
  if (!rv && pb->len)
    rv = wr_rpc_conn_send(conn, pb->val, pb->len);
  if (!rv)
    rv = wr_rpc_conn_send(conn, tail, sizeof tail - 1);
  return rv;
}

static int r_put(int argc, char **argv) {
  if (wr_cli_help_only(
          "routing put", argc, argv,
          "Usage: warren routing put /NAMESPACE/KEY FILE\n\n"
          "Stores FILE's bytes as the key's record on the DHT's nearest peers, once\n"
          "the namespace's validator accepts it (/pk/ here; /ipns/ comes with IPNS).\n"))
    return 0;
  if (argc - optind != 2)
    wr_cli_usage_error("routing put", "give a key and a file.");
  wr_buf v;
  wr_buf_init(&v, 64 * 1024);
  char err[256];
  if (wr_file_read_all(argv[optind + 1], 64 * 1024, &v, err, sizeof err) != 0) {
    wr_cli_fail("routing put: %s.", err);
    wr_buf_free(&v);
    return 1;
  }
  put_body pb = {v.data, v.len};
  printer pr = {.type = -1};
  argc--; /* the file is the body, not an arg */
  int rv = run("routing put", "routing/put", argc, argv, NULL, &pr,
               "multipart/form-data; boundary=warrenboundary", produce_value, &pb);
  wr_buf_free(&v);
  return rv;
}

static void usage(FILE *f) {
  fprintf(f, "Usage: warren routing COMMAND\n\n"
             "The DHT, through the running node, as kubo's `ipfs routing`:\n"
             "  provide CID...         announce that this node provides content\n"
             "  findprovs CID          the peers that provide a CID\n"
             "  findpeer PEERID        a peer's addresses\n"
             "  get /NS/KEY            a record's value\n"
             "  put /NS/KEY FILE       store a record\n");
}

int wr_cmd_routing(int argc, char **argv) {
  static const wr_subcommand table[] = {{"provide", r_provide},
                                        {"findprovs", r_findprovs},
                                        {"findpeer", r_findpeer},
                                        {"get", r_get},
                                        {"put", r_put}};
  return wr_cli_dispatch("routing", argc, argv, table, sizeof table / sizeof table[0], usage);
}
