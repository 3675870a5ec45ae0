/* tunnel_info.h: `warren tunnel info` (src/cmd/tunnel_info.c). */
#ifndef WR_CMD_TUNNEL_INFO_H
#define WR_CMD_TUNNEL_INFO_H

#include <stddef.h>

/* Asks each edge metrics address for its live connections and prints the
 * tunnel name's (name or id) as cloudflared's `tunnel info` table. Returns
 * the exit status: 0, or 1 when an edge could not be asked (told). */
int wr_tunnel_info(const char *name, const char *const *edges, size_t nedges);

#endif
