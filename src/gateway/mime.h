/* mime.h: the Content-Type of a file the gateway serves, as kubo chooses
 * it: by the name's extension when it has a known one, else by sniffing the
 * first bytes (a subset of the WHATWG sniffing Go's http.DetectContentType
 * does: HTML, XML/SVG, PDF, images, wasm, archives, else text when no
 * binary byte shows, else application/octet-stream). Pure. */
#ifndef WR_GATEWAY_MIME_H
#define WR_GATEWAY_MIME_H

#include <stddef.h>
#include <stdint.h>

/* How many leading bytes wr_mime_sniff looks at. */
#define WR_MIME_SNIFF_LEN 512

/* The type for a file name's extension (case-insensitive), or NULL. */
const char *wr_mime_by_name(const char *name);
/* The type of content starting with p (n bytes, at most WR_MIME_SNIFF_LEN
 * are read). Never NULL. */
const char *wr_mime_sniff(const uint8_t *p, size_t n);

#endif
