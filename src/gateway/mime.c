/* mime.c: Content-Type by extension or by sniffing (gateway/mime.h). */
#include "gateway/mime.h"

#include <string.h>
#include <strings.h>

static const struct {
  const char *ext, *type;
} by_ext[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "text/xml; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"car", "application/vnd.ipld.car"},
};

const char *wr_mime_by_name(const char *name) {
  const char *slash = strrchr(name, '/');
  if (slash)
    name = slash + 1;
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name)
    return NULL;
  for (size_t i = 0; i < sizeof by_ext / sizeof by_ext[0]; i++)
    if (strcasecmp(dot + 1, by_ext[i].ext) == 0)
      return by_ext[i].type;
  return NULL;
}

static int has_prefix(const uint8_t *p, size_t n, const char *sig, size_t len) {
  return n >= len && memcmp(p, sig, len) == 0;
}

/* An HTML tag at p (case-insensitive), followed by a space or '>'. */
static int html_tag(const uint8_t *p, size_t n, const char *tag) {
  size_t len = strlen(tag);
  if (n < len + 1 || strncasecmp((const char *)p, tag, len) != 0)
    return 0;
  return p[len] == ' ' || p[len] == '>';
}

static int contains(const uint8_t *p, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(p + i, needle, k) == 0)
      return 1;
  return 0;
}

const char *wr_mime_sniff(const uint8_t *p, size_t n) {
  if (n > WR_MIME_SNIFF_LEN)
    n = WR_MIME_SNIFF_LEN;
  size_t ws = 0;
  while (ws < n &&
         (p[ws] == ' ' || p[ws] == '\t' || p[ws] == '\n' || p[ws] == '\r' || p[ws] == '\f'))
    ws++;
  static const char *tags[] = {"<!DOCTYPE HTML",
                               "<HTML",
                               "<HEAD",
                               "<SCRIPT",
                               "<IFRAME",
                               "<H1",
                               "<DIV",
                               "<FONT",
                               "<TABLE",
                               "<A",
                               "<STYLE",
                               "<TITLE",
                               "<B",
                               "<BODY",
                               "<BR",
                               "<P",
                               "<!--"};
  for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
    if (html_tag(p + ws, n - ws, tags[i]))
      return "text/html; charset=utf-8";
  if (has_prefix(p + ws, n - ws, "<?xml", 5))
    return contains(p, n, "<svg") ? "image/svg+xml" : "text/xml; charset=utf-8";
  if (has_prefix(p + ws, n - ws, "<svg", 4))
    return "image/svg+xml";
  if (has_prefix(p, n, "%PDF-", 5))
    return "application/pdf";
  if (has_prefix(p, n, "\x89PNG\r\n\x1a\n", 8))
    return "image/png";
  if (has_prefix(p, n, "\xff\xd8\xff", 3))
    return "image/jpeg";
  if (has_prefix(p, n, "GIF87a", 6) || has_prefix(p, n, "GIF89a", 6))
    return "image/gif";
  if (n >= 14 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBPVP", 6) == 0)
    return "image/webp";
  if (has_prefix(p, n, "\0asm", 4))
    return "application/wasm";
  if (has_prefix(p, n, "PK\x03\x04", 4))
    return "application/zip";
  if (has_prefix(p, n, "\x1f\x8b\x08", 3))
    return "application/x-gzip";
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1a) || (c >= 0x1c && c <= 0x1f))
      return "application/octet-stream";
  }
  return "text/plain; charset=utf-8";
}
