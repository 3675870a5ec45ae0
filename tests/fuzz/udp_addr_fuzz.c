/* udp_addr_fuzz.c: the ADDR:PORT parser must never read past its input,
 * and whatever it accepts must format and parse back to the same address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char in[256], err[200], out[WR_ADDR_STRLEN];
  if (size >= sizeof in)
    return 0;
  memcpy(in, data, size);
  in[size] = '\0';
  wr_addr a, b;
  if (wr_addr_parse(in, &a, err, sizeof err) != 0)
    return 0;
  /* Zones by name format as numbers; both parse back to the same scope. */
  wr_addr_format(&a, out, sizeof out);
  if (wr_addr_parse(out, &b, err, sizeof err) != 0 || !wr_addr_equal(&a, &b))
    abort();
  return 0;
}
