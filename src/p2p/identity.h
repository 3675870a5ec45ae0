/* identity.h: the node's libp2p key on disk.
 *
 * The file holds the PrivateKey protobuf (Ed25519; Data = seed || public
 * key), the bytes kubo keeps base64-encoded as Identity.PrivKey in its
 * config, written atomically with mode 0600. `warren init` creates it in the
 * repo as REPO/identity.key; the daemon and `warren id` read it. */
#ifndef WR_P2P_IDENTITY_H
#define WR_P2P_IDENTITY_H

#include <stddef.h>

#include "base/err.h"
#include "proto/p2p/peerid.h"

#define WR_P2P_IDENTITY_FILE "identity.key"

/* Reads the key at path; with create, makes a new random one when the file
 * does not exist (*pcreated says so; may be NULL). 0, WR_ERR_NOTFOUND (no
 * file, create not given), WR_ERR_MALFORMED (not a key; err says why),
 * WR_ERR_DENIED (the file is readable by others), WR_ERR_IO. */
WR_MUST_CHECK int wr_p2p_identity_load(const char *path, int create, wr_p2p_privkey *key,
                                       int *pcreated, char *err, size_t errlen);

#endif
