/* repoflag.h: how commands find and open the repo.
 *
 * `--repo DIR` is a global flag (main.c takes it out of argv wherever it is,
 * like --loglevel), so every store command accepts it without declaring it.
 * Without it, $WARREN_PATH, then ~/.warren. */
#ifndef WR_CMD_REPOFLAG_H
#define WR_CMD_REPOFLAG_H

#include "proto/multiformats/cid.h"
#include "store/repo.h"

/* Remembers the value of --repo (main.c calls this; the string must outlive
 * the command, as argv does). */
void wr_cmd_set_repo_flag(const char *dir);
/* The value of --repo, or NULL when it was not given. */
const char *wr_cmd_repo_flag(void);
/* Writes the chosen repo folder into out. On failure prints one sentence
 * ("warren: cannot find a repo: ...") and returns a negative WR_ERR_*. */
WR_MUST_CHECK int wr_cmd_repo_path(char *out, size_t outlen);
/* Opens the repo for cmd in mode (WR_REPO_SHARED, or WR_REPO_EXCLUSIVE for
 * gc), creating it on first use. On failure prints one sentence saying what
 * failed and what to do and returns NULL; the command then exits 1. */
wr_repo *wr_cmd_repo_open(const char *cmd, int mode);

/* Parses a CID argument (also accepting a "/ipfs/" prefix). On failure prints
 * "warren: CMD: invalid CID "ARG": reason." and returns a negative WR_ERR_*. */
WR_MUST_CHECK int wr_cmd_parse_cid(const char *cmd, const char *arg, wr_cid *pcid);
/* Formats cid in its default text form (v0 base58, v1 base32) into out
 * (WR_CID_MAX_STR bytes). */
void wr_cmd_cid_str(const wr_cid *cid, char *out);
/* Prints a one-sentence failure for a store error on cid (not found,
 * corrupted, ...): "warren: CMD: WHAT CID: reason." */
void wr_cmd_store_fail(const char *cmd, const char *what, const wr_cid *cid, int err);

#endif
