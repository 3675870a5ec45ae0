/* remote.h: commands that go through a running daemon (kubo's rule: when
 * <repo>/api names a live daemon, the CLI asks it instead of opening the
 * repo; `--offline` works on the repo directly). */
#ifndef WR_CMD_REMOTE_H
#define WR_CMD_REMOTE_H

#include "base/buf.h"
#include "io/addr.h"
#include "rpc/client.h"

/* Remembers the global --offline flag (main.c). */
void wr_cmd_set_offline(int on);
/* Remembers the global --timeout flag (a duration, sent to the daemon as
 * kubo's `timeout` option). */
void wr_cmd_set_timeout(const char *d);

/* 1 with *pa the API address when cmd should go through the daemon, 0 when
 * it works on the repo directly (--offline, or no live daemon), -1 after
 * printing why neither works (an api file that holds no address). */
int wr_cmd_find_daemon(const char *cmd, wr_addr *pa);

/* POSTs target to the daemon, printing one sentence on failure
 * ("warren: CMD: MESSAGE."). Returns 0 or the error. */
int wr_cmd_remote_post(const char *cmd, const wr_addr *a, const char *target,
                       const char *content_type, wr_rpc_produce_fn produce, void *parg,
                       wr_rpc_recv_fn recv, void *rarg);

/* Splits received bytes into lines (newline-delimited JSON) and calls fn on
 * each complete one. Use as a wr_rpc_recv_fn with a wr_cmd_lines as arg. */
typedef struct wr_cmd_lines {
  int (*fn)(void *arg, const char *line, size_t n);
  void *arg;
  char buf[64 * 1024];
  size_t len;
} wr_cmd_lines;
int wr_cmd_lines_recv(void *arg, const uint8_t *p, size_t n);

/* A wr_rpc_recv_fn that writes the bytes to stdout (arg unused). */
int wr_cmd_stdout_recv(void *arg, const uint8_t *p, size_t n);

/* POSTs "/api/v0/CMDPATH?arg=CID" to the daemon with the response body
 * going to stdout: for block get and dag export. Returns the exit status. */
int wr_cmd_remote_bytes(const char *cmd, const wr_addr *a, const char *cmdpath, const char *arg);

/* Uploads a multipart body to target: the n files (paths; "-" is stdin),
 * each a part named by its path, or, when files is NULL, the len bytes at
 * data as one nameless part. The answer's lines go to line(arg, ...).
 * Prints one sentence on failure. Returns 0 or the error. */
int wr_cmd_remote_upload(const char *cmd, const wr_addr *a, const char *target, char **files, int n,
                         const uint8_t *data, size_t len,
                         int (*line)(void *arg, const char *line, size_t n), void *arg);

/* POSTs target and copies the string member field of the daemon's JSON
 * answer (its first line) into out. 0, or an error after one printed
 * sentence. */
int wr_cmd_remote_field(const char *cmd, const wr_addr *api, const char *target, const char *field,
                        char *out, size_t cap);

/* Asks the daemon to point the IPNS name of key keyname at value (a
 * path) for lifetime_ns and ttl_ns (name/publish); the name it answers goes
 * to name. 0, or an error after one printed sentence. */
int wr_cmd_remote_name_publish(const char *cmd, const wr_addr *api, const char *value,
                               const char *keyname, uint64_t lifetime_ns, uint64_t ttl_ns,
                               char *name, size_t cap);

/* Appends "?key=value" (the first) or "&key=value" to the request target t,
 * value percent-escaped. 0 or WR_ERR_LIMIT. */
int wr_cmd_query_add(wr_buf *t, const char *key, const char *value);

#endif
