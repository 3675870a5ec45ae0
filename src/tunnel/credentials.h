/* credentials.h: a connector's tunnel credentials file, in cloudflared's
 * format:
 *
 *   {"AccountTag":"","TunnelSecret":"<base64 of 32 bytes>",
 *    "TunnelID":"6ff42ae2-765d-4adf-8112-31c55c1551ef","TunnelName":"web"}
 *
 * TunnelID and TunnelSecret are required; AccountTag (empty for warren,
 * which has no accounts) and TunnelName are optional, and other members
 * (cloudflared's "Endpoint") are ignored, so a file cloudflared wrote loads.
 * The file is a secret: it is written with mode 0600. */
#ifndef WR_TUNNEL_CREDENTIALS_H
#define WR_TUNNEL_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define WR_TUNNEL_SECRET_LEN 32 /* bytes warren generates */
#define WR_TUNNEL_SECRET_MIN 32 /* fewer is too weak for an HMAC key */
#define WR_TUNNEL_SECRET_MAX 64
#define WR_TUNNEL_NAME_MAX 64
#define WR_CREDENTIALS_MAX_SIZE 65536

typedef struct wr_credentials {
  uint8_t tunnel_id[16];
  uint8_t secret[WR_TUNNEL_SECRET_MAX];
  size_t secret_len;
  char account_tag[WR_TUNNEL_NAME_MAX + 1];
  char tunnel_name[WR_TUNNEL_NAME_MAX + 1]; /* "" when the file has none */
} wr_credentials;

/* Checks a tunnel name: 1-64 characters, letters, digits, '-', '_' and '.',
 * starting with a letter or digit. Returns 0 or WR_ERR_INVAL with *preason. */
WR_MUST_CHECK int wr_tunnel_name_check(const char *name, const char **preason);

/* Parses credentials JSON from memory. file names the text in messages. On
 * failure err holds one sentence ("CRED.json: byte 12: ...", or "CRED.json:
 * TunnelSecret is not valid base64: ...") and the result is
 * WR_ERR_MALFORMED, WR_ERR_INVAL, WR_ERR_LIMIT or WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_credentials_parse(const char *text, size_t len, const char *file,
                                       wr_credentials *c, char *err, size_t errlen);

/* cloudflared's tunnel token (`tunnel token`, `tunnel run --token`): the
 * same credentials as base64 of the JSON {"a":AccountTag,"s":TunnelSecret,
 * "t":TunnelID}. It is a secret, like the file. */
#define WR_TUNNEL_TOKEN_MAX 2048

/* Decodes a token of len characters into c. 0, or WR_ERR_INVAL (with one
 * sentence in err: not base64, not JSON, a member missing or wrong),
 * WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_credentials_from_token(const char *token, size_t len, wr_credentials *c,
                                            char *err, size_t errlen);

/* Appends c's token (no newline) to b. 0, WR_ERR_LIMIT or WR_ERR_NOMEM. */
WR_MUST_CHECK int wr_credentials_token(const wr_credentials *c, wr_buf *b);

/* Reads and parses path. Errors as wr_credentials_parse, plus
 * WR_ERR_NOTFOUND and WR_ERR_IO from reading. */
WR_MUST_CHECK int wr_credentials_load(const char *path, wr_credentials *c, char *err,
                                      size_t errlen);

/* Checks that c is for the tunnel wanted (`tunnel run NAME`, the config's
 * `tunnel:`): a UUID must equal TunnelID; a name must equal TunnelName when c
 * has one (a token has none). source names c in the message ("web.json",
 * "the token"). 0, or WR_ERR_INVAL with one sentence naming both. */
WR_MUST_CHECK int wr_credentials_check_tunnel(const wr_credentials *c, const char *wanted,
                                              const char *source, char *err, size_t errlen);

/* Appends the JSON text (one line and a newline) to b. */
WR_MUST_CHECK int wr_credentials_encode(const wr_credentials *c, wr_buf *b);

/* Writes the file atomically with mode 0600; refuses to replace an existing
 * file (WR_ERR_EXISTS), since that would orphan a tunnel's only secret. */
WR_MUST_CHECK int wr_credentials_save(const char *path, const wr_credentials *c, char *err,
                                      size_t errlen);

#endif
