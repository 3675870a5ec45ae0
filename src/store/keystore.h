/* keystore.h: named IPNS keys in the repo, in kubo's keystore format.
 *
 * REPO/keystore/key_<name in lower-case base32, unpadded> holds the key's
 * PrivateKey protobuf (Ed25519), mode 0600, as kubo keeps it (kubo encodes
 * names so any name is a valid file name). The node's own key is not here:
 * it is "self", REPO/identity.key, which the command layer loads through
 * src/p2p/identity; this module refuses the name "self". */
#ifndef WR_STORE_KEYSTORE_H
#define WR_STORE_KEYSTORE_H

#include <stddef.h>

#include "base/err.h"
#include "proto/p2p/peerid.h"

#define WR_KEYSTORE_DIR "keystore"
#define WR_KEYSTORE_NAME_MAX 128

/* Checks a key name as kubo does: 1..128 bytes, not "self", no '/', not
 * starting with '.'. 0 or WR_ERR_INVAL with *preason. */
WR_MUST_CHECK int wr_keystore_check_name(const char *name, const char **preason);

/* Makes a new random Ed25519 key called name and stores it. 0,
 * WR_ERR_INVAL (bad name), WR_ERR_EXISTS (the name is taken), WR_ERR_IO;
 * err gets one sentence. *sk gets the key. */
WR_MUST_CHECK int wr_keystore_gen(const char *repo, const char *name, wr_p2p_privkey *sk, char *err,
                                  size_t errlen);
/* Reads the key called name. 0, WR_ERR_NOTFOUND, WR_ERR_MALFORMED, WR_ERR_IO. */
WR_MUST_CHECK int wr_keystore_load(const char *repo, const char *name, wr_p2p_privkey *sk,
                                   char *err, size_t errlen);
/* Removes the key called name. 0, WR_ERR_NOTFOUND, WR_ERR_IO. */
WR_MUST_CHECK int wr_keystore_rm(const char *repo, const char *name, char *err, size_t errlen);

/* Called once per stored key, in name order; non-zero stops the walk. */
typedef int (*wr_keystore_fn)(void *arg, const char *name, const wr_p2p_privkey *sk);
/* Lists the keys (files that do not decode are skipped with a warning).
 * Returns 0, fn's value, or WR_ERR_IO. A missing keystore is empty. */
WR_MUST_CHECK int wr_keystore_list(const char *repo, wr_keystore_fn fn, void *arg, char *err,
                                   size_t errlen);

#endif
