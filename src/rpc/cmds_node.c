/* cmds_node.c: `version` and `id`. */
#include <string.h>
#include <sys/utsname.h>

#include "proto/text/json.h"
#include "rpc/call.h"

void wr_rpc_cmd_version(wr_rpc_call *c) {
  struct utsname u;
  const char *arch = "unknown", *os = "linux";
  if (uname(&u) == 0) {
    arch = strcmp(u.machine, "x86_64") == 0    ? "amd64"
           : strcmp(u.machine, "aarch64") == 0 ? "arm64"
                                               : u.machine;
  }
  wr_buf b;
  wr_buf_init(&b, 4096);
  /* kubo's shape; Golang names what runs the node, which here is not Go. */
  if (wr_buf_printf(&b,
                    "{\"Version\":\"%s\",\"Commit\":\"\",\"Repo\":\"1\",\"System\":\"%s/%s\","
                    "\"Golang\":\"none (warren is C)\"}",
                    c->version, arch, os) == 0)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
  wr_buf_free(&b);
}

static int put_str(wr_buf *b, const char *s) {
  return wr_json_put_string(b, s ? s : "", s ? strlen(s) : 0);
}

static int put_list(wr_buf *b, const char *const *v, size_t n) {
  int rv = wr_buf_puts(b, "[");
  for (size_t i = 0; i < n && !rv; i++) {
    if (i)
      rv = wr_buf_puts(b, ",");
    if (!rv)
      rv = put_str(b, v[i]);
  }
  if (!rv)
    rv = wr_buf_puts(b, "]");
  return rv;
}

void wr_rpc_cmd_id(wr_rpc_call *c) {
  const char *a[1];
  if (wr_rpc_args(c, a, 1)) {
    wr_rpc_cmd_id_peer(c, a[0]);
    return;
  }
  wr_buf b;
  wr_buf_init(&b, 64 * 1024);
  /* kubo's shape. */
  int rv = wr_buf_puts(&b, "{\"ID\":");
  if (!rv)
    rv = put_str(&b, c->id.peer_id);
  if (!rv)
    rv = wr_buf_puts(&b, ",\"PublicKey\":");
  if (!rv)
    rv = put_str(&b, c->id.public_key);
  if (!rv)
    rv = wr_buf_puts(&b, ",\"Addresses\":");
  if (!rv)
    rv = put_list(&b, c->id.addrs, c->id.naddrs);
  if (!rv)
    rv = wr_buf_printf(&b, ",\"AgentVersion\":\"warren/%s\",\"Protocols\":", c->version);
  if (!rv)
    rv = put_list(&b, c->id.protocols, c->id.nprotocols);
  if (!rv)
    rv = wr_buf_puts(&b, "}");
  if (!rv)
    wr_rpc_json(c, &b);
  else
    wr_rpc_fail(c, WR_RPC_ERR_NORMAL, "out of memory");
  wr_buf_free(&b);
}
