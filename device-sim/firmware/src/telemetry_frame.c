/*
 * telemetry_frame: see telemetry_frame.h and firmware-protocol.md.
 *
 * Every multi-byte field is read and written one byte at a time with shifts, so the code
 * is right on any host byte order and never makes an unaligned access (FP-2.1).
 */
#include "telemetry_frame.h"

#include <float.h>
#include <string.h>

/* Floats are moved through integers of the same size; that needs binary32 floats (FP-2.2). */
typedef char tf_float_must_be_32_bits[(sizeof(float) == 4 && FLT_MANT_DIG == 24) ? 1 : -1];

/* Where double is not binary64 (AVR: 32-bit double) f64 goes through float and is converted
 * by hand. Define TF_SOFT_DOUBLE=1 to force that path on a host, to test it. */
#ifndef TF_SOFT_DOUBLE
#if DBL_MANT_DIG == 53
#define TF_SOFT_DOUBLE 0
#else
#define TF_SOFT_DOUBLE 1
#endif
#endif

/* ---- little-endian byte access [FP-2.1] ---- */

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)((v >> 8) & 0xFFu);
  p[2] = (uint8_t)((v >> 16) & 0xFFu);
  p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
  put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Casts to unsigned before shifting: a uint8_t promotes to int, which is 16 bits on AVR. */
static uint16_t get_u16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] | ((unsigned)p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

/* Two's complement on the wire; the unsigned detour keeps the conversion defined in C. */
static int32_t get_i32(const uint8_t *p) {
  uint32_t u = get_u32(p);
  return u <= 0x7FFFFFFFu ? (int32_t)u : (int32_t)(u - 0x80000000u) - (int32_t)0x7FFFFFFF - 1;
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

#if TF_SOFT_DOUBLE
/* binary32 -> binary64 bit pattern: exact, every float is a double. */
static uint64_t f64_bits_from_f32(uint32_t b) {
  uint64_t sign = (uint64_t)(b >> 31) << 63;
  uint32_t exp = (b >> 23) & 0xFFu;
  uint32_t man = b & 0x7FFFFFu;
  int32_t e;
  if (exp == 0xFFu) return sign | 0x7FF0000000000000u | ((uint64_t)man << 29); /* inf, NaN */
  if (exp == 0) {
    if (man == 0) return sign;
    e = -126; /* a binary32 subnormal is a normal binary64: shift the leading 1 into place */
    while (!(man & 0x800000u)) {
      man <<= 1;
      e--;
    }
    man &= 0x7FFFFFu;
  } else {
    e = (int32_t)exp - 127;
  }
  return sign | ((uint64_t)(e + 1023) << 52) | ((uint64_t)man << 29);
}

/* binary64 -> binary32 bit pattern, rounded to nearest, ties to even (as a host cast does). */
static uint32_t f32_bits_from_f64(uint64_t b) {
  uint32_t sign = (uint32_t)(b >> 63) << 31;
  int32_t exp = (int32_t)((b >> 52) & 0x7FFu);
  uint64_t man = b & 0xFFFFFFFFFFFFFu;
  int32_t e = exp - 1023 + 127;
  uint64_t full, rest, half;
  uint32_t bits;
  unsigned shift;
  if (exp == 0x7FF) return sign | 0x7F800000u | (man ? 0x400000u | (uint32_t)(man >> 29) : 0u);
  if (exp == 0 || e < -23) return sign; /* below half the smallest binary32 subnormal */
  if (e >= 0xFF) return sign | 0x7F800000u;
  full = man | ((uint64_t)1 << 52);
  if (e >= 1) {
    shift = 29;
    bits = ((uint32_t)e << 23) | (uint32_t)((full >> 29) & 0x7FFFFFu);
  } else {
    shift = (unsigned)(30 - e); /* subnormal result: mantissa scaled by 2^-149 */
    bits = (uint32_t)(full >> shift);
  }
  rest = full & (((uint64_t)1 << shift) - 1);
  half = (uint64_t)1 << (shift - 1);
  /* A carry out of the mantissa correctly bumps the exponent, up to infinity. */
  if (rest > half || (rest == half && (bits & 1u))) bits++;
  return sign | bits;
}
#endif

static void put_f64(uint8_t *p, double v) {
#if TF_SOFT_DOUBLE
  put_u64(p, f64_bits_from_f32(f32_bits((float)v)));
#else
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  put_u64(p, u);
#endif
}

static double get_f64(const uint8_t *p) {
#if TF_SOFT_DOUBLE
  return (double)f32_from_bits(f32_bits_from_f64(get_u64(p)));
#else
  uint64_t u = get_u64(p);
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
#endif
}

/* ---- shared checks ---- */

uint16_t tf_crc16(const uint8_t *p, size_t n) {
  /* [FP-3.3] bitwise: a 512-byte table costs too much RAM on small boards */
  uint16_t crc = 0xFFFFu;
  while (n--) {
    int i;
    crc ^= (uint16_t)((unsigned)*p++ << 8);
    for (i = 0; i < 8; i++) crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
  }
  return crc;
}

tf_str tf_cstr(const char *s) {
  tf_str r;
  size_t n = s ? strlen(s) : 0;
  r.ptr = s;
  /* Clamped lengths still fail every FP-3.4 limit, so nothing over-long is ever sent. */
  r.len = (uint16_t)(n > 0xFFFFu ? 0xFFFFu : n);
  return r;
}

/* [FP-2.3] Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
 * The hub decodes with a fatal decoder, so anything looser would be refused there. */
static bool utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k, more;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) more = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      if (c == 0xE0) lo = 0xA0;      /* overlong */
      else if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      if (c == 0xF0) lo = 0x90;      /* overlong */
      else if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
    } else return false;
    if (n - i <= more) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (k = 2; k <= more; k++)
      if ((s[i + k] & 0xC0) != 0x80) return false;
    i += more + 1;
  }
  return true;
}

static bool str_ok(tf_str s, uint16_t min, uint16_t max) {
  if (s.len < min || s.len > max) return false;
  return s.len == 0 || (s.ptr && utf8_valid((const uint8_t *)s.ptr, s.len));
}

/* [FP-3.4] device id: 1-64 bytes of A-Z a-z 0-9 . _ - : */
static bool device_id_ok(tf_str s) {
  uint16_t i;
  if (s.len < 1 || s.len > TF_MAX_DEVICE_ID || !s.ptr) return false;
  for (i = 0; i < s.len; i++) {
    char c = s.ptr[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-' || c == ':'))
      return false;
  }
  return true;
}

/* [FP-3.4] times (READINGS base time, ACK hub time) below 2^53 ms, so every receiver holds them exactly */
static bool time_ok(uint64_t t) {
  return t < TF_TIME_LIMIT;
}

static bool same_str(tf_str a, tf_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool value_type_ok(uint8_t vt) {
  return vt >= TF_VT_F32 && vt <= TF_VT_BOOL;
}

/* ---- encoding ---- */

/* Checks the payload size against FP-3.4 and the caller's buffer before anything is written. */
static int check_room(size_t payload, size_t cap) {
  if (payload > TF_MAX_PAYLOAD) return -TF_ERR_TOO_LARGE;
  if (cap < TF_HEADER_SIZE + payload + TF_CHECKSUM_SIZE) return -TF_ERR_NO_SPACE;
  return 0;
}

/* Writes the header around a payload already at buf + 10, then the checksum. [FP-3] */
static int seal(uint8_t *buf, uint8_t type, uint8_t flags, uint32_t seq, size_t payload) {
  buf[0] = TF_PROTOCOL_VERSION;
  buf[1] = type;
  buf[2] = flags;
  buf[3] = 0; /* reserved */
  put_u32(buf + 4, seq);
  put_u16(buf + 8, (uint16_t)payload);
  put_u16(buf + TF_HEADER_SIZE + payload, tf_crc16(buf, TF_HEADER_SIZE + payload));
  return (int)(TF_HEADER_SIZE + payload + TF_CHECKSUM_SIZE);
}

static uint8_t *put_str8(uint8_t *p, tf_str s) {
  *p++ = (uint8_t)s.len;
  if (s.len) memcpy(p, s.ptr, s.len);
  return p + s.len;
}

static uint8_t *put_str16(uint8_t *p, tf_str s) {
  put_u16(p, s.len);
  if (s.len) memcpy(p + 2, s.ptr, s.len);
  return p + 2 + s.len;
}

/* [FP-4.1.5] 0 (the protocol maximum) or at least TF_MIN_RX_FRAME */
static bool max_frame_ok(uint16_t n) {
  return n == 0 || n >= TF_MIN_RX_FRAME;
}

/* with_max: whether the HELLO ends in the optional max receive frame */
static int encode_hello(uint8_t *buf, size_t cap, uint32_t session, tf_str device_id, tf_str firmware,
                        const tf_channel *channels, uint8_t channel_count, bool with_max, uint16_t max_frame) {
  uint8_t seen[32] = {0}; /* one bit per channel id, for FP-4.1 uniqueness */
  size_t payload = 4 + 1 + (size_t)device_id.len + 1 + (size_t)firmware.len + 1 + (with_max ? 2u : 0u);
  uint8_t *p;
  uint8_t i;
  int rc;
  if (!device_id_ok(device_id) || !str_ok(firmware, 0, TF_MAX_FIRMWARE)) return -TF_ERR_BAD_PAYLOAD;
  if (with_max && !max_frame_ok(max_frame)) return -TF_ERR_BAD_PAYLOAD;
  if (channel_count > TF_MAX_CHANNELS || (channel_count && !channels)) return -TF_ERR_BAD_PAYLOAD;
  for (i = 0; i < channel_count; i++) {
    const tf_channel *c = &channels[i];
    uint8_t bit = (uint8_t)(1u << (c->id & 7u));
    if (seen[c->id >> 3] & bit) return -TF_ERR_BAD_PAYLOAD;
    seen[c->id >> 3] |= bit;
    if (!value_type_ok(c->type) || !str_ok(c->name, 1, TF_MAX_NAME) || !str_ok(c->unit, 0, TF_MAX_UNIT))
      return -TF_ERR_BAD_PAYLOAD;
    {
      /* [FP-4.1.4] names are unique within a HELLO (the hub checks this after decoding) */
      uint8_t j;
      for (j = 0; j < i; j++)
        if (same_str(channels[j].name, c->name)) return -TF_ERR_BAD_PAYLOAD;
    }
    payload += 2 + 1 + (size_t)c->name.len + 1 + (size_t)c->unit.len;
  }
  if ((rc = check_room(payload, cap)) != 0) return rc;
  p = buf + TF_HEADER_SIZE;
  put_u32(p, session);
  p = put_str8(p + 4, device_id);
  p = put_str8(p, firmware);
  *p++ = channel_count;
  for (i = 0; i < channel_count; i++) {
    *p++ = channels[i].id;
    *p++ = channels[i].type;
    p = put_str8(p, channels[i].name);
    p = put_str8(p, channels[i].unit);
  }
  if (with_max) put_u16(p, max_frame);
  return seal(buf, TF_TYPE_HELLO, 0, 0, payload);
}

int tf_encode_hello(uint8_t *buf, size_t cap, uint32_t session, tf_str device_id, tf_str firmware,
                    const tf_channel *channels, uint8_t channel_count) {
  return encode_hello(buf, cap, session, device_id, firmware, channels, channel_count, false, 0);
}

int tf_encode_hello_max_frame(uint8_t *buf, size_t cap, uint32_t session, tf_str device_id, tf_str firmware,
                              const tf_channel *channels, uint8_t channel_count, uint16_t max_frame) {
  return encode_hello(buf, cap, session, device_id, firmware, channels, channel_count, true, max_frame);
}

int tf_readings_begin(tf_readings_builder *b, uint8_t *buf, size_t cap, uint32_t seq, bool abs_time,
                      uint64_t base_time) {
  size_t head = TF_HEADER_SIZE + (abs_time ? 8u : 0u);
  b->buf = buf;
  b->cap = cap;
  b->count = 0;
  b->abs_time = abs_time;
  b->len = 0;
  /* [FP-5.1] seq starts at 1; [FP-3.4] base time below 2^53 ms */
  if (seq == 0 || (abs_time && !time_ok(base_time))) return -TF_ERR_BAD_PAYLOAD;
  /* room for the header, base time, count and checksum; samples are checked as added */
  if (!buf || cap < head + 2 + TF_CHECKSUM_SIZE) return -TF_ERR_NO_SPACE;
  put_u32(buf + 4, seq); /* the rest of the header is written by finish */
  if (abs_time) put_u64(buf + TF_HEADER_SIZE, base_time);
  b->len = head + 2;
  return 0;
}

int tf_readings_add(tf_readings_builder *b, const tf_sample *s) {
  size_t size = TF_SAMPLE_SIZE(s->type);
  uint8_t *p;
  if (size == 0) return -TF_ERR_BAD_PAYLOAD;
  if (b->len == 0) return -TF_ERR_NO_SPACE; /* begin failed */
  if (b->len + size - TF_HEADER_SIZE > TF_MAX_PAYLOAD) return -TF_ERR_TOO_LARGE;
  if (b->len + size + TF_CHECKSUM_SIZE > b->cap) return -TF_ERR_NO_SPACE;
  p = b->buf + b->len;
  p[0] = s->channel;
  p[1] = s->type;
  put_u32(p + 2, (uint32_t)s->offset); /* conversion to unsigned is modulo 2^32: two's complement */
  switch (s->type) {
  case TF_VT_F32: put_u32(p + 6, f32_bits(s->value.f32)); break;
  case TF_VT_F64: put_f64(p + 6, s->value.f64); break;
  case TF_VT_I32: put_u32(p + 6, (uint32_t)s->value.i32); break;
  default: p[6] = s->value.b ? 1 : 0; break; /* [FP-4.2.1] only 0x00 or 0x01 */
  }
  b->len += size;
  b->count++;
  return 0;
}

int tf_readings_add_f32(tf_readings_builder *b, uint8_t channel, int32_t offset, float v) {
  tf_sample s;
  s.channel = channel;
  s.type = TF_VT_F32;
  s.offset = offset;
  s.value.f32 = v;
  return tf_readings_add(b, &s);
}

int tf_readings_add_f64(tf_readings_builder *b, uint8_t channel, int32_t offset, double v) {
  tf_sample s;
  s.channel = channel;
  s.type = TF_VT_F64;
  s.offset = offset;
  s.value.f64 = v;
  return tf_readings_add(b, &s);
}

int tf_readings_add_i32(tf_readings_builder *b, uint8_t channel, int32_t offset, int32_t v) {
  tf_sample s;
  s.channel = channel;
  s.type = TF_VT_I32;
  s.offset = offset;
  s.value.i32 = v;
  return tf_readings_add(b, &s);
}

int tf_readings_add_bool(tf_readings_builder *b, uint8_t channel, int32_t offset, bool v) {
  tf_sample s;
  s.channel = channel;
  s.type = TF_VT_BOOL;
  s.offset = offset;
  s.value.b = v;
  return tf_readings_add(b, &s);
}

int tf_readings_finish(tf_readings_builder *b) {
  size_t payload;
  if (b->len == 0) return -TF_ERR_NO_SPACE;
  if (b->count == 0) return -TF_ERR_BAD_PAYLOAD; /* [FP-4.2] at least one sample */
  payload = b->len - TF_HEADER_SIZE;
  put_u16(b->buf + TF_HEADER_SIZE + (b->abs_time ? 8 : 0), b->count);
  return seal(b->buf, TF_TYPE_READINGS, b->abs_time ? TF_FLAG_ABS_TIME : 0, get_u32(b->buf + 4), payload);
}

int tf_encode_readings(uint8_t *buf, size_t cap, uint32_t seq, bool abs_time, uint64_t base_time,
                       const tf_sample *samples, uint16_t count) {
  tf_readings_builder b;
  uint16_t i;
  int rc;
  if (count == 0 || !samples || seq == 0 || (abs_time && !time_ok(base_time))) return -TF_ERR_BAD_PAYLOAD;
  /* Validate every sample before reporting space, so a bad sample is never hidden behind NO_SPACE. */
  for (i = 0; i < count; i++)
    if (TF_SAMPLE_SIZE(samples[i].type) == 0) return -TF_ERR_BAD_PAYLOAD;
  if ((rc = tf_readings_begin(&b, buf, cap, seq, abs_time, base_time)) != 0) return rc;
  for (i = 0; i < count; i++)
    if ((rc = tf_readings_add(&b, &samples[i])) != 0) return rc;
  return tf_readings_finish(&b);
}

int tf_encode_ack(uint8_t *buf, size_t cap, uint32_t acked_seq, uint64_t hub_time) {
  int rc;
  if (!time_ok(hub_time)) return -TF_ERR_BAD_PAYLOAD;
  if ((rc = check_room(12, cap)) != 0) return rc;
  put_u32(buf + TF_HEADER_SIZE, acked_seq);
  put_u64(buf + TF_HEADER_SIZE + 4, hub_time);
  return seal(buf, TF_TYPE_ACK, 0, 0, 12);
}

int tf_encode_command(uint8_t *buf, size_t cap, uint32_t id, uint32_t timeout_ms, tf_str name, tf_str args) {
  size_t payload = 8 + 1 + (size_t)name.len + 2 + (size_t)args.len;
  uint8_t *p;
  int rc;
  if (!str_ok(name, 1, TF_MAX_NAME) || !str_ok(args, 0, TF_MAX_COMMAND_TEXT)) return -TF_ERR_BAD_PAYLOAD;
  if ((rc = check_room(payload, cap)) != 0) return rc;
  p = buf + TF_HEADER_SIZE;
  put_u32(p, id);
  put_u32(p + 4, timeout_ms);
  put_str16(put_str8(p + 8, name), args);
  return seal(buf, TF_TYPE_COMMAND, 0, 0, payload);
}

int tf_encode_command_result(uint8_t *buf, size_t cap, uint32_t id, uint8_t status, tf_str payload_text) {
  size_t payload = 4 + 1 + 2 + payload_text.len;
  int rc;
  if (status > TF_STATUS_UNKNOWN || !str_ok(payload_text, 0, TF_MAX_COMMAND_TEXT)) return -TF_ERR_BAD_PAYLOAD;
  if ((rc = check_room(payload, cap)) != 0) return rc;
  put_u32(buf + TF_HEADER_SIZE, id);
  buf[TF_HEADER_SIZE + 4] = status;
  put_str16(buf + TF_HEADER_SIZE + 5, payload_text);
  return seal(buf, TF_TYPE_COMMAND_RESULT, 0, 0, payload);
}

int tf_encode_error(uint8_t *buf, size_t cap, uint16_t code, tf_str text) {
  /* Error text is advisory: cut it rather than refuse to report the error (as the hub does). */
  static const char ellipsis[3] = {(char)0xE2, (char)0x80, (char)0xA6}; /* U+2026 */
  bool cut = text.len > TF_MAX_ERROR_TEXT;
  uint16_t keep = text.len;
  size_t payload;
  uint8_t *p;
  int rc;
  if (!str_ok(text, 0, 0xFFFFu)) return -TF_ERR_BAD_PAYLOAD;
  if (cut) {
    keep = TF_MAX_ERROR_TEXT - sizeof ellipsis;
    while (keep > 0 && ((uint8_t)text.ptr[keep] & 0xC0) == 0x80) keep--; /* not inside a character */
  }
  payload = 2 + 1 + keep + (cut ? sizeof ellipsis : 0);
  if ((rc = check_room(payload, cap)) != 0) return rc;
  p = buf + TF_HEADER_SIZE;
  put_u16(p, code);
  p[2] = (uint8_t)(payload - 3);
  if (keep) memcpy(p + 3, text.ptr, keep);
  if (cut) memcpy(p + 3 + keep, ellipsis, sizeof ellipsis);
  return seal(buf, TF_TYPE_ERROR, 0, 0, payload);
}

int tf_encode_heartbeat(uint8_t *buf, size_t cap) {
  int rc;
  if ((rc = check_room(0, cap)) != 0) return rc;
  return seal(buf, TF_TYPE_HEARTBEAT, 0, 0, 0);
}

/* ---- decoding ---- */

/* Bounds-checked cursor over the payload; the first overrun sets `bad` and later reads
 * return zeros, so the parsers can read straight through and check once. */
typedef struct {
  const uint8_t *p;
  const uint8_t *end;
  bool bad;
} reader;

static const uint8_t *take(reader *r, size_t n) {
  static const uint8_t zeros[16] = {0};
  const uint8_t *at = r->p;
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = true;
    return zeros; /* longer than any single read made through this pointer */
  }
  r->p += n;
  return at;
}

static uint8_t rd_u8(reader *r) { return *take(r, 1); }
static uint16_t rd_u16(reader *r) { return get_u16(take(r, 2)); }
static uint32_t rd_u32(reader *r) { return get_u32(take(r, 4)); }
static uint64_t rd_u64(reader *r) { return get_u64(take(r, 8)); }

/* [FP-2.3] str8 / str16 with an FP-3.4 byte limit and UTF-8 validation */
static tf_str rd_str(reader *r, bool wide, uint16_t min, uint16_t max) {
  tf_str s;
  s.len = wide ? rd_u16(r) : rd_u8(r);
  s.ptr = NULL;
  if (r->bad) return s;
  if (s.len < min || s.len > max || (size_t)(r->end - r->p) < s.len) {
    r->bad = true;
    return s;
  }
  s.ptr = (const char *)r->p;
  r->p += s.len;
  if (!utf8_valid((const uint8_t *)s.ptr, s.len)) r->bad = true;
  return s;
}

static int decode_hello(reader *r, tf_frame *f) {
  uint8_t seen[32] = {0};
  uint8_t i;
  f->u.hello.session = rd_u32(r);
  f->u.hello.device_id = rd_str(r, false, 1, TF_MAX_DEVICE_ID);
  f->u.hello.firmware = rd_str(r, false, 0, TF_MAX_FIRMWARE);
  f->u.hello.channel_count = rd_u8(r);
  f->u.hello.channels = r->p;
  if (r->bad || f->u.hello.channel_count > TF_MAX_CHANNELS || !device_id_ok(f->u.hello.device_id)) return -1;
  for (i = 0; i < f->u.hello.channel_count; i++) {
    uint8_t id = rd_u8(r);
    uint8_t bit = (uint8_t)(1u << (id & 7u));
    if (r->bad || (seen[id >> 3] & bit)) return -1; /* [FP-4.1] ids unique within the HELLO */
    seen[id >> 3] |= bit;
    if (!value_type_ok(rd_u8(r))) return -1;
    rd_str(r, false, 1, TF_MAX_NAME);
    rd_str(r, false, 0, TF_MAX_UNIT);
  }
  if (r->bad) return -1;
  {
    /* [FP-4.1.4] a channel name declared twice: the hub refuses the HELLO with FP_ERR_BAD_PAYLOAD */
    tf_iter a, b;
    tf_channel ca, cb;
    uint8_t k = 0;
    tf_hello_channels(f, &a);
    while (tf_hello_next(&a, &ca)) {
      uint8_t j = 0;
      tf_hello_channels(f, &b);
      while (j++ < k && tf_hello_next(&b, &cb))
        if (same_str(ca.name, cb.name)) return -1;
      k++;
    }
  }
  /* [FP-4.1.5] the optional max receive frame; any other leftover is refused by tf_decode */
  if (r->end - r->p == 2) {
    f->u.hello.has_max_frame = true;
    f->u.hello.max_frame = rd_u16(r);
    if (!max_frame_ok(f->u.hello.max_frame)) return -1;
  }
  return 0;
}

static int decode_readings(reader *r, tf_frame *f) {
  uint16_t i;
  f->u.readings.abs_time = (f->flags & TF_FLAG_ABS_TIME) != 0;
  f->u.readings.base_time = f->u.readings.abs_time ? rd_u64(r) : 0;
  f->u.readings.count = rd_u16(r);
  f->u.readings.samples = r->p;
  if (r->bad || f->u.readings.count == 0) return -1; /* [FP-4.2] at least one sample */
  if (!time_ok(f->u.readings.base_time)) return -1;  /* [FP-3.4] */
  if (f->seq == 0) return -1;                        /* [FP-5.1] the hub refuses seq 0 */
  for (i = 0; i < f->u.readings.count; i++) {
    uint8_t vt = take(r, 2)[1]; /* channel id, value type */
    size_t size = TF_SAMPLE_SIZE(vt);
    const uint8_t *rest;
    if (r->bad || size == 0) return -1;
    rest = take(r, size - 2); /* offset, value */
    if (r->bad) return -1;
    if (vt == TF_VT_BOOL && rest[4] > 1) return -1; /* [FP-4.2.1] bool is 0x00 or 0x01 */
  }
  return 0;
}

int tf_decode(const uint8_t *buf, size_t len, tf_frame *out) {
  size_t length, payload_end;
  reader r;
  int bad = 0;
  /* [FP-3.5] the order of these checks is part of the contract */
  if (len < TF_HEADER_SIZE) return -TF_ERR_TRUNCATED;
  if (buf[0] != TF_PROTOCOL_VERSION) return -TF_ERR_BAD_VERSION;
  length = get_u16(buf + 8);
  if (length > TF_MAX_PAYLOAD) return -TF_ERR_TOO_LARGE;
  payload_end = TF_HEADER_SIZE + length;
  if (len < payload_end + TF_CHECKSUM_SIZE) return -TF_ERR_TRUNCATED;
  if (len > payload_end + TF_CHECKSUM_SIZE) return -TF_ERR_BAD_LENGTH;
  if (tf_crc16(buf, payload_end) != get_u16(buf + payload_end)) return -TF_ERR_BAD_CHECKSUM;
  if (buf[1] < TF_TYPE_HELLO || buf[1] > TF_TYPE_HEARTBEAT) return -TF_ERR_BAD_TYPE;

  memset(out, 0, sizeof *out);
  out->type = buf[1];
  out->flags = buf[2]; /* undefined bits are kept but ignored (FP-3) */
  out->seq = get_u32(buf + 4);
  r.p = buf + TF_HEADER_SIZE;
  r.end = buf + payload_end;
  r.bad = false;
  switch (out->type) {
  case TF_TYPE_HELLO: bad = decode_hello(&r, out); break;
  case TF_TYPE_READINGS: bad = decode_readings(&r, out); break;
  case TF_TYPE_ACK:
    out->u.ack.acked_seq = rd_u32(&r);
    out->u.ack.hub_time = rd_u64(&r);
    if (!time_ok(out->u.ack.hub_time)) r.bad = true; /* [FP-3.4] */
    break;
  case TF_TYPE_COMMAND:
    out->u.command.id = rd_u32(&r);
    out->u.command.timeout_ms = rd_u32(&r);
    out->u.command.name = rd_str(&r, false, 1, TF_MAX_NAME);
    out->u.command.args = rd_str(&r, true, 0, TF_MAX_COMMAND_TEXT);
    break;
  case TF_TYPE_COMMAND_RESULT:
    out->u.command_result.id = rd_u32(&r);
    out->u.command_result.status = rd_u8(&r);
    if (out->u.command_result.status > TF_STATUS_UNKNOWN) r.bad = true;
    out->u.command_result.payload = rd_str(&r, true, 0, TF_MAX_COMMAND_TEXT);
    break;
  case TF_TYPE_ERROR:
    out->u.error.code = rd_u16(&r);
    out->u.error.text = rd_str(&r, false, 0, TF_MAX_ERROR_TEXT);
    break;
  default: break; /* HEARTBEAT: empty */
  }
  /* the payload must be consumed exactly: no overrun, no leftover bytes */
  if (bad || r.bad || r.p != r.end) return -TF_ERR_BAD_PAYLOAD;
  return 0;
}

void tf_hello_channels(const tf_frame *f, tf_iter *it) {
  it->pos = f->u.hello.channels;
  it->left = f->type == TF_TYPE_HELLO ? f->u.hello.channel_count : 0;
}

/* The frame was validated by tf_decode, so the iterators read without bounds checks. */
bool tf_hello_next(tf_iter *it, tf_channel *out) {
  const uint8_t *p = it->pos;
  if (it->left == 0) return false;
  out->id = p[0];
  out->type = p[1];
  out->name.len = p[2];
  out->name.ptr = (const char *)p + 3;
  p += 3 + out->name.len;
  out->unit.len = p[0];
  out->unit.ptr = (const char *)p + 1;
  it->pos = p + 1 + out->unit.len;
  it->left--;
  return true;
}

void tf_readings_samples(const tf_frame *f, tf_iter *it) {
  it->pos = f->u.readings.samples;
  it->left = f->type == TF_TYPE_READINGS ? f->u.readings.count : 0;
}

bool tf_readings_next(tf_iter *it, tf_sample *out) {
  const uint8_t *p = it->pos;
  if (it->left == 0) return false;
  out->channel = p[0];
  out->type = p[1];
  out->offset = get_i32(p + 2);
  switch (out->type) {
  case TF_VT_F32: out->value.f32 = f32_from_bits(get_u32(p + 6)); break;
  case TF_VT_F64: out->value.f64 = get_f64(p + 6); break;
  case TF_VT_I32: out->value.i32 = get_i32(p + 6); break;
  default: out->value.b = p[6] != 0; break;
  }
  it->pos = p + TF_SAMPLE_SIZE(out->type);
  it->left--;
  return true;
}

/* ---- serial lines [FP-8] ---- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int tf_line_encode(const uint8_t *frame, size_t n, char *out, size_t cap) {
  size_t i, o = 0;
  if (cap < (size_t)TF_LINE_SIZE(n)) return -TF_ERR_NO_SPACE;
  out[o++] = '@';
  for (i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)frame[i] << 16;
    if (i + 1 < n) v |= (uint32_t)frame[i + 1] << 8;
    if (i + 2 < n) v |= frame[i + 2];
    out[o++] = b64_alphabet[(v >> 18) & 63u];
    out[o++] = b64_alphabet[(v >> 12) & 63u];
    out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63u] : '=';
    out[o++] = i + 2 < n ? b64_alphabet[v & 63u] : '=';
  }
  out[o++] = '\n';
  out[o] = '\0';
  return (int)o;
}

int tf_line_decode(const char *line, size_t len, uint8_t *out, size_t cap) {
  size_t i, n, pad = 0, bytes, o = 0;
  /* [FP-8.1] the line ends in "\n", optionally preceded by "\r" */
  if (len && line[len - 1] == '\n') len--;
  if (len && line[len - 1] == '\r') len--;
  if (len == 0 || line[0] != '@') return -TF_ERR_BAD_LINE;
  line++;
  n = len - 1;
  if (n > TF_MAX_LINE) return -TF_ERR_TOO_LARGE; /* [FP-8.4] */
  /* [FP-8.1] RFC 4648 standard alphabet with '=' padding: whole quads only */
  if (n % 4 != 0) return -TF_ERR_BAD_LINE;
  if (n && line[n - 1] == '=') pad = (line[n - 2] == '=') ? 2 : 1;
  for (i = 0; i < n - pad; i++)
    if (b64_value(line[i]) < 0) return -TF_ERR_BAD_LINE;
  bytes = n / 4 * 3 - pad;
  if (bytes > TF_MAX_FRAME) return -TF_ERR_TOO_LARGE;
  if (bytes > cap) return -TF_ERR_NO_SPACE;
  for (i = 0; i < n; i += 4) {
    uint32_t v = ((uint32_t)b64_value(line[i]) << 18) | ((uint32_t)b64_value(line[i + 1]) << 12);
    out[o++] = (uint8_t)(v >> 16);
    if (line[i + 2] == '=') break;
    v |= (uint32_t)b64_value(line[i + 2]) << 6;
    out[o++] = (uint8_t)((v >> 8) & 0xFFu);
    if (line[i + 3] == '=') break;
    v |= (uint32_t)b64_value(line[i + 3]);
    out[o++] = (uint8_t)(v & 0xFFu);
  }
  return (int)o;
}

/* ---- names ---- */

const char *tf_error_name(int code) {
#ifdef TF_NO_ERROR_NAMES
  (void)code;
  return "?";
#else
  switch (code < 0 ? -code : code) {
  case TF_ERR_TRUNCATED: return "FP_ERR_TRUNCATED";
  case TF_ERR_BAD_VERSION: return "FP_ERR_BAD_VERSION";
  case TF_ERR_BAD_TYPE: return "FP_ERR_BAD_TYPE";
  case TF_ERR_BAD_LENGTH: return "FP_ERR_BAD_LENGTH";
  case TF_ERR_TOO_LARGE: return "FP_ERR_TOO_LARGE";
  case TF_ERR_BAD_CHECKSUM: return "FP_ERR_BAD_CHECKSUM";
  case TF_ERR_BAD_PAYLOAD: return "FP_ERR_BAD_PAYLOAD";
  case TF_ERR_BAD_LINE: return "FP_ERR_BAD_LINE";
  case TF_ERR_NO_HELLO: return "FP_ERR_NO_HELLO";
  case TF_ERR_DEVICE_MISMATCH: return "FP_ERR_DEVICE_MISMATCH";
  case TF_ERR_UNKNOWN_CHANNEL: return "FP_ERR_UNKNOWN_CHANNEL";
  case TF_ERR_BAD_VALUE: return "FP_ERR_BAD_VALUE";
  case TF_ERR_BAD_TIME: return "FP_ERR_BAD_TIME";
  case TF_ERR_RATE_LIMIT: return "FP_ERR_RATE_LIMIT";
  case TF_ERR_REPLACED: return "FP_ERR_REPLACED";
  case TF_ERR_UNKNOWN_DEVICE: return "FP_ERR_UNKNOWN_DEVICE";
  case TF_ERR_STORE_UNAVAILABLE: return "FP_ERR_STORE_UNAVAILABLE";
  case TF_ERR_SHUTDOWN: return "FP_ERR_SHUTDOWN";
  case TF_ERR_NOT_READING: return "FP_ERR_NOT_READING";
  case TF_ERR_TOO_MANY_CHANNELS: return "FP_ERR_TOO_MANY_CHANNELS";
  case TF_ERR_DEVICE_LIMIT: return "FP_ERR_DEVICE_LIMIT";
  case TF_ERR_STORE_REJECTED: return "FP_ERR_STORE_REJECTED";
  case TF_ERR_NO_SPACE: return "TF_ERR_NO_SPACE";
  default: return "?";
  }
#endif
}
