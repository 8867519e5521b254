/*
 * Host test program for the C reference codec (run by firmware.test.ts).
 *
 *   vectors-check FILE     reads one case per line and prints one JSON line per case:
 *       F <label> <hex>    frame that must decode: print it, re-encode it, compare the bytes
 *       L <label> <line>   serial line (FP-8) that must decode: same, for the whole line
 *       M <label> <hex>    any bytes: print the error code; if they decode, the frame and
 *                          its re-encoding ("reencoded": hex), which may normalize ignored
 *                          header bits
 *       N <label> <line>   any serial line: print the error code, and the frame if any
 *     Output: {"label":..,"error":<FP-9 code or 0>,"frame":{..},"reencode":"same"|"FAIL"}
 *     The frame is printed in the shape of the hub's TypeScript Frame objects, so the test
 *     compares it field by field with test-vectors.json or with decodeFrame. Exit status 1
 *     if an F or L case failed.
 *
 *   vectors-check --encode prints frames built with the C encoders ({"label":..,"hex":..}),
 *     a serial line, encoder refusals ({"label":..,"error":..}) and the CRC check value, for
 *     the test to decode with the TypeScript codec.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry_frame.h"

#define LINE_CAP 70000
#define BYTES_CAP 40000

static char line_buf[LINE_CAP];
static uint8_t in_bytes[BYTES_CAP];
static uint8_t out_bytes[BYTES_CAP];
static char out_line[TF_LINE_SIZE(BYTES_CAP)];

/* ---- JSON output ---- */

static void print_str(tf_str s) {
  uint16_t i;
  putchar('"');
  for (i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.ptr[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c); /* the decoder guarantees valid UTF-8 */
  }
  putchar('"');
}

static void print_cstr(const char *s) {
  print_str(tf_cstr(s));
}

/* %.17g round-trips every double exactly through JSON.parse; non-finite values are not JSON,
 * so they go as strings that Number() turns back into numbers. */
static void print_num(double v) {
  if (isnan(v)) printf("\"NaN\"");
  else if (isinf(v)) printf(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  else printf("%.17g", v);
}

static void print_hex(const uint8_t *p, size_t n) {
  size_t i;
  putchar('"');
  for (i = 0; i < n; i++) printf("%02x", p[i]);
  putchar('"');
}

static const char *value_type_name(uint8_t vt) {
  switch (vt) {
  case TF_VT_F32: return "f32";
  case TF_VT_F64: return "f64";
  case TF_VT_I32: return "i32";
  default: return "bool";
  }
}

static const char *status_name(uint8_t status) {
  static const char *const names[] = {"accepted", "succeeded", "failed", "unknown"};
  return names[status & 3u];
}

static void print_frame(const tf_frame *f) {
  tf_iter it;
  switch (f->type) {
  case TF_TYPE_HELLO: {
    tf_channel c;
    bool first = true;
    printf("{\"type\":\"hello\",\"session\":%" PRIu32 ",\"deviceId\":", f->u.hello.session);
    print_str(f->u.hello.device_id);
    printf(",\"firmware\":");
    print_str(f->u.hello.firmware);
    printf(",\"channels\":[");
    for (tf_hello_channels(f, &it); tf_hello_next(&it, &c); first = false) {
      printf("%s{\"id\":%u,\"type\":\"%s\",\"name\":", first ? "" : ",", c.id, value_type_name(c.type));
      print_str(c.name);
      printf(",\"unit\":");
      print_str(c.unit);
      putchar('}');
    }
    putchar(']');
    if (f->u.hello.has_max_frame) printf(",\"maxFrame\":%u", f->u.hello.max_frame);
    putchar('}');
    break;
  }
  case TF_TYPE_READINGS: {
    tf_sample s;
    bool first = true;
    printf("{\"type\":\"readings\",\"seq\":%" PRIu32, f->seq);
    if (f->u.readings.abs_time) printf(",\"baseTime\":%" PRIu64, f->u.readings.base_time);
    printf(",\"samples\":[");
    for (tf_readings_samples(f, &it); tf_readings_next(&it, &s); first = false) {
      printf("%s{\"channel\":%u,\"type\":\"%s\",\"offset\":%" PRId32 ",\"value\":", first ? "" : ",", s.channel,
             value_type_name(s.type), s.offset);
      switch (s.type) {
      case TF_VT_F32: print_num((double)s.value.f32); break;
      case TF_VT_F64: print_num(s.value.f64); break;
      case TF_VT_I32: printf("%" PRId32, s.value.i32); break;
      default: printf(s.value.b ? "true" : "false"); break;
      }
      putchar('}');
    }
    printf("]}");
    break;
  }
  case TF_TYPE_ACK:
    printf("{\"type\":\"ack\",\"ackedSeq\":%" PRIu32 ",\"hubTime\":%" PRIu64 "}", f->u.ack.acked_seq,
           f->u.ack.hub_time);
    break;
  case TF_TYPE_COMMAND:
    printf("{\"type\":\"command\",\"id\":%" PRIu32 ",\"timeoutMs\":%" PRIu32 ",\"name\":", f->u.command.id,
           f->u.command.timeout_ms);
    print_str(f->u.command.name);
    printf(",\"args\":");
    print_str(f->u.command.args);
    putchar('}');
    break;
  case TF_TYPE_COMMAND_RESULT:
    printf("{\"type\":\"command_result\",\"id\":%" PRIu32 ",\"status\":\"%s\",\"payload\":",
           f->u.command_result.id, status_name(f->u.command_result.status));
    print_str(f->u.command_result.payload);
    putchar('}');
    break;
  case TF_TYPE_ERROR:
    printf("{\"type\":\"error\",\"code\":%u,\"text\":", f->u.error.code);
    print_str(f->u.error.text);
    putchar('}');
    break;
  default: printf("{\"type\":\"heartbeat\"}"); break;
  }
}

/* ---- re-encoding from decoded fields ---- */

static int reencode(const tf_frame *f, uint8_t *buf, size_t cap) {
  tf_iter it;
  switch (f->type) {
  case TF_TYPE_HELLO: {
    tf_channel channels[TF_MAX_CHANNELS];
    uint8_t n = 0;
    for (tf_hello_channels(f, &it); n < TF_MAX_CHANNELS && tf_hello_next(&it, &channels[n]); n++) {}
    if (f->u.hello.has_max_frame)
      return tf_encode_hello_max_frame(buf, cap, f->u.hello.session, f->u.hello.device_id, f->u.hello.firmware, channels,
                                       n, f->u.hello.max_frame);
    return tf_encode_hello(buf, cap, f->u.hello.session, f->u.hello.device_id, f->u.hello.firmware, channels, n);
  }
  case TF_TYPE_READINGS: {
    tf_readings_builder b;
    tf_sample s;
    int rc = tf_readings_begin(&b, buf, cap, f->seq, f->u.readings.abs_time, f->u.readings.base_time);
    for (tf_readings_samples(f, &it); rc == 0 && tf_readings_next(&it, &s);) rc = tf_readings_add(&b, &s);
    return rc != 0 ? rc : tf_readings_finish(&b);
  }
  case TF_TYPE_ACK: return tf_encode_ack(buf, cap, f->u.ack.acked_seq, f->u.ack.hub_time);
  case TF_TYPE_COMMAND:
    return tf_encode_command(buf, cap, f->u.command.id, f->u.command.timeout_ms, f->u.command.name,
                             f->u.command.args);
  case TF_TYPE_COMMAND_RESULT:
    return tf_encode_command_result(buf, cap, f->u.command_result.id, f->u.command_result.status,
                                    f->u.command_result.payload);
  case TF_TYPE_ERROR: return tf_encode_error(buf, cap, f->u.error.code, f->u.error.text);
  default: return tf_encode_heartbeat(buf, cap);
  }
}

/* ---- vectors mode ---- */

static int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_hex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = strlen(hex), i;
  if (n % 2 != 0 || n / 2 > cap) return -1;
  for (i = 0; i < n / 2; i++) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return (int)(n / 2);
}

/* Returns 1 if the case failed. */
static int run_case(char kind, const char *label, const char *data) {
  tf_frame f;
  int n, rc, failed = 0;
  printf("{\"label\":");
  print_cstr(label);
  if (kind == 'L' || kind == 'N') {
    n = tf_line_decode(data, strlen(data), in_bytes, sizeof in_bytes);
    rc = n < 0 ? n : tf_decode(in_bytes, (size_t)n, &f);
  } else {
    n = parse_hex(data, in_bytes, sizeof in_bytes);
    if (n < 0) {
      printf(",\"error\":\"unparsable hex\"}\n");
      return 1;
    }
    rc = tf_decode(in_bytes, (size_t)n, &f);
  }
  printf(",\"error\":%d", -rc);
  if (rc == 0) {
    printf(",\"frame\":");
    print_frame(&f);
  }
  if (kind == 'F' || kind == 'L') {
    int m = rc == 0 ? reencode(&f, out_bytes, sizeof out_bytes) : rc;
    bool same;
    if (m > 0 && kind == 'L') {
      /* the re-encoded line must equal the input, minus a tolerated "\r", plus "\n" */
      size_t len = strlen(data);
      int k = tf_line_encode(out_bytes, (size_t)m, out_line, sizeof out_line);
      if (len && data[len - 1] == '\r') len--;
      same = k > 0 && (size_t)k == len + 1 && memcmp(out_line, data, len) == 0 && out_line[len] == '\n';
    } else {
      same = m == n && memcmp(out_bytes, in_bytes, (size_t)n) == 0;
    }
    printf(",\"reencode\":\"%s\"", same ? "same" : "FAIL");
    if (!same && m > 0) {
      printf(",\"reencoded\":");
      print_hex(out_bytes, (size_t)m);
    }
    failed = !same;
  } else if (kind == 'M' && rc == 0) {
    int m = reencode(&f, out_bytes, sizeof out_bytes);
    if (m < 0) printf(",\"reencodeError\":%d", -m);
    else {
      printf(",\"reencoded\":");
      print_hex(out_bytes, (size_t)m);
    }
  }
  printf("}\n");
  return failed;
}

static int run_file(const char *path) {
  FILE *in = fopen(path, "r");
  int failures = 0;
  if (!in) {
    perror(path);
    return 2;
  }
  while (fgets(line_buf, sizeof line_buf, in)) {
    size_t len = strlen(line_buf);
    char *label, *data;
    if (len && line_buf[len - 1] == '\n') line_buf[--len] = '\0';
    else if (!feof(in)) {
      fprintf(stderr, "vectors-check: line longer than %d characters\n", LINE_CAP - 2);
      return 2;
    }
    if (len == 0) continue;
    label = strchr(line_buf, ' ');
    data = label ? strchr(label + 1, ' ') : NULL;
    if (len < 2 || line_buf[1] != ' ' || !strchr("FLMN", line_buf[0]) || !data) {
      fprintf(stderr, "vectors-check: bad input line: %.40s\n", line_buf);
      return 2;
    }
    *data++ = '\0';
    failures += run_case(line_buf[0], label + 1, data);
  }
  fclose(in);
  if (failures) fprintf(stderr, "vectors-check: %d failure(s)\n", failures);
  return failures ? 1 : 0;
}

/* ---- encode mode ---- */

static void emit_frame(const char *label, int n) {
  printf("{\"label\":");
  print_cstr(label);
  if (n < 0) printf(",\"error\":%d}\n", -n);
  else {
    printf(",\"hex\":");
    print_hex(out_bytes, (size_t)n);
    printf("}\n");
  }
}

static void emit_error(const char *label, int rc) {
  printf("{\"label\":");
  print_cstr(label);
  printf(",\"error\":%d}\n", rc < 0 ? -rc : 0);
}

static int run_encode(void) {
  static const uint8_t check[] = "123456789";
  const tf_channel channels[] = {
      {0, TF_VT_F32, {"temperature", 11}, {"\xc2\xb0" "C", 3}}, /* "°C" */
      {1, TF_VT_F64, {"humidity", 8}, {"%", 1}},
      {7, TF_VT_I32, {"count", 5}, {"", 0}},
      {255, TF_VT_BOOL, {"door", 4}, {"", 0}},
  };
  const tf_sample arrival[] = {
      {0, TF_VT_F32, -1000, {0}},
      {7, TF_VT_I32, 0, {0}},
  };
  tf_sample samples[2];
  tf_channel many[TF_MAX_CHANNELS + 1];
  tf_readings_builder b;
  char long_text[302];
  char names[TF_MAX_CHANNELS + 1][4];
  int n, i, added;

  printf("{\"label\":\"crc-check\",\"value\":%u}\n", tf_crc16(check, 9));

  n = tf_encode_hello(out_bytes, sizeof out_bytes, 0xDEADBEEFu, tf_cstr("esp32-kitchen:01"), tf_cstr("2.1.0-rc1"),
                      channels, 4);
  emit_frame("hello", n);
  if (n > 0) {
    tf_line_encode(out_bytes, (size_t)n, out_line, sizeof out_line);
    out_line[strlen(out_line) - 1] = '\0'; /* the line's '\n' is not part of the JSON value */
    printf("{\"label\":\"hello-line\",\"line\":");
    print_cstr(out_line);
    printf("}\n");
  }

  /* [FP-4.1.5] the same HELLO ending in a max receive frame: the smallest allowed, and 0 */
  emit_frame("hello-max-frame", tf_encode_hello_max_frame(out_bytes, sizeof out_bytes, 0xDEADBEEFu,
                                                          tf_cstr("esp32-kitchen:01"), tf_cstr("2.1.0-rc1"), channels,
                                                          4, TF_MIN_RX_FRAME));
  emit_frame("hello-max-frame-0", tf_encode_hello_max_frame(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""),
                                                            NULL, 0, 0));
  emit_error("refuse-max-frame-63", tf_encode_hello_max_frame(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""),
                                                              NULL, 0, TF_MIN_RX_FRAME - 1));

  /* all four value types, absolute time, extreme offsets and values, via the builder */
  tf_readings_begin(&b, out_bytes, sizeof out_bytes, 42, true, 1732550400000u);
  tf_readings_add_f32(&b, 0, -1500, 21.25f);
  tf_readings_add_f32(&b, 0, -500, 0.1f);
  tf_readings_add_f64(&b, 1, INT32_MIN, 3.141592653589793);
  tf_readings_add_i32(&b, 7, INT32_MAX, INT32_MIN);
  tf_readings_add_bool(&b, 255, -1, false);
  tf_readings_add_bool(&b, 255, 0, true);
  emit_frame("readings-abs", tf_readings_finish(&b));

  memcpy(samples, arrival, sizeof samples);
  samples[0].value.f32 = -0.5f;
  samples[1].value.i32 = 123456;
  emit_frame("readings-arrival", tf_encode_readings(out_bytes, sizeof out_bytes, 0xFFFFFFFFu, false, 0, samples, 2));

  emit_frame("ack", tf_encode_ack(out_bytes, sizeof out_bytes, 7, 1732550400123u));
  emit_frame("command", tf_encode_command(out_bytes, sizeof out_bytes, 0xFFFFFFFEu, 30000, tf_cstr("set-rate"),
                                          tf_cstr("{\"hz\":0.5}")));
  emit_frame("command-result",
             tf_encode_command_result(out_bytes, sizeof out_bytes, 9, TF_STATUS_FAILED,
                                      tf_cstr("{\"error\":\"temp\xc3\xa9rature trop \xc3\xa9lev\xc3\xa9" "e\"}")));
  /* 301 bytes: "x" then 150 "é"; the cut must not split a character */
  long_text[0] = 'x';
  for (i = 0; i < 150; i++) {
    long_text[1 + 2 * i] = (char)0xC3;
    long_text[2 + 2 * i] = (char)0xA9;
  }
  long_text[301] = '\0';
  emit_frame("error-long", tf_encode_error(out_bytes, sizeof out_bytes, TF_ERR_BAD_VALUE, tf_cstr(long_text)));
  emit_frame("heartbeat", tf_encode_heartbeat(out_bytes, sizeof out_bytes));

  /* a full builder stays a valid frame: finish it and start the next one */
  tf_readings_begin(&b, out_bytes, 40, 5, false, 0);
  for (added = 0; tf_readings_add_f32(&b, 3, added, (float)added) == 0; added++) {}
  emit_frame("readings-full-buffer", tf_readings_finish(&b));

  /* the payload limit: as many f64 samples as fit in 16384 bytes */
  tf_readings_begin(&b, out_bytes, sizeof out_bytes, 6, false, 0);
  for (added = 0; added < 5000 && tf_readings_add_f64(&b, 1, 0, added) == 0; added++) {}
  emit_error("readings-limit-add", tf_readings_add_f64(&b, 1, 0, 0));
  printf("{\"label\":\"readings-limit-count\",\"value\":%d}\n", added);
  emit_frame("readings-limit", tf_readings_finish(&b));

  /* encoders refuse what the hub would refuse [FP-3.4] */
  emit_error("refuse-device-id", tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("has space"),
                                                 tf_cstr(""), NULL, 0));
  emit_error("refuse-empty-device-id",
             tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr(""), tf_cstr(""), NULL, 0));
  memcpy(many, channels, sizeof channels);
  many[1].id = 0;
  emit_error("refuse-duplicate-channel",
             tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""), many, 2));
  memcpy(many, channels, sizeof channels);
  many[0].name = tf_cstr("");
  emit_error("refuse-empty-channel-name",
             tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""), many, 1));
  memcpy(many, channels, sizeof channels);
  many[0].unit = tf_cstr("12345678901234567");
  emit_error("refuse-long-unit", tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""), many, 1));
  memcpy(many, channels, sizeof channels);
  many[0].type = 9;
  emit_error("refuse-channel-type",
             tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""), many, 1));
  emit_error("refuse-bad-utf8", tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("d"),
                                                tf_cstr("\xc0\x80"), NULL, 0));
  for (i = 0; i <= TF_MAX_CHANNELS; i++) {
    many[i] = channels[0];
    many[i].id = (uint8_t)i;
    snprintf(names[i], sizeof names[i], "c%d", i);
    many[i].name = tf_cstr(names[i]);
  }
  emit_error("refuse-65-channels", tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""), many,
                                                   TF_MAX_CHANNELS + 1));
  emit_error("accept-64-channels", tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""), many,
                                                   TF_MAX_CHANNELS) > 0 ? 0 : -1);
  memcpy(samples, arrival, sizeof samples);
  samples[1].type = 5;
  emit_error("refuse-sample-type", tf_encode_readings(out_bytes, sizeof out_bytes, 1, false, 0, samples, 2));
  emit_error("refuse-no-samples", tf_encode_readings(out_bytes, sizeof out_bytes, 1, false, 0, samples, 0));
  emit_error("refuse-empty-command-name",
             tf_encode_command(out_bytes, sizeof out_bytes, 1, 1, tf_cstr(""), tf_cstr("")));
  emit_error("refuse-command-status",
             tf_encode_command_result(out_bytes, sizeof out_bytes, 1, 4, tf_cstr("")));
  memcpy(many, channels, sizeof channels);
  many[1].name = many[0].name;
  emit_error("refuse-duplicate-name",
             tf_encode_hello(out_bytes, sizeof out_bytes, 1, tf_cstr("d"), tf_cstr(""), many, 2));
  memcpy(samples, arrival, sizeof samples);
  emit_error("refuse-seq-0", tf_encode_readings(out_bytes, sizeof out_bytes, 0, false, 0, samples, 2));
  emit_error("refuse-seq-0-builder", tf_readings_begin(&b, out_bytes, sizeof out_bytes, 0, false, 0));
  emit_error("refuse-time-2^53",
             tf_encode_readings(out_bytes, sizeof out_bytes, 1, true, TF_TIME_LIMIT, samples, 2));
  emit_error("refuse-time-2^53-builder", tf_readings_begin(&b, out_bytes, sizeof out_bytes, 1, true, TF_TIME_LIMIT));
  emit_frame("accept-time-2^53-1", tf_encode_readings(out_bytes, sizeof out_bytes, 1, true, TF_TIME_LIMIT - 1, samples, 2));
  emit_error("refuse-ack-time-2^53", tf_encode_ack(out_bytes, sizeof out_bytes, 1, TF_TIME_LIMIT));
  emit_frame("accept-ack-time-2^53-1", tf_encode_ack(out_bytes, sizeof out_bytes, 1, TF_TIME_LIMIT - 1));
  emit_error("refuse-small-buffer", tf_encode_heartbeat(out_bytes, TF_HEADER_SIZE + 1));
  emit_error("refuse-small-line-buffer", tf_line_encode(out_bytes, 12, out_line, TF_LINE_SIZE(12) - 1));
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--encode") == 0) return run_encode();
  if (argc == 2) return run_file(argv[1]);
  fprintf(stderr, "usage: vectors-check FILE | vectors-check --encode\n");
  return 2;
}
