/* yamldoc.h: loading a YAML text with libyaml and walking it with errors
 * that point at a line and column.
 *
 * Every message has the form "FILE:LINE:COL: sentence", lines and columns
 * counted from 1, so a user can jump to the spot. The walkers refuse what
 * libyaml lets through but a config must not have: duplicate keys in a
 * mapping, non-scalar keys, and the wrong kind of node for a key. */
#ifndef WR_PROTO_TEXT_YAMLDOC_H
#define WR_PROTO_TEXT_YAMLDOC_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "base/err.h"

/* Most bytes a YAML text may have; configs and tunnel lists are far smaller. */
#define WR_YAML_MAX_SIZE (4u * 1024 * 1024)

typedef struct wr_yaml {
  yaml_document_t doc;
  int loaded;
  const char *file; /* name used in messages (not owned) */
  char *err;        /* where messages go (not owned) */
  size_t errlen;
} wr_yaml;

/* Parses len bytes (one document; a second one is an error). file names the
 * text in messages. On failure err holds "FILE:L:C: ..." and the result is
 * WR_ERR_MALFORMED (syntax), WR_ERR_LIMIT (too large) or WR_ERR_NOMEM. Call
 * wr_yaml_free in every case. */
WR_MUST_CHECK int wr_yaml_load(wr_yaml *y, const char *text, size_t len, const char *file,
                               char *err, size_t errlen);
void wr_yaml_free(wr_yaml *y);

/* The root node, or NULL for an empty document. */
yaml_node_t *wr_yaml_root(wr_yaml *y);
yaml_node_t *wr_yaml_node(wr_yaml *y, int id);

/* Writes "FILE:L:C: <message>" for node n into the error buffer and returns
 * WR_ERR_INVAL. */
int wr_yaml_fail(wr_yaml *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1-based line and column of a node. */
static inline unsigned long wr_yaml_line(const yaml_node_t *n) {
  return (unsigned long)n->start_mark.line + 1;
}
static inline unsigned long wr_yaml_col(const yaml_node_t *n) {
  return (unsigned long)n->start_mark.column + 1;
}

/* Checks that map is a mapping whose keys are distinct scalars.
 * what names it in messages ("the config", "tunnel #2"). */
WR_MUST_CHECK int wr_yaml_check_mapping(wr_yaml *y, const yaml_node_t *map, const char *what);

/* The value of a scalar node (NUL-terminated), or NULL when n is not a
 * scalar. */
const char *wr_yaml_scalar(const yaml_node_t *n);

/* Requires n to be a non-empty scalar (a string); key names it in the
 * message. Sets *pval (borrowed from the document). */
WR_MUST_CHECK int wr_yaml_get_string(wr_yaml *y, const yaml_node_t *n, const char *key,
                                     const char **pval);
/* A boolean: true/false, yes/no, on/off (any case), as YAML 1.1 and
 * cloudflared accept. */
WR_MUST_CHECK int wr_yaml_get_bool(wr_yaml *y, const yaml_node_t *n, const char *key, int *pval);
/* A whole number in [min, max]. */
WR_MUST_CHECK int wr_yaml_get_uint(wr_yaml *y, const yaml_node_t *n, const char *key,
                                   uint64_t min, uint64_t max, uint64_t *pval);
/* A Go-style duration ("30s", "1m30s", "1.5h", "500ms") into nanoseconds. */
WR_MUST_CHECK int wr_yaml_get_duration(wr_yaml *y, const yaml_node_t *n, const char *key,
                                       uint64_t *pns);

/* Parses a Go time.ParseDuration string (units ns, us, µs, ms, s, m, h;
 * decimals; no sign: warren's durations are never negative) into
 * nanoseconds. WR_ERR_INVAL for anything else, WR_ERR_LIMIT on overflow. A
 * bare number without a unit is refused (Go refuses it too, except "0"). */
WR_MUST_CHECK int wr_duration_parse(const char *s, uint64_t *pns);

/* Formats nanoseconds like Go's Duration.String: "1m30s", "500ms", "0s". */
void wr_duration_format(uint64_t ns, char *out, size_t cap);

#endif
