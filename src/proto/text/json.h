/* json.h: a small strict JSON (RFC 8259) reader and writer, sans I/O.
 *
 * The reader turns a whole text held in memory into a tree of wr_json
 * nodes. It is strict where lenient parsers differ: no comments, no
 * trailing commas, no leading zeros, no NaN/Infinity, no raw control
 * characters or invalid UTF-8 in strings, no lone surrogate escapes, no
 * duplicate keys in an object, nothing but whitespace after the value. It is
 * bounded: nesting depth and text size have caps (wr_json_limits), and a cap
 * hit is WR_ERR_LIMIT with a sentence, never a crash or a deep recursion.
 * Every error carries the byte offset where the text went wrong.
 *
 * Numbers are kept as their validated source text (wr_json.str); callers
 * convert what they need (wr_json_get_int), so no precision is lost here.
 *
 * The writer appends escaped strings to a wr_buf; callers lay out objects
 * themselves with wr_buf_printf, which keeps it tiny. */
#ifndef WR_PROTO_TEXT_JSON_H
#define WR_PROTO_TEXT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

typedef enum wr_json_type {
  WR_JSON_NULL,
  WR_JSON_FALSE,
  WR_JSON_TRUE,
  WR_JSON_NUMBER,
  WR_JSON_STRING,
  WR_JSON_ARRAY,
  WR_JSON_OBJECT,
} wr_json_type;

typedef struct wr_json wr_json;
struct wr_json {
  wr_json_type type;
  size_t offset;  /* byte offset of the value's first character */
  char *key;      /* member name (NUL-terminated, UTF-8) in an object, else NULL */
  size_t keylen;  /* bytes of key (a key may hold \u0000) */
  char *str;      /* STRING: decoded UTF-8, NUL-terminated; NUMBER: source text */
  size_t len;     /* bytes of str */
  wr_json *child; /* ARRAY/OBJECT: first element or member */
  size_t nchild;  /* ARRAY/OBJECT: number of elements or members */
  wr_json *next;  /* next sibling */
};

typedef struct wr_json_limits {
  size_t max_depth; /* arrays/objects nested deeper than this: WR_ERR_LIMIT */
  size_t max_size;  /* texts longer than this: WR_ERR_LIMIT */
  size_t max_nodes; /* values in the whole text */
} wr_json_limits;

/* Defaults: depth 32, 1 MiB, 65536 values. */
#define WR_JSON_DEFAULT_DEPTH 32
#define WR_JSON_DEFAULT_SIZE (1024 * 1024)
#define WR_JSON_DEFAULT_NODES 65536

typedef struct wr_json_error {
  size_t offset;   /* byte offset in the text where parsing stopped */
  const char *msg; /* static sentence fragment, e.g. "expected ':' after a member name" */
} wr_json_error;

/* Parses len bytes of text (no NUL needed). limits may be NULL for the
 * defaults. On success *proot owns the tree (free with wr_json_del). On
 * failure *proot is NULL, *perr (may be NULL) says where and why, and the
 * result is WR_ERR_MALFORMED (bad syntax), WR_ERR_TRUNCATED (text ended
 * inside a value), WR_ERR_LIMIT (a cap) or WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_json_parse(const char *text, size_t len, const wr_json_limits *limits,
                                wr_json **proot, wr_json_error *perr);

/* Frees a tree from wr_json_parse (NULL is fine). */
void wr_json_del(wr_json *root);

/* The member named key of an object, or NULL (also when obj is not an object). */
const wr_json *wr_json_get(const wr_json *obj, const char *key);

/* Converts a NUMBER that is an integer in [min, max] into *pv. WR_ERR_INVAL
 * when it is not a number, has a fraction or exponent, or is out of range. */
WR_MUST_CHECK int wr_json_get_int(const wr_json *v, int64_t min, int64_t max, int64_t *pv);

/* "null", "false", "true", "number", "string", "array" or "object". */
const char *wr_json_type_name(wr_json_type t);

/* Appends s (n bytes of UTF-8) as a quoted JSON string: '"', '\\' and
 * control characters escaped, everything else as is. Invalid UTF-8 is
 * WR_ERR_INVAL (nothing is appended); buffer errors as wr_buf_append. */
WR_MUST_CHECK int wr_json_put_string(wr_buf *b, const char *s, size_t n);

#endif
