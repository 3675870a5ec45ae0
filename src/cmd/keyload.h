/* keyload.h: the signing key a command names: "self" (the repo's
 * identity.key, created on first use as `warren id` does) or a keystore
 * name. Shared by `warren key` and `warren name`. */
#ifndef WR_CMD_KEYLOAD_H
#define WR_CMD_KEYLOAD_H

#include <stddef.h>

#include "proto/p2p/peerid.h"

/* Loads key name from repo into *sk. 0, or a negative WR_ERR_* with one
 * sentence in err. */
int wr_cmd_key_load(const char *repo, const char *name, wr_p2p_privkey *sk, char *err,
                    size_t errlen);
/* The key's IPNS name as kubo prints it (CIDv1 libp2p-key, base36) into out
 * (WR_PEERID_MAX_STR bytes). */
void wr_cmd_key_name(const wr_p2p_privkey *sk, char *out);

#endif
