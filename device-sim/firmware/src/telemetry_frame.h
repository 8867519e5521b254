/*
 * telemetry_frame: reference encoder/decoder for the telemetry hub firmware protocol,
 * version 1 (firmware-protocol.md). C99, no heap, no stdio: every buffer belongs to the
 * caller, so it fits an Arduino or ESP32 sketch as well as a host program.
 *
 * Conventions
 *   - Encoders write a whole frame into `buf` (capacity `cap`) and return its length in
 *     bytes, or a negative error: -TF_ERR_BAD_PAYLOAD for field values the hub would refuse
 *     (FP-3.4), -TF_ERR_TOO_LARGE for a payload over 16384 bytes, -TF_ERR_NO_SPACE when
 *     `cap` is too small. Lengths fit an `int` even where int is 16 bits (AVR).
 *   - Encoders and decoder enforce every limit the hub enforces on a frame: FP-3.4 sizes and
 *     counts, times below 2^53 ms, READINGS seq >= 1 (FP-5.1), channel ids and channel names
 *     unique within a HELLO (FP-4.1, FP-4.1.4). What one encodes, the hub decodes; what the
 *     hub would refuse, they refuse with the hub's code (FP_ERR_BAD_PAYLOAD).
 *   - tf_decode returns 0 or the negative FP-9 code of the first failed check, in the
 *     order of FP-3.5. The decoded frame points into the input buffer: keep that buffer
 *     alive and unchanged while you use the frame.
 *   - Strings are pointer + byte length (tf_str), never NUL-terminated, because decoded
 *     strings are slices of the frame. Wrap a C string with tf_cstr("...").
 */
#ifndef TELEMETRY_FRAME_H
#define TELEMETRY_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* [FP-3] layout and [FP-3.4] limits */
#define TF_PROTOCOL_VERSION 1
#define TF_HEADER_SIZE 10
#define TF_CHECKSUM_SIZE 2
#define TF_MAX_PAYLOAD 16384
#define TF_MAX_FRAME (TF_HEADER_SIZE + TF_MAX_PAYLOAD + TF_CHECKSUM_SIZE)
#define TF_MAX_CHANNELS 64
#define TF_MAX_DEVICE_ID 64
#define TF_MAX_NAME 64 /* channel name and command name */
#define TF_MAX_UNIT 16
#define TF_MAX_FIRMWARE 64
#define TF_MAX_COMMAND_TEXT 4096 /* command args and result payload */
#define TF_MAX_ERROR_TEXT 255
/* [FP-4.1.5] smallest max receive frame a HELLO may state (0 means the protocol maximum) */
#define TF_MIN_RX_FRAME 64
/* Times (READINGS base time, ACK hub time) must be below 2^53 ms, the year 287,396. */
#define TF_TIME_LIMIT ((uint64_t)1 << 53)
/* [FP-8.4] longest base64 body (characters after '@') a receiver reads */
#define TF_MAX_LINE 21870

/* Buffer size for tf_line_encode of a frame of `frame_len` bytes: '@', base64, '\n', NUL. */
#define TF_LINE_SIZE(frame_len) (1 + 4 * (((frame_len) + 2) / 3) + 1 + 1)
/* Frame size of a READINGS frame holding `payload` bytes of samples (see TF_SAMPLE_SIZE). */
#define TF_READINGS_SIZE(abs_time, payload) \
  (TF_HEADER_SIZE + ((abs_time) ? 8 : 0) + 2 + (payload) + TF_CHECKSUM_SIZE)

/* [FP-4] frame types */
#define TF_TYPE_HELLO 0x01
#define TF_TYPE_READINGS 0x02
#define TF_TYPE_ACK 0x03
#define TF_TYPE_COMMAND 0x04
#define TF_TYPE_COMMAND_RESULT 0x05
#define TF_TYPE_ERROR 0x06
#define TF_TYPE_HEARTBEAT 0x07

/* [FP-4.2] READINGS header flag */
#define TF_FLAG_ABS_TIME 0x01

/* [FP-4.2.1] value types */
#define TF_VT_F32 0x01
#define TF_VT_F64 0x02
#define TF_VT_I32 0x03
#define TF_VT_BOOL 0x04
/* Bytes of one sample on the wire: channel, type, offset, value. 0 for an unknown type. */
#define TF_SAMPLE_SIZE(vt) \
  ((vt) == TF_VT_F64 ? 14 : (vt) == TF_VT_BOOL ? 7 : ((vt) == TF_VT_F32 || (vt) == TF_VT_I32) ? 10 : 0)

/* [FP-4.5] command status */
#define TF_STATUS_ACCEPTED 0
#define TF_STATUS_SUCCEEDED 1
#define TF_STATUS_FAILED 2
#define TF_STATUS_UNKNOWN 3

/* [FP-9] error codes; the numbers are the wire values */
#define TF_ERR_TRUNCATED 1
#define TF_ERR_BAD_VERSION 2
#define TF_ERR_BAD_TYPE 3
#define TF_ERR_BAD_LENGTH 4
#define TF_ERR_TOO_LARGE 5
#define TF_ERR_BAD_CHECKSUM 6
#define TF_ERR_BAD_PAYLOAD 7
#define TF_ERR_BAD_LINE 8
#define TF_ERR_NO_HELLO 21
#define TF_ERR_DEVICE_MISMATCH 22
#define TF_ERR_UNKNOWN_CHANNEL 23
#define TF_ERR_BAD_VALUE 24
#define TF_ERR_BAD_TIME 25
#define TF_ERR_RATE_LIMIT 26
#define TF_ERR_REPLACED 27
#define TF_ERR_UNKNOWN_DEVICE 28
#define TF_ERR_STORE_UNAVAILABLE 29
#define TF_ERR_SHUTDOWN 30
#define TF_ERR_NOT_READING 31
#define TF_ERR_TOO_MANY_CHANNELS 32
#define TF_ERR_DEVICE_LIMIT 33
#define TF_ERR_STORE_REJECTED 34
/* Library-only: the caller's buffer is too small. Not an FP-9 code; never sent. */
#define TF_ERR_NO_SPACE 100

/* UTF-8 text as pointer + byte count. Not NUL-terminated. */
typedef struct {
  const char *ptr;
  uint16_t len;
} tf_str;

/* [FP-4.1] one channel descriptor of a HELLO */
typedef struct {
  uint8_t id;
  uint8_t type; /* TF_VT_* */
  tf_str name;  /* 1-64 bytes */
  tf_str unit;  /* 0-16 bytes */
} tf_channel;

/* The member that matches the sample's type is the one that counts. On a target whose
 * double is 32 bits (AVR), f64 values are converted to/from binary64 on the wire. */
typedef union {
  float f32;
  double f64;
  int32_t i32;
  bool b;
} tf_value;

/* [FP-4.2] one sample of a READINGS */
typedef struct {
  uint8_t channel;
  uint8_t type;   /* TF_VT_* */
  int32_t offset; /* ms added to the base time, or to the arrival time without ABS_TIME */
  tf_value value;
} tf_sample;

/* Walks the channels of a decoded HELLO or the samples of a decoded READINGS. */
typedef struct {
  const uint8_t *pos;
  uint16_t left;
} tf_iter;

/* A decoded frame. `u` holds the member named after `type`; HEARTBEAT has none. */
typedef struct {
  uint8_t type;
  uint8_t flags;
  uint32_t seq;
  union {
    struct {
      uint32_t session;
      tf_str device_id;
      tf_str firmware;
      uint8_t channel_count;
      const uint8_t *channels; /* use tf_hello_channels */
      bool has_max_frame;      /* the HELLO carries the optional max receive frame [FP-4.1.5] */
      uint16_t max_frame;      /* its value (0: the protocol maximum); 0 without the field */
    } hello;
    struct {
      bool abs_time;
      uint64_t base_time; /* 0 unless abs_time */
      uint16_t count;
      const uint8_t *samples; /* use tf_readings_samples */
    } readings;
    struct {
      uint32_t acked_seq;
      uint64_t hub_time;
    } ack;
    struct {
      uint32_t id;
      uint32_t timeout_ms;
      tf_str name;
      tf_str args;
    } command;
    struct {
      uint32_t id;
      uint8_t status; /* TF_STATUS_* */
      tf_str payload;
    } command_result;
    struct {
      uint16_t code;
      tf_str text;
    } error;
  } u;
} tf_frame;

/* Incremental READINGS encoder: firmware batches samples as they come. */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;     /* bytes written so far: header, base time, count, samples */
  uint16_t count; /* samples added */
  bool abs_time;
} tf_readings_builder;

/* [FP-3.3] CRC-16/CCITT-FALSE over n bytes. */
uint16_t tf_crc16(const uint8_t *p, size_t n);

/* Wraps a NUL-terminated C string (no copy). */
tf_str tf_cstr(const char *s);

/* "FP_ERR_..." for an FP-9 code (positive or negative), "TF_ERR_NO_SPACE", or "?".
 * Define TF_NO_ERROR_NAMES to leave the name table out (small AVR parts): it then returns "?". */
const char *tf_error_name(int code);

/* [FP-4.1] HELLO. Channel ids and names must be unique; device id is 1-64 of A-Z a-z 0-9 . _ - : */
int tf_encode_hello(uint8_t *buf, size_t cap, uint32_t session, tf_str device_id, tf_str firmware,
                    const tf_channel *channels, uint8_t channel_count);
/* [FP-4.1.5] HELLO ending in the optional max receive frame: the largest frame the device can
 * receive, in bytes, header and checksum included (0: the protocol maximum). 1-63 are refused
 * with -TF_ERR_BAD_PAYLOAD. The hub then never sends a COMMAND larger than that. */
int tf_encode_hello_max_frame(uint8_t *buf, size_t cap, uint32_t session, tf_str device_id, tf_str firmware,
                              const tf_channel *channels, uint8_t channel_count, uint16_t max_frame);

/* [FP-4.2] READINGS in one call. Without abs_time, base_time is ignored and the hub stamps
 * the samples on arrival (FP-4.2.2). seq 0 and a base time >= TF_TIME_LIMIT are refused. */
int tf_encode_readings(uint8_t *buf, size_t cap, uint32_t seq, bool abs_time, uint64_t base_time,
                       const tf_sample *samples, uint16_t count);

/* [FP-4.2] READINGS sample by sample. begin returns 0, -TF_ERR_BAD_PAYLOAD (seq 0, base time
 * >= TF_TIME_LIMIT) or -TF_ERR_NO_SPACE. add returns 0,
 * or a negative error and leaves the frame as it was, so on -TF_ERR_NO_SPACE or
 * -TF_ERR_TOO_LARGE the caller can finish this frame and put the sample in the next one.
 * finish returns the frame length (at least one sample is required) and is called once. */
int tf_readings_begin(tf_readings_builder *b, uint8_t *buf, size_t cap, uint32_t seq, bool abs_time,
                      uint64_t base_time);
int tf_readings_add(tf_readings_builder *b, const tf_sample *s);
int tf_readings_add_f32(tf_readings_builder *b, uint8_t channel, int32_t offset, float v);
int tf_readings_add_f64(tf_readings_builder *b, uint8_t channel, int32_t offset, double v);
int tf_readings_add_i32(tf_readings_builder *b, uint8_t channel, int32_t offset, int32_t v);
int tf_readings_add_bool(tf_readings_builder *b, uint8_t channel, int32_t offset, bool v);
int tf_readings_finish(tf_readings_builder *b);

/* [FP-4.3] ACK (hub -> device; here for hub simulators and tests). */
int tf_encode_ack(uint8_t *buf, size_t cap, uint32_t acked_seq, uint64_t hub_time);
/* [FP-4.4] COMMAND (hub -> device; here for hub simulators and tests). */
int tf_encode_command(uint8_t *buf, size_t cap, uint32_t id, uint32_t timeout_ms, tf_str name, tf_str args);
/* [FP-4.5] COMMAND_RESULT */
int tf_encode_command_result(uint8_t *buf, size_t cap, uint32_t id, uint8_t status, tf_str payload);
/* [FP-4.6] ERROR. Text over 255 bytes is cut at a character boundary and ends in "…". */
int tf_encode_error(uint8_t *buf, size_t cap, uint16_t code, tf_str text);
/* [FP-4.7] HEARTBEAT: always 12 bytes. */
int tf_encode_heartbeat(uint8_t *buf, size_t cap);

/* [FP-3.5] Decodes exactly one frame: 0, or the negative FP-9 code (e.g. -6 bad checksum). */
int tf_decode(const uint8_t *buf, size_t len, tf_frame *out);

/* Iterate a frame tf_decode accepted: next returns false after the last item. */
void tf_hello_channels(const tf_frame *f, tf_iter *it);
bool tf_hello_next(tf_iter *it, tf_channel *out);
void tf_readings_samples(const tf_frame *f, tf_iter *it);
bool tf_readings_next(tf_iter *it, tf_sample *out);

/* [FP-8.1] Writes '@' + base64(frame) + '\n' and a terminating NUL into `out`; returns the
 * line length without the NUL (ready for Serial.write), or -TF_ERR_NO_SPACE. */
int tf_line_encode(const uint8_t *frame, size_t n, char *out, size_t cap);

/* [FP-8] Decodes one frame line (with or without its trailing "\r\n" / "\n") into `out`;
 * returns the frame's byte count, to be passed to tf_decode. Errors: -TF_ERR_BAD_LINE if
 * the line does not start with '@' or is not base64; -TF_ERR_TOO_LARGE for a body over
 * TF_MAX_LINE characters or a frame over TF_MAX_FRAME bytes; -TF_ERR_NO_SPACE.
 * Lines that do not start with '@' are console output (FP-8.2): check line[0] first. */
int tf_line_decode(const char *line, size_t len, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* TELEMETRY_FRAME_H */
