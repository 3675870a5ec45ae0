/* prefetch.c: reading ahead what a gateway response needs (prefetch.h). */
#include "gateway/prefetch.h"

#include <stdio.h>
#include <string.h>

#include "gateway/dirwalk.h"
#include "store/dag.h"

/* The codecs the gateway answers as a single block (gateway.c's
 * codec_type). */
static int single_block_codec(uint64_t codec) {
  return codec == WR_CODEC_DAG_JSON || codec == WR_CODEC_DAG_CBOR || codec == 0x0200 ||
         codec == 0x51;
}

static int read_block(wr_export *ex, const wr_cid *cid) {
  const uint8_t *d;
  size_t n;
  return wr_blocks_get(ex->blocks, cid, &d, &n);
}

static int read_dag(wr_export *ex, const wr_cid *cid) {
  return wr_dag_walk(ex->blocks, cid, NULL, WR_DAG_OPAQUE_OK, NULL, NULL, NULL);
}

/* Every entry of the folder, which reads each HAMT shard once. */
static int read_listing(wr_export *ex, const wr_cid *dir) {
  wr_dirwalk *w;
  int rc = wr_dirwalk_new(&w, dir);
  if (rc)
    return rc;
  wr_dirwalk_entry e;
  while ((rc = wr_dirwalk_next(w, ex->blocks, &e)) == 1)
    ;
  wr_dirwalk_del(w);
  return rc;
}

int wr_gw_walk_path(wr_export *ex, const wr_cid *root, const char *rest, wr_cid *pcid,
                    wr_cid *roots, size_t maxroots, size_t *pnroots) {
  wr_cid cur = *root;
  size_t nr = 0;
  if (nr < maxroots)
    roots[nr++] = cur;
  const char *p = rest;
  char buf[WR_CID_MAX_STR + WR_GW_PATH_MAX + 2];
  while (*p) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char cs[WR_CID_MAX_STR];
    if (wr_cid_format(&cur, 0, cs, sizeof cs) < 0)
      return WR_ERR_INVAL;
    snprintf(buf, sizeof buf, "%s/%.*s", cs, (int)len, p);
    int rc = wr_export_resolve(ex, buf, &cur);
    if (rc)
      return rc;
    if (nr < maxroots)
      roots[nr++] = cur;
    p += len;
  }
  *pcid = cur;
  if (pnroots)
    *pnroots = nr;
  return 0;
}

static int read_folder(wr_export *ex, const wr_cid *dir) {
  char cs[WR_CID_MAX_STR], ipath[WR_CID_MAX_STR + 16];
  if (wr_cid_format(dir, 0, cs, sizeof cs) < 0)
    return WR_ERR_INVAL;
  snprintf(ipath, sizeof ipath, "%s/index.html", cs);
  wr_cid index;
  int rc = wr_export_resolve(ex, ipath, &index);
  if (rc == 0) {
    wr_export_kind kind;
    uint64_t size;
    if ((rc = wr_export_stat(ex, &index, &kind, &size)) != 0)
      return rc;
    if (kind == WR_EXPORT_FILE)
      return read_dag(ex, &index);
  } else if (rc != WR_ERR_NOTFOUND) {
    return rc;
  }
  ex->err[0] = '\0';
  return read_listing(ex, dir);
}

int wr_gw_prefetch_dag(wr_export *ex, const wr_cid *cid) { return read_dag(ex, cid); }

int wr_gw_prefetch(wr_export *ex, const wr_cid *root, const char *rest, const wr_gw_params *prm) {
  wr_cid cid;
  int rc = wr_gw_walk_path(ex, root, rest, &cid, NULL, 0, NULL);
  if (rc)
    return rc;
  if (prm->format == WR_GW_FMT_CAR) {
    if (prm->scope == WR_GW_SCOPE_BLOCK)
      return read_block(ex, &cid);
    if (prm->scope == WR_GW_SCOPE_ALL)
      return read_dag(ex, &cid);
    wr_export_kind kind;
    uint64_t size;
    if ((rc = wr_export_stat(ex, &cid, &kind, &size)) != 0)
      return rc == WR_ERR_MALFORMED || rc == WR_ERR_UNSUPPORTED ? read_block(ex, &cid) : rc;
    if (kind == WR_EXPORT_FILE)
      return read_dag(ex, &cid);
    if (kind == WR_EXPORT_HAMT)
      return read_listing(ex, &cid);
    return 0; /* the block, read by the stat */
  }
  if (prm->format != WR_GW_FMT_NONE || single_block_codec(cid.codec))
    return read_block(ex, &cid);
  wr_export_kind kind;
  uint64_t size;
  if ((rc = wr_export_stat(ex, &cid, &kind, &size)) != 0)
    return rc;
  if (kind == WR_EXPORT_DIR || kind == WR_EXPORT_HAMT)
    return read_folder(ex, &cid);
  return read_dag(ex, &cid);
}
