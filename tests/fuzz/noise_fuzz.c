/* Fuzzes the Noise handshake: arbitrary bytes as each handshake message a
 * peer could send (first as message 1 to a responder, then, after a real
 * first message, as message 2 to an initiator) and as a handshake payload. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "proto/p2p/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > WR_NOISE_MAX_MSG)
    return 0;
  if (sodium_init() < 0)
    abort();
  uint8_t s[32] = {1}, e[32] = {2};
  wr_noise_hs hs;
  wr_buf out;
  wr_buf_init(&out, 1 << 17);
  const char *why = NULL;
  wr_noise_hs_init(&hs, 0, s, e);
  if (wr_noise_hs_read(&hs, data, size, &out, &why) == 0) {
    wr_buf_reset(&out);
    (void)wr_noise_hs_write(&hs, NULL, 0, &out);
  } else if (!why) {
    abort();
  }
  wr_noise_hs_init(&hs, 1, s, e);
  wr_buf_reset(&out);
  if (wr_noise_hs_write(&hs, NULL, 0, &out) != 0)
    abort();
  wr_buf_reset(&out);
  why = NULL;
  if (wr_noise_hs_read(&hs, data, size, &out, &why) != 0 && !why)
    abort();
  wr_peerid pid;
  why = NULL;
  if (wr_noise_payload_check(data, size, s, &pid, &why) != 0 && !why)
    abort();
  wr_buf_free(&out);
  return 0;
}
