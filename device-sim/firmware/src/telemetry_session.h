/*
 * telemetry_session: the device side of a hub session (firmware-protocol.md FP-4.1, FP-4.5,
 * FP-5), on top of telemetry_frame. C99, no heap, no stdio, no transport: the caller hands
 * it received frames and gives it a send callback, a millisecond clock and all its memory.
 *
 * What it does
 *   - HELLO and resume [FP-4.1.2, FP-5.3]: HELLO on tfs_link_up and whenever the hub asks
 *     (FP_ERR_NO_HELLO, or an error that ends the session); the ACK to it is the resume point,
 *     and the kept frames above it go out again, byte for byte, in order.
 *   - A ring of kept READINGS frames in caller memory [FP-1.3]. tfs_begin/tfs_commit build a
 *     frame in place; it is sent at once if the window allows, and kept until an ACK covers it.
 *   - Cumulative ACKs at any time, also during a resend: every kept frame an ACK covers is
 *     dropped, and a resend never sends a frame the hub already acknowledged [FP-4.3].
 *   - ACK timeout: frames sent and no ACK for ack_timeout_ms means the hub never saw the last
 *     one (a serial line can swallow a whole line): HELLO again, and resend from its ACK.
 *   - Pacing by ACK window [FP-5.6]: at most `window` frames sent and unacknowledged; the next
 *     kept frame goes out when an ACK frees a place. FP_ERR_RATE_LIMIT halves the window; each
 *     ACK that frees places grows it by one again, up to the configured window.
 *   - Commands [FP-4.4, FP-4.5]: the handler runs once per command id; the last N results are
 *     remembered and a repeated id is answered from memory [FP-4.5.1].
 *   - Heartbeat when idle [FP-6.4]; a new session before seq would pass 0xFFFFFFFF [FP-5.4].
 *
 * Ring-full policy: DROP THE OLDEST. When every slot holds an unacknowledged frame, tfs_begin
 * drops the oldest kept frame (counted in stats.dropped_frames / stats.dropped_readings) and
 * the newest reading gets its place. A hub can then never be given an unbroken sequence in the
 * old session, so at the next resume that finds the hole the device starts a new session
 * [FP-5.3] and renumbers the frames it still holds 1, 2, 3, ... (only seq and the checksum
 * change; the samples and their times stay). To avoid renumbering a frame the hub was still
 * writing, the hole must be seen in two resume ACKs ack_timeout_ms apart.
 *
 * Typical loop (serial):
 *   tfs_init(&s, &cfg);  tfs_link_up(&s);
 *   loop: on every received frame line -> tf_line_decode -> tfs_receive(&s, bytes, n);
 *         every few ms -> tfs_poll(&s);
 *         a reading   -> tfs_begin(&s, &b, true, tfs_hub_now(&s)); tf_readings_add_*(&b, ...);
 *                        tfs_commit(&s, &b);
 */
#ifndef TELEMETRY_SESSION_H
#define TELEMETRY_SESSION_H

#include "telemetry_frame.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of result payload remembered per command (longer results are sent in full, and a
 * repeat is answered with the same status and an empty payload). */
#ifndef TFS_RESULT_TEXT
#define TFS_RESULT_TEXT 48
#endif

/* Ring storage for `slots` frames of up to `frame_cap` bytes each. */
#define TFS_SLOT_SIZE(frame_cap) (2 + (frame_cap))
#define TFS_RING_SIZE(slots, frame_cap) ((size_t)(slots) * TFS_SLOT_SIZE(frame_cap))

/* One remembered command result [FP-4.5.1]. */
typedef struct {
  uint32_t id;
  uint8_t state; /* 0 free, 1 handler running (no result yet), 2 result known */
  uint8_t status;
  uint16_t len;
  bool cut; /* the payload was longer than TFS_RESULT_TEXT: repeat with an empty payload */
  char text[TFS_RESULT_TEXT];
} tfs_result;

struct tfs_session;

/*
 * Runs a command. Answer it with tfs_command_result(s, id, status, payload), now or later
 * (TF_STATUS_ACCEPTED first for slow work). Called once per id: a repeated id is answered
 * from memory. args are UTF-8 JSON, not NUL-terminated.
 */
typedef void (*tfs_command_fn)(void *ctx, struct tfs_session *s, uint32_t id, tf_str name, tf_str args);

typedef struct {
  /* identity [FP-4.1] */
  tf_str device_id;
  tf_str firmware;
  const tf_channel *channels;
  uint8_t channel_count;
  uint32_t session; /* [FP-5.1] pick a new one at every boot: random, or a boot counter */
  /* [FP-4.1.5] the largest frame the caller can receive (its receive buffer, in frame bytes),
   * sent in every HELLO: the hub then sends no COMMAND larger than that. 0: not sent, the hub
   * may send frames up to the protocol maximum. 1-63 are refused by tfs_init. */
  uint16_t max_rx_frame;

  /* memory */
  uint8_t *ring;    /* TFS_RING_SIZE(slots, frame_cap) bytes */
  size_t ring_size;
  uint16_t frame_cap; /* largest READINGS frame, e.g. TF_READINGS_SIZE(1, 3 * TF_SAMPLE_SIZE(TF_VT_F32)) */
  uint8_t *tx;        /* scratch for HELLO, COMMAND_RESULT and HEARTBEAT: at least the HELLO */
  size_t tx_cap;
  tfs_result *results; /* remembered command results; may be NULL with result_count 0 */
  uint8_t result_count;

  /* transport and time */
  /* Puts one whole frame on the link (serial: tf_line_encode + write). Return false if the
   * link cannot take it now; a READINGS frame is then tried again by tfs_poll. */
  bool (*send)(void *ctx, const uint8_t *frame, size_t len);
  uint32_t (*now_ms)(void *ctx); /* a free-running ms clock; wrapping at 2^32 is fine */
  uint32_t (*random32)(void *ctx); /* new sessions [FP-5.3, FP-5.4]; NULL: derived from the clock */
  tfs_command_fn on_command;       /* NULL: every command is answered TF_STATUS_UNKNOWN */
  void *ctx;

  /* timing; 0 picks the default */
  uint16_t window;          /* frames unacknowledged at most [FP-5.6]; default 32 */
  uint32_t ack_timeout_ms;  /* default 3000 */
  uint32_t heartbeat_ms;    /* idle time before HEARTBEAT [FP-6.4]; default 4000 */
} tfs_config;

typedef struct {
  uint32_t frames;           /* READINGS frames committed */
  uint32_t sent;             /* first transmissions */
  uint32_t resent;           /* transmissions of a frame sent before */
  uint32_t acked_frames;     /* kept frames dropped because an ACK covered them */
  uint32_t dropped_frames;   /* kept frames dropped unacknowledged (ring full) */
  uint32_t dropped_readings; /* samples in them */
  uint32_t hellos;
  uint32_t ack_timeouts;
  uint32_t new_sessions; /* renumbered into a new session [FP-5.3, FP-5.4] */
  uint32_t hub_errors;   /* ERROR frames received */
  uint32_t rate_limits;  /* FP_ERR_RATE_LIMIT received */
  uint32_t commands;     /* COMMAND frames received */
  uint32_t repeats;      /* of them, ids answered from memory */
  uint16_t last_error;   /* code of the last ERROR */
} tfs_stats;

typedef struct tfs_session {
  tfs_config cfg;
  uint16_t slots;  /* ring capacity in frames */
  uint16_t head;   /* slot of the oldest kept frame */
  uint16_t count;  /* kept frames */
  uint32_t next_seq;  /* seq of the next new frame */
  uint32_t acked;     /* highest seq the hub acknowledged in this session */
  uint32_t sent_upto; /* highest seq put on the link since the resume ACK */
  uint32_t max_sent;  /* highest seq ever put on the link in this session (resend vs first send) */
  uint16_t window;    /* current window */
  bool link;    /* tfs_link_up was called and tfs_link_down was not */
  bool ready;   /* resume ACK received; READINGS may flow */
  bool gap_seen; /* a resume ACK showed a hole once */
  bool fresh;    /* a new session's HELLO is out: only an ACK of 0 is its resume ACK */
  bool clock_known;
  uint64_t hub_time_at_ack;
  uint32_t ms_at_ack;
  uint32_t last_tx_ms;
  uint32_t last_hello_ms;
  uint32_t wait_since_ms; /* when the current wait for an ACK started */
  uint32_t gap_seen_ms;
  uint8_t next_result;
  tfs_stats stats;
} tfs_session;

/* Checks the config (ring holds at least one slot, tx holds the HELLO) and resets the
 * session: 0, or a negative error (-TF_ERR_NO_SPACE, -TF_ERR_BAD_PAYLOAD for a HELLO the hub
 * would refuse). */
int tfs_init(tfs_session *s, const tfs_config *cfg);

/* The link is up (serial port open, WebSocket connected): sends HELLO. */
void tfs_link_up(tfs_session *s);
/* The link is gone: nothing is sent until tfs_link_up; kept frames wait. */
void tfs_link_down(tfs_session *s);

/* One frame from the hub (already decoded from its line or message). Frames that do not
 * decode are ignored: the hub repeats what matters. Returns tf_decode's result. */
int tfs_receive(tfs_session *s, const uint8_t *frame, size_t len);

/* Timers: HELLO retry, ACK timeout, heartbeat, frames waiting for the window or the link.
 * Call it often (every loop, or every 10-100 ms). */
void tfs_poll(tfs_session *s);

/* A new READINGS frame built in place in the ring. Without abs_time the hub stamps the
 * samples on arrival [FP-4.2.2]. Returns 0 or a negative error; on a full ring the oldest
 * kept frame is dropped first (see the policy above). Add samples with tf_readings_add_*
 * (-TF_ERR_NO_SPACE there means the frame is full: commit it and begin another). */
int tfs_begin(tfs_session *s, tf_readings_builder *b, bool abs_time, uint64_t base_time);
/* Finishes the frame, keeps it, and sends it if the window allows. Returns 0 and stores the
 * frame's seq in *seq (may be NULL), or a negative error: the frame is then not kept. */
int tfs_commit(tfs_session *s, tf_readings_builder *b, uint32_t *seq);

/* Answers command `id` and remembers the answer [FP-4.5.1]. Returns 0 or a negative error. */
int tfs_command_result(tfs_session *s, uint32_t id, uint8_t status, tf_str payload);

/* The hub's clock [FP-4.2.3]: false until the first ACK. */
bool tfs_hub_time(const tfs_session *s, uint64_t *out);
/* The hub's clock, or 0 before the first ACK. */
uint64_t tfs_hub_now(const tfs_session *s);

/* Kept (unacknowledged) frames, and whether the resume ACK has come. */
uint16_t tfs_pending(const tfs_session *s);
bool tfs_ready(const tfs_session *s);
uint32_t tfs_session_id(const tfs_session *s);

#ifdef __cplusplus
}
#endif

#endif /* TELEMETRY_SESSION_H */
