/* err.h: error codes shared by every layer.
 *
 * Functions return 0 or a negative WR_ERR_*; a ssize_t result means "bytes, or
 * a negative error". errno is converted once, at the system-call boundary. */
#ifndef WR_BASE_ERR_H
#define WR_BASE_ERR_H

#include <stddef.h>

#define WR_MUST_CHECK __attribute__((warn_unused_result))

enum {
  WR_OK = 0,
  WR_ERR_NOMEM = -1,     /* an allocation failed */
  WR_ERR_INVAL = -2,     /* a bad argument or value from the user */
  WR_ERR_MALFORMED = -3, /* input bytes do not follow the format */
  WR_ERR_TRUNCATED = -4, /* input ended before the format said it would */
  WR_ERR_LIMIT = -5,     /* a configured or built-in limit was hit */
  WR_ERR_AGAIN = -6,     /* nothing to do now; try again later */
  WR_ERR_IO = -7,        /* an I/O error; see the log line for the cause */
  WR_ERR_NOTFOUND = -8,  /* the named thing does not exist */
  WR_ERR_UNSUPPORTED = -9, /* valid, but not something warren handles */
  WR_ERR_CORRUPT = -10,  /* stored data fails its integrity check */
  WR_ERR_EXISTS = -11,   /* the thing to create is already there */
  WR_ERR_CLOSED = -12,   /* the peer or object is gone */
  WR_ERR_DENIED = -13,   /* permission or authentication refused */
  WR_ERR_TIMEOUT = -14,  /* a deadline passed */
  WR_ERR_ADDRINUSE = -15, /* the address to bind is taken by another socket */
  WR_ERR_REFUSED = -16,   /* the peer's host said nothing listens there (RST, ICMP port unreachable) */
};

/* Returns a short static description of a WR_ERR_* code. */
const char *wr_strerror(int err);

/* Converts a positive errno value into the closest WR_ERR_* code. */
int wr_err_from_errno(int e);

/* Writes the printf-formatted sentence into err (when err is not NULL and
 * errlen > 0) and returns code, so a parser can `return wr_errf(...)`. */
int wr_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
