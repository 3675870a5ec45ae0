/* dirlist.c: the generated folder listing (gateway/dirlist.h). */
#include "gateway/dirlist.h"

#include <stdio.h>
#include <string.h>

int wr_html_escape(wr_buf *b, const char *s, size_t n) {
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    const char *rep = NULL;
    switch (s[i]) {
    case '&':
      rep = "&amp;";
      break;
    case '<':
      rep = "&lt;";
      break;
    case '>':
      rep = "&gt;";
      break;
    case '"':
      rep = "&quot;";
      break;
    case '\'':
      rep = "&#39;";
      break;
    default:
      continue;
    }
    int rc = wr_buf_append(b, s + run, i - run);
    if (rc == 0)
      rc = wr_buf_append(b, rep, strlen(rep));
    if (rc)
      return rc;
    run = i + 1;
  }
  return wr_buf_append(b, s + run, n - run);
}

int wr_url_segment(wr_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~';
    char e[3] = {'%', hex[c >> 4], hex[c & 15]};
    int rc = keep ? wr_buf_append(b, &s[i], 1) : wr_buf_append(b, e, 3);
    if (rc)
      return rc;
  }
  return 0;
}

int wr_dirlist_head(wr_buf *b, const char *title, const char *cid, int parent) {
  int rc = wr_buf_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                            "<meta name=\"viewport\" content=\"width=device-width\">"
                            "<title>");
  if (rc == 0)
    rc = wr_html_escape(b, title, strlen(title));
  if (rc == 0)
    rc = wr_buf_printf(b, "</title><style>body{font-family:sans-serif;margin:2em}"
                          "td{padding:.2em 1em .2em 0}code{font-size:.85em;color:#555}"
                          "</style></head>\n<body><h1>Index of ");
  if (rc == 0)
    rc = wr_html_escape(b, title, strlen(title));
  if (rc == 0)
    rc = wr_buf_printf(b,
                       "</h1><p>CID <code>%s</code> &middot; <a href=\"?format=car\">CAR</a>"
                       "</p>\n<table>\n<tr><th>Name</th><th>CID</th><th>Size</th></tr>\n",
                       cid);
  if (rc == 0 && parent)
    rc = wr_buf_printf(b, "<tr><td><a href=\"../\">..</a></td><td></td><td></td></tr>\n");
  return rc;
}

int wr_dirlist_row(wr_buf *b, const char *name, size_t name_len, const wr_cid *cid,
                   uint64_t tsize) {
  char cs[WR_CID_MAX_STR];
  if (wr_cid_format(cid, 0, cs, sizeof cs) < 0)
    snprintf(cs, sizeof cs, "-");
  int rc = wr_buf_printf(b, "<tr><td><a href=\"");
  if (rc == 0)
    rc = wr_url_segment(b, name, name_len);
  if (rc == 0)
    rc = wr_buf_printf(b, "\">");
  if (rc == 0)
    rc = wr_html_escape(b, name, name_len);
  if (rc == 0)
    rc = wr_buf_printf(b, "</a></td><td><code>%s</code></td><td>%llu</td></tr>\n", cs,
                       (unsigned long long)tsize);
  return rc;
}

int wr_dirlist_foot(wr_buf *b, uint64_t entries) {
  return wr_buf_printf(b, "</table>\n<p>%llu entries</p></body></html>\n",
                       (unsigned long long)entries);
}
