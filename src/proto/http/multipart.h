/* multipart.h: a streaming, sans-I/O parser of multipart/form-data bodies
 * (RFC 7578 over RFC 2046), the way kubo's RPC clients upload files for
 * `add`, `block/put` and `dag/import`.
 *
 * The caller feeds body bytes; the parser returns one event per call: a part
 * begins (its headers parsed), part data (pointing into the caller's bytes,
 * never copied), a part ends, the body ends. Data that could be the start of
 * the next delimiter is not consumed: the caller keeps the unconsumed tail
 * and offers it again with more bytes behind it (at most the delimiter's
 * length, 74 bytes, is ever held back). Strict: the body must start with the
 * first delimiter (no preamble), part headers are bounded (8 KiB, 16 fields),
 * every header line must be "Name: value", a truncated body is an error. */
#ifndef WR_PROTO_HTTP_MULTIPART_H
#define WR_PROTO_HTTP_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* RFC 2046: 1..70 characters. */
#define WR_MP_MAX_BOUNDARY 70u
/* A part's header section, with its final empty line. */
#define WR_MP_MAX_HEAD 8192u
#define WR_MP_MAX_FIELDS 16u

typedef struct wr_mp_slice {
  const char *p;
  size_t len;
} wr_mp_slice;

/* A part's headers, as far as form-data uploads use them. Slices point into
 * the parser and stay valid until the next call on it. */
typedef struct wr_mp_part {
  wr_mp_slice name;         /* Content-Disposition's name parameter (quotes removed) */
  wr_mp_slice filename;     /* its filename parameter, raw (often percent-encoded); may be empty */
  int has_filename;         /* 1 when filename= was present */
  wr_mp_slice content_type; /* the Content-Type value, empty when absent */
} wr_mp_part;

enum {
  WR_MP_EV_NEED_MORE = 0, /* feed more bytes (the unconsumed ones first) */
  WR_MP_EV_PART = 1,      /* ev.part: a part begins */
  WR_MP_EV_DATA = 2,      /* ev.data/ev.len: bytes of the current part, into the input */
  WR_MP_EV_PART_END = 3,  /* the current part is complete */
  WR_MP_EV_DONE = 4,      /* the closing delimiter: the body is complete */
};

typedef struct wr_mp_event {
  wr_mp_part part;
  const uint8_t *data;
  size_t len;
} wr_mp_event;

typedef struct wr_mp_parser {
  int state;
  uint8_t delim[4 + WR_MP_MAX_BOUNDARY]; /* "\r\n--" boundary */
  size_t delim_len;
  uint8_t head[WR_MP_MAX_HEAD];
  size_t head_len;
  unsigned pad; /* padding seen after a delimiter (+1 once past its first bytes) */
  int error;
  const char *reason;
} wr_mp_parser;

/* Takes the boundary parameter out of a Content-Type value such as
 * `multipart/form-data; boundary=xyz` (quoted or not) into *pb. Returns 0,
 * WR_ERR_UNSUPPORTED (not multipart/form-data), WR_ERR_MALFORMED (no or a bad
 * boundary); *preason (may be NULL) gets a static sentence. */
WR_MUST_CHECK int wr_mp_boundary(const char *ctype, size_t len, wr_mp_slice *pb,
                                 const char **preason);

/* Starts a parser for boundary (1..70 bytes). 0, WR_ERR_INVAL. */
WR_MUST_CHECK int wr_mp_init(wr_mp_parser *p, const char *boundary, size_t len);

/* Consumes a prefix of data and returns one event (>= 0) with *pconsumed
 * bytes used, or a negative error: WR_ERR_MALFORMED (with a reason),
 * WR_ERR_LIMIT (a part's headers too long). Errors are sticky. After DONE
 * every byte (the epilogue) is consumed and DONE is returned again. */
WR_MUST_CHECK int wr_mp_parse(wr_mp_parser *p, const uint8_t *data, size_t len, size_t *pconsumed,
                              wr_mp_event *ev);

/* The body ended (eof). 0 after DONE, else WR_ERR_TRUNCATED. */
WR_MUST_CHECK int wr_mp_finish(wr_mp_parser *p);

/* After an error: a static sentence saying what was wrong. */
const char *wr_mp_reason(const wr_mp_parser *p);

#endif
