/* Fuzzes the HTTP/1 request parser: split-invariance and memory safety. */
#include "http1_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fz_http1(WR_H1_REQUEST, data, size);
}
