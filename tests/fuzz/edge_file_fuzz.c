/* Fuzzes the edge's YAML config file: any text parses or is refused with a
 * "FILE:LINE:COL: sentence"; what parses holds only non-empty values. */
#include <stdlib.h>
#include <string.h>

#include "edge/edge_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536)
    return 0;
  wr_edge_file f;
  char err[512] = "";
  if (wr_edge_file_parse(&f, (const char *)data, size, "fuzz.yml", err, sizeof err) != 0) {
    if (strncmp(err, "fuzz.yml:", 9) != 0)
      abort();
  } else {
    if (f.n_https_cert > WR_EDGE_FILE_MAX_CERTS || f.n_https_key > WR_EDGE_FILE_MAX_CERTS)
      abort();
    for (size_t i = 0; i < f.n_https_cert; i++)
      if (!f.https_cert[i][0])
        abort();
    if ((f.listen && !f.listen[0]) || (f.tunnels && !f.tunnels[0]))
      abort();
  }
  wr_edge_file_free(&f);
  return 0;
}
