// telemetry_sensor: a minimal serial-mode device for the telemetry hub (firmware-protocol.md).
//
// It sends HELLO at boot, then one READINGS frame per period with a fake temperature, keeps
// every frame until the hub acknowledges it, sends HEARTBEAT when idle, and answers the `ping`,
// `set-rate` and `reboot` commands. Copy telemetry_frame.h and telemetry_frame.c from
// device-sim/firmware/ next to this file. Buffers are sized for an Arduino Uno (2 KB RAM).
#include <Arduino.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry_frame.h"

static const char DEVICE_ID[] = "bench-sensor-01";
static const char FIRMWARE[] = "telemetry_sensor 1.0.0";
static const uint8_t CH_TEMPERATURE = 1;

// [FP-1.3] Unacknowledged READINGS frames, oldest first, resent byte for byte after a
// reconnect. One f32 sample with a base time makes a 32-byte frame.
#define KEEP_SLOTS 8
#define KEPT_FRAME_CAP TF_READINGS_SIZE(1, TF_SAMPLE_SIZE(TF_VT_F32))
struct KeptFrame {
  uint32_t seq;
  uint8_t len;
  uint8_t bytes[KEPT_FRAME_CAP];
};
static KeptFrame kept[KEEP_SLOTS];
static uint8_t kept_count;

// [FP-4.5.1] The last few command results, so a repeated command id is not run twice.
#define RESULT_SLOTS 3
#define RESULT_CAP 48
struct CommandResult {
  bool used;
  uint32_t id;
  uint8_t status;
  uint8_t len;
  char payload[RESULT_CAP];
};
static CommandResult results[RESULT_SLOTS];
static uint8_t next_result_slot;

// Frame lines from the hub: ACK and ERROR are short; a COMMAND line longer than this is
// dropped, and the hub reports the command as timed out.
#define RX_LINE_CAP 176
static char rx[RX_LINE_CAP];
static size_t rx_len;
static bool rx_overflow;
static uint8_t frame_in[RX_LINE_CAP / 4 * 3];
static uint8_t frame_out[136];
static char line_out[TF_LINE_SIZE(sizeof frame_out)];

static uint32_t session;
static uint32_t next_seq = 1;
static bool hello_acked;
// [FP-4.2.3] Hub time learned from the last ACK. Elapsed millis() are added with unsigned
// arithmetic, so the 49-day millis() wrap does not matter.
static bool clock_known;
static uint64_t hub_time_at_ack;
static uint32_t millis_at_ack;
static uint32_t period_ms = 1000;
static uint32_t last_reading_ms;
static uint32_t last_sent_ms;

static void send_frame(const uint8_t *bytes, int len) {
  if (len <= 0) return;
  int n = tf_line_encode(bytes, (size_t)len, line_out, sizeof line_out);
  if (n <= 0) return;
  Serial.write((const uint8_t *)line_out, (size_t)n);
  last_sent_ms = millis();
}

static void send_hello() {
  const tf_channel channels[] = {
      {CH_TEMPERATURE, TF_VT_F32, tf_cstr("temperature"), tf_cstr("\xC2\xB0" "C")},
  };
  hello_acked = false;
  send_frame(frame_out, tf_encode_hello(frame_out, sizeof frame_out, session, tf_cstr(DEVICE_ID),
                                        tf_cstr(FIRMWARE), channels, 1));
}

static uint64_t hub_now() {
  return hub_time_at_ack + (uint32_t)(millis() - millis_at_ack);
}

// Fake sensor: a slow sine around 21 °C plus a little noise.
static float read_temperature() {
  float t = (float)millis() / 60000.0f;
  return 21.0f + 2.0f * sinf(t * 6.2832f) + (float)random(-10, 11) / 100.0f;
}

static void take_reading() {
  if (kept_count == KEEP_SLOTS) {
    // Out of room: drop the oldest frame. If the hub has not acknowledged it, the next resume
    // finds the hole and moves the kept frames into a new session (renumber_kept below).
    memmove(&kept[0], &kept[1], sizeof kept[0] * (KEEP_SLOTS - 1));
    kept_count--;
  }
  KeptFrame *k = &kept[kept_count];
  tf_readings_builder b;
  tf_readings_begin(&b, k->bytes, sizeof k->bytes, next_seq, true, hub_now());
  tf_readings_add_f32(&b, CH_TEMPERATURE, 0, read_temperature());
  int len = tf_readings_finish(&b);
  if (len <= 0) return;
  k->seq = next_seq++; // [FP-5.4] at one frame a second, the u32 lasts 136 years
  k->len = (uint8_t)len;
  kept_count++;
  if (hello_acked) send_frame(k->bytes, k->len);
}

// [FP-5.3] The frame right after the acknowledged one is gone, so the hub could never be given an
// unbroken sequence again: start a new session and renumber the kept frames 1, 2, 3, ... in place
// (seq sits at bytes 4..7 of the header, so only it and the CRC change).
static void renumber_kept() {
  session = (uint32_t)random(1, 0x7fffffff) ^ (uint32_t)micros();
  for (uint8_t i = 0; i < kept_count; i++) {
    uint32_t seq = (uint32_t)i + 1;
    uint8_t *b = kept[i].bytes;
    b[4] = (uint8_t)seq; b[5] = (uint8_t)(seq >> 8); b[6] = (uint8_t)(seq >> 16); b[7] = (uint8_t)(seq >> 24);
    uint16_t crc = tf_crc16(b, (size_t)kept[i].len - 2);
    b[kept[i].len - 2] = (uint8_t)crc;
    b[kept[i].len - 1] = (uint8_t)(crc >> 8);
    kept[i].seq = seq;
  }
  next_seq = (uint32_t)kept_count + 1;
}

static void on_ack(const tf_frame *f) {
  uint8_t drop = 0;
  hub_time_at_ack = f->u.ack.hub_time;
  millis_at_ack = millis();
  clock_known = true;
  // [FP-4.3] cumulative: everything up to acked_seq is durable on the hub
  while (drop < kept_count && kept[drop].seq <= f->u.ack.acked_seq) drop++;
  if (drop) {
    memmove(&kept[0], &kept[drop], sizeof kept[0] * (kept_count - drop));
    kept_count -= drop;
  }
  if (!hello_acked) {
    if (kept_count > 0 && kept[0].seq > f->u.ack.acked_seq + 1) {
      renumber_kept();
      send_hello();
      return;
    }
    // [FP-5.3] this ACK answers our HELLO: resend what the hub does not hold, in order
    hello_acked = true;
    for (uint8_t i = 0; i < kept_count; i++) send_frame(kept[i].bytes, kept[i].len);
  }
}

static void send_result(uint32_t id, uint8_t status, tf_str payload) {
  send_frame(frame_out, tf_encode_command_result(frame_out, sizeof frame_out, id, status, payload));
  if (payload.len > RESULT_CAP) return; // too long to remember; a repeat would run again
  CommandResult *r = &results[next_result_slot];
  next_result_slot = (uint8_t)((next_result_slot + 1) % RESULT_SLOTS);
  r->used = true;
  r->id = id;
  r->status = status;
  r->len = (uint8_t)payload.len;
  memcpy(r->payload, payload.ptr, payload.len);
}

static bool name_is(tf_str name, const char *s) {
  return name.len == strlen(s) && memcmp(name.ptr, s, name.len) == 0;
}

static void on_command(const tf_frame *f) {
  uint32_t id = f->u.command.id;
  tf_str name = f->u.command.name;
  tf_str args = f->u.command.args;
  for (uint8_t i = 0; i < RESULT_SLOTS; i++) {
    if (results[i].used && results[i].id == id) {
      tf_str p = {results[i].payload, results[i].len};
      send_frame(frame_out, tf_encode_command_result(frame_out, sizeof frame_out, id, results[i].status, p));
      return;
    }
  }
  if (name_is(name, "ping")) {
    send_result(id, TF_STATUS_SUCCEEDED, args); // [FP-4.5.2] the payload echoes the args
  } else if (name_is(name, "set-rate")) {
    // args are {"hz": number}; a tiny scan is enough for this one key
    char text[48];
    size_t n = args.len < sizeof text - 1 ? args.len : sizeof text - 1;
    memcpy(text, args.ptr, n);
    text[n] = '\0';
    const char *key = strstr(text, "\"hz\"");
    const char *colon = key ? strchr(key, ':') : NULL;
    double hz = colon ? atof(colon + 1) : 0;
    if (hz > 0 && hz <= 50) {
      period_ms = (uint32_t)(1000.0 / hz);
      send_result(id, TF_STATUS_SUCCEEDED, args);
    } else {
      send_result(id, TF_STATUS_FAILED, tf_cstr("{\"error\":\"hz must be > 0 and <= 50\"}"));
    }
  } else if (name_is(name, "reboot")) {
#if defined(ESP32) || defined(ESP8266)
    send_result(id, TF_STATUS_SUCCEEDED, tf_cstr(""));
    Serial.flush();
    ESP.restart();
#else
    send_result(id, TF_STATUS_FAILED, tf_cstr("{\"error\":\"no software reboot on this board\"}"));
#endif
  } else {
    send_result(id, TF_STATUS_UNKNOWN, tf_cstr(""));
  }
}

static void on_line(const char *line, size_t len) {
  tf_frame f;
  if (len == 0 || line[0] != '@') return; // not a frame line
  int n = tf_line_decode(line, len, frame_in, sizeof frame_in);
  // Serial noise is normal (FP-8.3): drop what does not decode; the hub resends what matters.
  if (n < 0 || tf_decode(frame_in, (size_t)n, &f) != 0) return;
  switch (f.type) {
  case TF_TYPE_ACK: on_ack(&f); break;
  case TF_TYPE_COMMAND: on_command(&f); break;
  case TF_TYPE_ERROR:
    // [FP-6.2] the hub opened the port or forgot our session (FP-5.5): say HELLO again;
    // kept frames are resent when its ACK arrives.
    if (f.u.error.code == TF_ERR_NO_HELLO) send_hello();
    // Console lines must not start with '@' (FP-8.2).
    Serial.print(F("hub error: "));
    Serial.println(tf_error_name(f.u.error.code));
    break;
  default: break;
  }
}

void setup() {
  Serial.begin(115200); // [FP-8.5] 8N1
#if defined(ESP32)
  session = esp_random();
#else
  randomSeed((unsigned long)analogRead(A0) ^ micros());
  session = ((uint32_t)random(0x10000) << 16) ^ (uint32_t)random(0x10000);
#endif
  Serial.println(F("telemetry_sensor booting"));
  send_hello(); // [FP-4.1.1] first frame of the connection; [FP-5.1] new session each boot
}

void loop() {
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
    if (c == '\n') {
      if (!rx_overflow) on_line(rx, rx_len);
      rx_len = 0;
      rx_overflow = false;
    } else if (rx_len < sizeof rx) {
      rx[rx_len++] = c;
    } else {
      rx_overflow = true; // [FP-8.4] over-long lines are dropped unread
    }
  }

  uint32_t now = millis();
  // Readings start once the first ACK has told us the hub's time, so every frame carries an
  // absolute time and a resent frame keeps its original timestamps (FP-4.2.3).
  if (clock_known && now - last_reading_ms >= period_ms) {
    last_reading_ms = now;
    take_reading();
  }
  // [FP-6.4] at least one frame every 5 s; a HEARTBEAT before HELLO is answered with
  // FP_ERR_NO_HELLO, which makes us say HELLO again.
  if (now - last_sent_ms >= 4000) send_frame(frame_out, tf_encode_heartbeat(frame_out, sizeof frame_out));
}
