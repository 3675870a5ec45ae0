/* dirlist.h: the HTML listing the gateway makes for a folder without
 * index.html, in three pieces so it can be streamed a row at a time
 * (a 100,000-entry HAMT folder is never held in memory). Sizes are the
 * links' Tsize (the DAG size), so no child block is read, as the path
 * gateway spec advises. Names are HTML-escaped in text and percent-encoded
 * in links. Pure. */
#ifndef WR_GATEWAY_DIRLIST_H
#define WR_GATEWAY_DIRLIST_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "proto/multiformats/cid.h"

/* The page up to the first row: title is the content path shown, cid the
 * folder's, parent 1 for a ".." row. Errors of wr_buf. */
WR_MUST_CHECK int wr_dirlist_head(wr_buf *b, const char *title, const char *cid, int parent);
/* One row: a link to the entry by name, its CID and DAG size. */
WR_MUST_CHECK int wr_dirlist_row(wr_buf *b, const char *name, size_t name_len, const wr_cid *cid,
                                 uint64_t tsize);
/* The end of the page, with the number of entries. */
WR_MUST_CHECK int wr_dirlist_foot(wr_buf *b, uint64_t entries);

/* Appends s HTML-escaped (& < > " '). Errors of wr_buf. */
WR_MUST_CHECK int wr_html_escape(wr_buf *b, const char *s, size_t n);
/* Appends s percent-encoded as one path segment (unreserved characters of
 * RFC 3986 kept). Errors of wr_buf. */
WR_MUST_CHECK int wr_url_segment(wr_buf *b, const char *s, size_t n);

#endif
