/*
 * telemetry_session: see telemetry_session.h and firmware-protocol.md (FP-4, FP-5, FP-6.4).
 *
 * Kept frames live in a ring of fixed slots: [u16 length, little-endian][frame bytes]. Their
 * seqs are consecutive, oldest at `head`, because frames are only ever added at the end and
 * dropped at the front (by an ACK, or by the ring-full policy).
 */
#include "telemetry_session.h"

#include <string.h>

#define DEFAULT_WINDOW 32
#define DEFAULT_ACK_TIMEOUT_MS 3000u
#define DEFAULT_HEARTBEAT_MS 4000u
/* errors for frames sent before our last HELLO say nothing new for this long after it */
#define HELLO_REPEAT_MS 250u

static uint32_t now(tfs_session *s) {
  return s->cfg.now_ms(s->cfg.ctx);
}

static uint8_t *slot(tfs_session *s, uint16_t k) {
  uint16_t i = (uint16_t)(((uint32_t)s->head + k) % s->slots);
  return s->cfg.ring + (size_t)i * TFS_SLOT_SIZE(s->cfg.frame_cap);
}

static uint16_t slot_len(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] | ((unsigned)p[1] << 8));
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)((v >> 8) & 0xFFu);
  p[2] = (uint8_t)((v >> 16) & 0xFFu);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t oldest_seq(tfs_session *s) {
  return rd32(slot(s, 0) + 2 + 4);
}

static bool transmit(tfs_session *s, const uint8_t *frame, size_t len) {
  if (!s->link) return false;
  if (!s->cfg.send(s->cfg.ctx, frame, len)) return false;
  s->last_tx_ms = now(s);
  return true;
}

/* [FP-4.1] HELLO into tx; [FP-4.1.5] with the max receive frame when the config states one */
static int encode_hello(tfs_session *s) {
  const tfs_config *c = &s->cfg;
  if (c->max_rx_frame)
    return tf_encode_hello_max_frame(c->tx, c->tx_cap, c->session, c->device_id, c->firmware, c->channels,
                                     c->channel_count, c->max_rx_frame);
  return tf_encode_hello(c->tx, c->tx_cap, c->session, c->device_id, c->firmware, c->channels, c->channel_count);
}

static void send_hello(tfs_session *s) {
  int n;
  s->ready = false;
  s->last_hello_ms = now(s);
  if (!s->link) return;
  n = encode_hello(s);
  if (n > 0 && transmit(s, s->cfg.tx, (size_t)n)) s->stats.hellos++;
}

/* Drops the oldest kept frame. */
static void drop_front(tfs_session *s) {
  s->head = (uint16_t)((s->head + 1u) % s->slots);
  s->count--;
}

/* [FP-5.6] sends kept frames after sent_upto while the window has room */
static void pump(tfs_session *s) {
  while (s->link && s->ready && s->count > 0) {
    uint32_t first = oldest_seq(s);
    uint32_t next = s->sent_upto + 1;
    const uint8_t *p;
    if (next == s->next_seq || s->sent_upto - s->acked >= s->window) return;
    if (next < first) {
      /* frames right after sent_upto were dropped from a full ring: the hub learns of the hole
       * from the jump (serial: FP_ERR_NO_HELLO, and the resume finds it; WebSocket: a gap) */
      s->sent_upto = first - 1;
      continue;
    }
    p = slot(s, (uint16_t)(next - first));
    if (!transmit(s, p + 2, slot_len(p))) return;
    if (s->sent_upto == s->acked) s->wait_since_ms = now(s); /* an ACK is now due */
    s->sent_upto = next;
    if (next > s->max_sent) {
      s->max_sent = next;
      s->stats.sent++;
    } else {
      s->stats.resent++;
    }
  }
}

static uint32_t fresh_session_id(tfs_session *s) {
  uint32_t x;
  if (s->cfg.random32) return s->cfg.random32(s->cfg.ctx);
  /* xorshift32 over the old session and the clock: differs from the old one, enough to name a
   * sequence space; boards with a hardware RNG should pass random32 */
  x = s->cfg.session ^ (now(s) * 2654435761u) ^ 0x9E3779B9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x == s->cfg.session ? x + 1 : x;
}

/* [FP-5.3, FP-5.4] a new session; the kept frames become its seq 1, 2, 3, ... in place */
static void new_session(tfs_session *s) {
  uint16_t k;
  s->cfg.session = fresh_session_id(s);
  for (k = 0; k < s->count; k++) {
    uint8_t *p = slot(s, k);
    uint16_t len = slot_len(p);
    uint16_t crc;
    wr32(p + 2 + 4, (uint32_t)k + 1);
    crc = tf_crc16(p + 2, (size_t)len - 2);
    p[2 + len - 2] = (uint8_t)(crc & 0xFFu);
    p[2 + len - 1] = (uint8_t)(crc >> 8);
  }
  s->next_seq = (uint32_t)s->count + 1;
  s->acked = s->sent_upto = s->max_sent = 0;
  s->gap_seen = false;
  s->fresh = true;
  s->stats.new_sessions++;
  send_hello(s);
}

static void on_ack(tfs_session *s, uint32_t acked, uint64_t hub_time) {
  uint32_t t = now(s);
  s->hub_time_at_ack = hub_time;
  s->ms_at_ack = t;
  s->clock_known = true;
  if (s->fresh) {
    /* ACKs of the old session may still be on the way; the new one's resume ACK says 0 */
    if (s->ready || acked != 0) return;
    s->fresh = false;
  }
  if (acked > s->acked && acked < s->next_seq) {
    /* [FP-4.3] cumulative: every kept frame up to `acked` is durable on the hub */
    while (s->count > 0 && oldest_seq(s) <= acked) {
      drop_front(s);
      s->stats.acked_frames++;
    }
    s->acked = acked;
    if (s->sent_upto < acked) s->sent_upto = acked;
    if (s->max_sent < acked) s->max_sent = acked;
    s->wait_since_ms = t;
    if (s->window < s->cfg.window) s->window++;
  }
  if (!s->ready) {
    if (s->count > 0 && oldest_seq(s) > s->acked + 1) {
      /* [FP-5.3] the frame right after the resume point is gone (ring full). Look twice, an ACK
       * timeout apart, in case it was still being written; then start a new session. */
      if (s->gap_seen && (uint32_t)(t - s->gap_seen_ms) >= s->cfg.ack_timeout_ms) new_session(s);
      else if (!s->gap_seen) {
        s->gap_seen = true;
        s->gap_seen_ms = t;
      }
      return; /* tfs_poll says HELLO again after the retry interval */
    }
    /* [FP-4.1.2] the resume ACK: resend what the hub does not hold, in order, then go on */
    s->ready = true;
    s->gap_seen = false;
    s->sent_upto = s->acked;
    s->wait_since_ms = t;
  }
  pump(s);
}

static bool ends_session(uint16_t code) {
  switch (code) {
  case TF_ERR_UNKNOWN_CHANNEL:
  case TF_ERR_BAD_VALUE:
  case TF_ERR_BAD_TIME:
  case TF_ERR_STORE_REJECTED:
  case TF_ERR_RATE_LIMIT:
    return false; /* per sample, or a pause: the session goes on */
  default:
    return true; /* frame errors (1-8), FP_ERR_NO_HELLO, refusals, FP_ERR_STORE_UNAVAILABLE, ... */
  }
}

static void on_error(tfs_session *s, uint16_t code) {
  s->stats.hub_errors++;
  s->stats.last_error = code;
  if (code == TF_ERR_RATE_LIMIT) {
    /* [FP-5.6] */
    s->stats.rate_limits++;
    s->window = s->window > 1 ? (uint16_t)(s->window / 2) : 1;
    return;
  }
  if (!ends_session(code)) return;
  /* [FP-6.2, FP-8.3, FP-5.5] the hub forgot our HELLO: say it again and resume from its ACK.
   * Errors for frames sent before our last HELLO say nothing new. */
  if (s->ready || (uint32_t)(now(s) - s->last_hello_ms) >= HELLO_REPEAT_MS) send_hello(s);
}

static tfs_result *find_result(tfs_session *s, uint32_t id) {
  uint8_t i;
  for (i = 0; i < s->cfg.result_count; i++)
    if (s->cfg.results[i].state != 0 && s->cfg.results[i].id == id) return &s->cfg.results[i];
  return NULL;
}

static tfs_result *new_result(tfs_session *s, uint32_t id) {
  tfs_result *r;
  if (s->cfg.result_count == 0) return NULL;
  r = &s->cfg.results[s->next_result];
  s->next_result = (uint8_t)((s->next_result + 1u) % s->cfg.result_count);
  memset(r, 0, sizeof *r);
  r->id = id;
  r->state = 1;
  return r;
}

static void send_result(tfs_session *s, uint32_t id, uint8_t status, tf_str payload) {
  int n = tf_encode_command_result(s->cfg.tx, s->cfg.tx_cap, id, status, payload);
  if (n == -TF_ERR_NO_SPACE) n = tf_encode_command_result(s->cfg.tx, s->cfg.tx_cap, id, status, tf_cstr(""));
  if (n > 0) transmit(s, s->cfg.tx, (size_t)n);
}

static void on_command(tfs_session *s, const tf_frame *f) {
  uint32_t id = f->u.command.id;
  tfs_result *r = find_result(s, id);
  s->stats.commands++;
  if (r) {
    /* [FP-4.5.1] a repeated id: answer from memory, never run it twice */
    tf_str p;
    s->stats.repeats++;
    if (r->state != 2) return; /* still running: its result follows */
    p.ptr = r->text;
    p.len = r->cut ? 0 : r->len;
    send_result(s, id, r->status, p);
    return;
  }
  new_result(s, id);
  if (s->cfg.on_command) s->cfg.on_command(s->cfg.ctx, s, id, f->u.command.name, f->u.command.args);
  else tfs_command_result(s, id, TF_STATUS_UNKNOWN, tf_cstr(""));
}

/* ---- API ---- */

int tfs_init(tfs_session *s, const tfs_config *cfg) {
  size_t slots;
  int n;
  memset(s, 0, sizeof *s);
  s->cfg = *cfg;
  if (!cfg->send || !cfg->now_ms || !cfg->ring || !cfg->tx || (cfg->result_count && !cfg->results))
    return -TF_ERR_NO_SPACE;
  if (cfg->frame_cap < TF_READINGS_SIZE(0, 7) || cfg->frame_cap > TF_MAX_FRAME) return -TF_ERR_NO_SPACE;
  slots = cfg->ring_size / TFS_SLOT_SIZE(cfg->frame_cap);
  if (slots == 0) return -TF_ERR_NO_SPACE;
  s->slots = (uint16_t)(slots > 0xFFFFu ? 0xFFFFu : slots);
  if (!s->cfg.window) s->cfg.window = DEFAULT_WINDOW;
  if (!s->cfg.ack_timeout_ms) s->cfg.ack_timeout_ms = DEFAULT_ACK_TIMEOUT_MS;
  if (!s->cfg.heartbeat_ms) s->cfg.heartbeat_ms = DEFAULT_HEARTBEAT_MS;
  s->window = s->cfg.window;
  s->next_seq = 1;
  /* the HELLO must encode: a HELLO the hub would refuse is a configuration error */
  n = encode_hello(s);
  return n < 0 ? n : 0;
}

void tfs_link_up(tfs_session *s) {
  s->link = true;
  send_hello(s); /* [FP-4.1.1] the first frame of every connection */
}

void tfs_link_down(tfs_session *s) {
  s->link = false;
  s->ready = false;
}

int tfs_receive(tfs_session *s, const uint8_t *bytes, size_t len) {
  tf_frame f;
  int rc = tf_decode(bytes, len, &f);
  if (rc != 0) return rc; /* noise: the hub repeats what matters (FP-8.3) */
  switch (f.type) {
  case TF_TYPE_ACK: on_ack(s, f.u.ack.acked_seq, f.u.ack.hub_time); break;
  case TF_TYPE_ERROR: on_error(s, f.u.error.code); break;
  case TF_TYPE_COMMAND: on_command(s, &f); break;
  default: break; /* HELLO, READINGS, results and heartbeats only travel to the hub */
  }
  return 0;
}

void tfs_poll(tfs_session *s) {
  uint32_t t = now(s);
  uint32_t retry = s->cfg.ack_timeout_ms < s->cfg.heartbeat_ms ? s->cfg.ack_timeout_ms : s->cfg.heartbeat_ms;
  if (!s->link) return;
  if (!s->ready) {
    /* no resume ACK yet: the HELLO or its ACK was lost, or the hub refused it */
    if ((uint32_t)(t - s->last_hello_ms) >= retry) send_hello(s);
    return;
  }
  if (s->sent_upto != s->acked && (uint32_t)(t - s->wait_since_ms) >= s->cfg.ack_timeout_ms) {
    /* frames went out and no ACK came: the last one never reached the hub. HELLO, and resend
     * from its ACK. */
    s->stats.ack_timeouts++;
    send_hello(s);
    return;
  }
  pump(s);
  if ((uint32_t)(t - s->last_tx_ms) >= s->cfg.heartbeat_ms) {
    int n = tf_encode_heartbeat(s->cfg.tx, s->cfg.tx_cap); /* [FP-6.4] */
    if (n > 0) transmit(s, s->cfg.tx, (size_t)n);
  }
}

int tfs_begin(tfs_session *s, tf_readings_builder *b, bool abs_time, uint64_t base_time) {
  uint8_t *p;
  if (s->next_seq == 0) new_session(s); /* [FP-5.4] seq would pass 0xFFFFFFFF */
  if (s->count == s->slots) {
    /* ring full: drop the oldest unacknowledged frame (policy in telemetry_session.h) */
    const uint8_t *f = slot(s, 0) + 2;
    size_t at = TF_HEADER_SIZE + ((f[2] & TF_FLAG_ABS_TIME) ? 8u : 0u);
    s->stats.dropped_frames++;
    s->stats.dropped_readings += (uint32_t)f[at] | ((uint32_t)f[at + 1] << 8);
    drop_front(s);
  }
  p = slot(s, s->count);
  p[0] = p[1] = 0;
  return tf_readings_begin(b, p + 2, s->cfg.frame_cap, s->next_seq, abs_time, base_time);
}

int tfs_commit(tfs_session *s, tf_readings_builder *b, uint32_t *seq) {
  uint8_t *p;
  int n;
  if (s->count == s->slots) return -TF_ERR_NO_SPACE; /* no tfs_begin for this frame */
  p = slot(s, s->count);
  if (b->buf != p + 2) return -TF_ERR_NO_SPACE;
  if (b->len == 0) return -TF_ERR_NO_SPACE;
  wr32(p + 2 + 4, s->next_seq); /* a new session may have started since tfs_begin */
  n = tf_readings_finish(b);
  if (n < 0) return n;
  p[0] = (uint8_t)((unsigned)n & 0xFFu);
  p[1] = (uint8_t)((unsigned)n >> 8);
  s->count++;
  if (seq) *seq = s->next_seq;
  s->next_seq++;
  s->stats.frames++;
  pump(s);
  return 0;
}

int tfs_command_result(tfs_session *s, uint32_t id, uint8_t status, tf_str payload) {
  tfs_result *r = find_result(s, id);
  if (status > TF_STATUS_UNKNOWN) return -TF_ERR_BAD_PAYLOAD;
  if (!r) r = new_result(s, id);
  if (r) {
    r->state = 2;
    r->status = status;
    r->cut = payload.len > TFS_RESULT_TEXT;
    r->len = r->cut ? 0 : payload.len;
    if (r->len) memcpy(r->text, payload.ptr, r->len);
  }
  send_result(s, id, status, payload);
  return 0;
}

bool tfs_hub_time(const tfs_session *s, uint64_t *out) {
  if (!s->clock_known) return false;
  *out = s->hub_time_at_ack + (uint32_t)(s->cfg.now_ms(s->cfg.ctx) - s->ms_at_ack);
  return true;
}

uint64_t tfs_hub_now(const tfs_session *s) {
  uint64_t t = 0;
  tfs_hub_time(s, &t);
  return t;
}

uint16_t tfs_pending(const tfs_session *s) {
  return s->count;
}

bool tfs_ready(const tfs_session *s) {
  return s->ready;
}

uint32_t tfs_session_id(const tfs_session *s) {
  return s->cfg.session;
}
