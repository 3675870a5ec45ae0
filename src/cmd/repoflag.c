#include "cmd/repoflag.h"

#include <stdio.h>

#include "base/err.h"
#include "cmd/cli.h"

static const char *repo_flag;

void wr_cmd_set_repo_flag(const char *dir) { repo_flag = dir; }

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
