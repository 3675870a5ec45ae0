/* redirstep.h: the gateway's `_redirects` step. When a path is missing
 * from a site that has an origin of its own (a subdomain, a DNSLink host,
 * a content site; never the path gateway, where every site shares one
 * origin), the site's `_redirects` file (gateway/redirects.h) is read from
 * the site's root and its first matching rule says what to answer: a
 * redirect (3xx, the user's query kept), or another path of the site
 * served with the rule's status (200 rewrite, 404/410/451 pages). */
#ifndef WR_GATEWAY_REDIRSTEP_H
#define WR_GATEWAY_REDIRSTEP_H

#include <stddef.h>

#include "content/exporter.h"
#include "gateway/gwparse.h"

typedef enum wr_gw_redir_action {
  WR_GW_REDIR_NONE = 0, /* no file, or no rule matches: the 404 stands */
  WR_GW_REDIR_REDIRECT, /* answer status with Location target */
  WR_GW_REDIR_REWRITE,  /* serve target (a path below the site root) with status */
  WR_GW_REDIR_ERROR,    /* the file is unreadable or malformed: 500 with err */
} wr_gw_redir_action;

typedef struct wr_gw_redir {
  wr_gw_redir_action action;
  int status;
  char target[WR_GW_PATH_MAX];
  char err[400];
} wr_gw_redir;

/* Applies the `_redirects` of site_root ("CID[/sub]", as the exporter reads
 * paths) to url_path (decoded, "/...") with query (raw, qlen bytes, kept on
 * redirects), reading through ex. Fills *out. */
void wr_gw_redirects_apply(wr_export *ex, const char *site_root, const char *url_path,
                           const char *query, size_t qlen, wr_gw_redir *out);

#endif
