#include "cmd/repoflag.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "cmd/cli.h"

static const char *repo_flag;

void wr_cmd_set_repo_flag(const char *dir) { repo_flag = dir; }

const char *wr_cmd_repo_flag(void) { return repo_flag; }

int wr_cmd_repo_path(char *out, size_t outlen) {
  int rc = wr_repo_resolve(repo_flag, out, outlen);
  if (rc == WR_ERR_NOTFOUND)
    wr_cli_fail("cannot find a repo: HOME is not set; use --repo DIR or set WARREN_PATH.");
  else if (rc != 0)
    wr_cli_fail("cannot use the repo path: it is longer than %d bytes.", WR_REPO_PATH_MAX - 1);
  return rc;
}

wr_repo *wr_cmd_repo_open(const char *cmd, int mode) {
  char path[WR_REPO_PATH_MAX];
  wr_repo *repo = NULL;
  if (wr_cmd_repo_path(path, sizeof path) != 0)
    return NULL;
  int rc = wr_repo_open(path, mode, &repo);
  if (rc == 0)
    return repo;
  if (rc == WR_ERR_AGAIN)
    wr_cli_fail("%s: the repo %s is in use by another warren process; %s needs it alone. "
                "Try again when that process has finished.",
                cmd, path, cmd);
  else if (rc == WR_ERR_DENIED)
    wr_cli_fail("%s: cannot open the repo %s: permission denied.", cmd, path);
  else
    wr_cli_fail("%s: cannot open the repo %s: %s (see the log line above).", cmd, path,
                wr_strerror(rc));
  return NULL;
}

int wr_cmd_parse_cid(const char *cmd, const char *arg, wr_cid *pcid) {
  const char *s = arg, *reason = NULL;
  if (strncmp(s, "/ipfs/", 6) == 0)
    s += 6;
  int rc = wr_cid_parse_str(s, pcid, &reason);
  if (rc != 0)
    wr_cli_fail("%s: invalid CID \"%s\": %s.", cmd, arg, reason ? reason : wr_strerror(rc));
  return rc;
}

void wr_cmd_cid_str(const wr_cid *cid, char *out) {
  if (wr_cid_format(cid, 0, out, WR_CID_MAX_STR) < 0)
    snprintf(out, WR_CID_MAX_STR, "(unprintable CID)");
}

void wr_cmd_store_fail(const char *cmd, const char *what, const wr_cid *cid, int err) {
  char s[WR_CID_MAX_STR];
  wr_cmd_cid_str(cid, s);
  const char *why;
  switch (err) {
  case WR_ERR_NOTFOUND: why = "block not found in the local store"; break;
  case WR_ERR_CORRUPT: why = "the stored block is corrupted (its bytes do not match its hash)"; break;
  case WR_ERR_UNSUPPORTED: why = "its hash function is not supported"; break;
  case WR_ERR_MALFORMED: why = "the block is malformed"; break;
  default: why = wr_strerror(err); break;
  }
  wr_cli_fail("%s: %s %s: %s.", cmd, what, s, why);
}
