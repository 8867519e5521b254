/*
 * Footprint probe: a minimal device on the session module, as the telemetry_sensor example is,
 * without a board core. Cross-compiled by package.test.ts (avr-gcc, arm-none-eabi-gcc) to
 * measure what the library costs in flash and RAM; the numbers are in README.md.
 * The "UART" is a volatile register, so nothing is optimized away.
 */
#include <string.h>

#include "telemetry_session.h"

volatile uint8_t uart_data;
volatile uint32_t ticks;

#define FRAME_CAP TF_READINGS_SIZE(1, TF_SAMPLE_SIZE(TF_VT_F32))
static uint8_t ring[TFS_RING_SIZE(12, FRAME_CAP)];
static uint8_t tx[96];
static tfs_result results[3];
static tfs_session session;
static char line_out[TF_LINE_SIZE(sizeof tx)];
static char rx[176];
static uint8_t frame_in[sizeof rx / 4 * 3];

static const tf_channel channels[] = {{1, TF_VT_F32, {"temperature", 11}, {"\xC2\xB0" "C", 3}}};

static bool send_line(void *ctx, const uint8_t *frame, size_t len) {
  int i, n = tf_line_encode(frame, len, line_out, sizeof line_out);
  (void)ctx;
  for (i = 0; i < n; i++) uart_data = (uint8_t)line_out[i];
  return n > 0;
}

static uint32_t clock_ms(void *ctx) {
  (void)ctx;
  return ticks;
}

static void on_command(void *ctx, tfs_session *s, uint32_t id, tf_str name, tf_str args) {
  (void)ctx;
  if (name.len == 4 && memcmp(name.ptr, "ping", 4) == 0) tfs_command_result(s, id, TF_STATUS_SUCCEEDED, args);
  else tfs_command_result(s, id, TF_STATUS_UNKNOWN, tf_cstr(""));
}

int main(void) {
  tfs_config cfg;
  size_t rx_len = 0;
  uint32_t last = 0;
  memset(&cfg, 0, sizeof cfg);
  cfg.device_id = tf_cstr("bench-sensor-01");
  cfg.firmware = tf_cstr("1.0");
  cfg.channels = channels;
  cfg.channel_count = 1;
  cfg.session = ticks;
  cfg.max_rx_frame = (sizeof rx - 2) / 4 * 3; /* [FP-4.1.5] what a line in rx can hold */
  cfg.ring = ring;
  cfg.ring_size = sizeof ring;
  cfg.frame_cap = FRAME_CAP;
  cfg.tx = tx;
  cfg.tx_cap = sizeof tx;
  cfg.results = results;
  cfg.result_count = 3;
  cfg.send = send_line;
  cfg.now_ms = clock_ms;
  cfg.on_command = on_command;
  if (tfs_init(&session, &cfg) != 0) return 1;
  tfs_link_up(&session);
  for (;;) {
    char c = (char)uart_data;
    uint64_t hub_now;
    if (c == '\n') {
      int n = tf_line_decode(rx, rx_len, frame_in, sizeof frame_in);
      if (n >= 0) tfs_receive(&session, frame_in, (size_t)n);
      rx_len = 0;
    } else if (rx_len < sizeof rx) {
      rx[rx_len++] = c;
    }
    tfs_poll(&session);
    if (tfs_hub_time(&session, &hub_now) && ticks - last >= 1000) {
      tf_readings_builder b;
      last = ticks;
      if (tfs_begin(&session, &b, true, hub_now) == 0 && tf_readings_add_f32(&b, 1, 0, 21.5f) == 0)
        tfs_commit(&session, &b, NULL);
    }
  }
}
