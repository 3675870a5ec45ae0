/* id.c: `warren id [PEER]` — a peer identity in kubo's JSON shape. With a
 * daemon running it asks it (this node's listen addresses and protocols, or
 * what a connected PEER told identify); without one it answers from the
 * repo's key, as `ipfs id` does offline: no addresses, no protocols. */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/remote.h"
#include "cmd/repoflag.h"
#include "p2p/identity.h"
#include "proto/text/base64.h"
#include "store/repo.h"

#ifndef WR_VERSION
#define WR_VERSION "0.1.0"
#endif

static const char help[] =
    "Usage: warren [--repo DIR] id [PEER]\n\n"
    "Prints this node's libp2p identity as kubo's `ipfs id` does (JSON: ID, PublicKey,\n"
    "Addresses, AgentVersion, Protocols). The key is the repo's identity.key, made by\n"
    "`warren init` (or here, on first use). With `warren daemon` running, the answer\n"
    "comes from it, with its listen addresses and protocols; PEER (a connected peer's\n"
    "ID) shows what that peer told identify. Without a running node, Addresses and\n"
    "Protocols are null, as in kubo offline.\n";

/* Through the daemon: its JSON, printed as it comes. */
static int remote_id(const wr_addr *api, const char *peer) {
  char target[1024] = "/api/v0/id";
  if (peer) {
    char esc[3 * 256 + 1];
    if (wr_rpc_url_escape(peer, 0, esc, sizeof esc) != 0)
      wr_cli_usage_error("id", "the peer ID is too long.");
    snprintf(target, sizeof target, "/api/v0/id?arg=%s", esc);
  }
  int rv = wr_cmd_remote_post("id", api, target, NULL, NULL, NULL, wr_cmd_stdout_recv, NULL);
  return rv ? 1 : 0;
}

int wr_cmd_id(int argc, char **argv) {
  if (wr_cli_help_only("id", argc, argv, help))
    return 0;
  if (argc - optind > 1)
    wr_cli_usage_error("id", "id takes at most one peer ID, not \"%s\".", argv[optind + 1]);
  const char *peer = optind < argc ? argv[optind] : NULL;
  wr_addr api;
  int d = wr_cmd_find_daemon("id", &api);
  if (d < 0)
    return 1;
  if (d == 1)
    return remote_id(&api, peer);
  if (peer) {
    wr_cli_fail("id: looking up another peer needs the running node: start `warren daemon`.");
    return 1;
  }
  char path[WR_REPO_PATH_MAX];
  if (wr_cmd_repo_path(path, sizeof path) != 0)
    return 1;
  int created = 0;
  int rc = wr_repo_init(path, &created);
  if (rc != 0) {
    wr_cli_fail("id: cannot create the repo %s: %s.", path, wr_strerror(rc));
    return 1;
  }
  char keypath[WR_REPO_PATH_MAX + 32], err[512];
  snprintf(keypath, sizeof keypath, "%s/%s", path, WR_P2P_IDENTITY_FILE);
  wr_p2p_privkey key;
  rc = wr_p2p_identity_load(keypath, 1, &key, NULL, err, sizeof err);
  if (rc != 0) {
    wr_cli_fail("id: %s.", err);
    return 1;
  }
  wr_p2p_pubkey pk;
  wr_p2p_privkey_public(&key, &pk);
  memset(&key, 0, sizeof key);
  wr_peerid id;
  wr_peerid_from_pubkey(&id, &pk);
  uint8_t pkpb[WR_P2P_PUBKEY_ED25519_PB];
  wr_p2p_pubkey_encode(&pk, pkpb);
  char ids[WR_PEERID_MAX_STR], b64[WR_BASE64_ENCODED_LEN(sizeof pkpb) + 1];
  if (wr_peerid_format(&id, ids, sizeof ids) < 0 ||
      wr_base64_encode(pkpb, sizeof pkpb, b64, sizeof b64) < 0)
    return 1;
  printf("{\n\t\"ID\": \"%s\",\n\t\"PublicKey\": \"%s\",\n\t\"Addresses\": null,\n"
         "\t\"AgentVersion\": \"warren/%s\",\n\t\"Protocols\": null\n}\n",
         ids, b64, WR_VERSION);
  return 0;
}
