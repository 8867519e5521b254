// telemetry_sensor: a serial-mode device for the telemetry hub (firmware-protocol.md), built on
// the TelemetryHub library (telemetry_session + telemetry_frame).
//
// The session module does the protocol: HELLO and resume, keeping every READINGS frame until the
// hub acknowledges it, resending after a reconnect or a lost line, pacing by ACKs, HEARTBEAT when
// idle, and remembering command results. This sketch only moves lines between the serial port
// and the module, takes a fake temperature once per period, and runs the `ping`, `set-rate` and
// `reboot` commands. Buffers are sized for an Arduino Uno (2 KB RAM).
#include <Arduino.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <telemetry_session.h>

static const char DEVICE_ID[] = "bench-sensor-01";
static const char FIRMWARE[] = "telemetry_sensor 2.0.0";
static const uint8_t CH_TEMPERATURE = 1;

static const tf_channel CHANNELS[] = {
    {CH_TEMPERATURE, TF_VT_F32, {"temperature", 11}, {"\xC2\xB0" "C", 3}},
};

// [FP-1.3] Kept READINGS frames: one f32 sample with a base time is a 32-byte frame, so 12
// slots hold 12 readings (12 s at 1 Hz) while the hub is away. When the ring is full the oldest
// frame is dropped (stats.dropped_frames) and the device starts a new session at the next resume.
#define FRAME_CAP TF_READINGS_SIZE(1, TF_SAMPLE_SIZE(TF_VT_F32))
static uint8_t ring[TFS_RING_SIZE(12, FRAME_CAP)];
// HELLO, COMMAND_RESULT and HEARTBEAT are built here: the HELLO is 76 bytes.
static uint8_t tx[96];
// [FP-4.5.1] the last 3 command results, so a repeated command id is not run twice
static tfs_result results[3];
static tfs_session session;

// Frame lines from the hub: ACK and ERROR are short; a COMMAND line longer than this is
// dropped (FP-8.4).
#define RX_LINE_CAP 176
// [FP-4.1.5] The largest frame such a line holds ('@', base64, room for a '\r'): 129 bytes. The
// HELLO states it, so the hub never sends a longer COMMAND: it fails one at once instead.
#define MAX_RX_FRAME ((RX_LINE_CAP - 2) / 4 * 3)
static char rx[RX_LINE_CAP];
static size_t rx_len;
static bool rx_overflow;
static uint8_t frame_in[RX_LINE_CAP / 4 * 3];
static char line_out[TF_LINE_SIZE(sizeof tx)];

static uint32_t period_ms = 1000;
static uint32_t last_reading_ms;

// [FP-8.1] one frame per line: '@' + base64 + '\n'
static bool send_line(void *, const uint8_t *frame, size_t len) {
  int n = tf_line_encode(frame, len, line_out, sizeof line_out);
  if (n <= 0) return false;
  Serial.write((const uint8_t *)line_out, (size_t)n);
  return true;
}

static uint32_t clock_ms(void *) {
  return millis();
}

static uint32_t random_session(void *) {
#if defined(ESP32)
  return esp_random();
#else
  return ((uint32_t)random(0x10000) << 16) ^ (uint32_t)random(0x10000) ^ micros();
#endif
}

static bool name_is(tf_str name, const char *s) {
  return name.len == strlen(s) && memcmp(name.ptr, s, name.len) == 0;
}

// Runs once per command id; the module answers repeats from memory.
static void on_command(void *, tfs_session *s, uint32_t id, tf_str name, tf_str args) {
  if (name_is(name, "ping")) {
    tfs_command_result(s, id, TF_STATUS_SUCCEEDED, args); // [FP-4.5.2] the payload echoes the args
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
      tfs_command_result(s, id, TF_STATUS_SUCCEEDED, args);
    } else {
      tfs_command_result(s, id, TF_STATUS_FAILED, tf_cstr("{\"error\":\"hz must be > 0 and <= 50\"}"));
    }
  } else if (name_is(name, "reboot")) {
#if defined(ESP32) || defined(ESP8266)
    tfs_command_result(s, id, TF_STATUS_SUCCEEDED, tf_cstr(""));
    Serial.flush();
    ESP.restart();
#else
    tfs_command_result(s, id, TF_STATUS_FAILED, tf_cstr("{\"error\":\"no software reboot on this board\"}"));
#endif
  } else {
    tfs_command_result(s, id, TF_STATUS_UNKNOWN, tf_cstr(""));
  }
}

// Fake sensor: a slow sine around 21 °C plus a little noise.
static float read_temperature() {
  float t = (float)millis() / 60000.0f;
  return 21.0f + 2.0f * sinf(t * 6.2832f) + (float)random(-10, 11) / 100.0f;
}

static void on_line(const char *line, size_t len) {
  if (len == 0 || line[0] != '@') return; // not a frame line
  int n = tf_line_decode(line, len, frame_in, sizeof frame_in);
  // Serial noise is normal (FP-8.3): the module ignores what does not decode.
  if (n >= 0) tfs_receive(&session, frame_in, (size_t)n);
}

void setup() {
  Serial.begin(115200); // [FP-8.5] 8N1
#if !defined(ESP32)
  randomSeed((unsigned long)analogRead(A0) ^ micros());
#endif
  // Console lines must not start with '@' (FP-8.2).
  Serial.println(F("telemetry_sensor booting"));

  tfs_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.device_id = tf_cstr(DEVICE_ID);
  cfg.firmware = tf_cstr(FIRMWARE);
  cfg.channels = CHANNELS;
  cfg.channel_count = 1;
  cfg.session = random_session(NULL); // [FP-5.1] a new session at every boot
  cfg.max_rx_frame = MAX_RX_FRAME;     // [FP-4.1.5] no COMMAND larger than rx can take
  cfg.ring = ring;
  cfg.ring_size = sizeof ring;
  cfg.frame_cap = FRAME_CAP;
  cfg.tx = tx;
  cfg.tx_cap = sizeof tx;
  cfg.results = results;
  cfg.result_count = 3;
  cfg.send = send_line;
  cfg.now_ms = clock_ms;
  cfg.random32 = random_session;
  cfg.on_command = on_command;
  if (tfs_init(&session, &cfg) != 0) Serial.println(F("telemetry_sensor: bad session config"));
  tfs_link_up(&session); // a serial port is always "up": HELLO now, and whenever the hub asks
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

  tfs_poll(&session); // HELLO retry, ACK timeout, heartbeat, frames waiting for the window

  // Readings start once the first ACK has told us the hub's time, so every frame carries an
  // absolute time and a resent frame keeps its original timestamps (FP-4.2.3).
  uint64_t hub_now;
  uint32_t now = millis();
  if (tfs_hub_time(&session, &hub_now) && now - last_reading_ms >= period_ms) {
    last_reading_ms = now;
    tf_readings_builder b;
    if (tfs_begin(&session, &b, true, hub_now) == 0 && tf_readings_add_f32(&b, CH_TEMPERATURE, 0, read_temperature()) == 0)
      tfs_commit(&session, &b, NULL);
  }
}
