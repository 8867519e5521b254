/*
 * Host test program for telemetry_session (run by session.test.ts): drives the module with a
 * scripted hub and a fake clock, and checks every frame it sends. Prints one line per failed
 * check and "checks N failed M"; exit status 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry_session.h"

static int checks, failed;
#define CHECK(cond)                                                            \
  do {                                                                         \
    checks++;                                                                  \
    if (!(cond)) {                                                             \
      failed++;                                                                \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                   \
    }                                                                          \
  } while (0)

/* ---- the fake link and clock ---- */

#define MAX_SENT 4096
typedef struct {
  uint8_t type;
  uint32_t seq;
  uint32_t session;  /* HELLO */
  bool has_max_frame; /* HELLO [FP-4.1.5] */
  uint16_t max_frame;
  uint64_t base;     /* READINGS */
  uint32_t id;       /* COMMAND_RESULT */
  uint8_t status;
  char payload[64];
} sent_frame;

static sent_frame sent[MAX_SENT];
static int nsent;
static uint32_t clock_ms = 1000;
static bool link_full;

static bool on_send(void *ctx, const uint8_t *bytes, size_t len) {
  tf_frame f;
  sent_frame *o = &sent[nsent < MAX_SENT ? nsent : MAX_SENT - 1];
  (void)ctx;
  if (link_full) return false;
  CHECK(tf_decode(bytes, len, &f) == 0); /* every frame the module sends decodes */
  memset(o, 0, sizeof *o);
  o->type = f.type;
  o->seq = f.seq;
  if (f.type == TF_TYPE_HELLO) {
    o->session = f.u.hello.session;
    o->has_max_frame = f.u.hello.has_max_frame;
    o->max_frame = f.u.hello.max_frame;
  }
  if (f.type == TF_TYPE_READINGS) o->base = f.u.readings.base_time;
  if (f.type == TF_TYPE_COMMAND_RESULT) {
    o->id = f.u.command_result.id;
    o->status = f.u.command_result.status;
    snprintf(o->payload, sizeof o->payload, "%.*s", (int)f.u.command_result.payload.len, f.u.command_result.payload.ptr);
  }
  nsent++;
  return true;
}

static uint32_t on_now(void *ctx) {
  (void)ctx;
  return clock_ms;
}

static uint32_t rng = 12345;
static uint32_t on_random(void *ctx) {
  (void)ctx;
  rng = rng * 1103515245u + 12345u;
  return rng;
}

static int bump_runs;
static void on_command(void *ctx, tfs_session *s, uint32_t id, tf_str name, tf_str args) {
  char text[32];
  (void)ctx;
  (void)args;
  if (name.len == 4 && memcmp(name.ptr, "bump", 4) == 0) {
    snprintf(text, sizeof text, "{\"runs\":%d}", ++bump_runs);
    tfs_command_result(s, id, TF_STATUS_SUCCEEDED, tf_cstr(text));
  } else if (name.len == 4 && memcmp(name.ptr, "slow", 4) == 0) {
    tfs_command_result(s, id, TF_STATUS_ACCEPTED, tf_cstr("")); /* final result later */
  } else {
    tfs_command_result(s, id, TF_STATUS_UNKNOWN, tf_cstr(""));
  }
}

/* ---- the scripted hub ---- */

static uint8_t hub_buf[256];

static void hub_ack(tfs_session *s, uint32_t acked) {
  int n = tf_encode_ack(hub_buf, sizeof hub_buf, acked, 1700000000000u + clock_ms);
  CHECK(tfs_receive(s, hub_buf, (size_t)n) == 0);
}

static void hub_error(tfs_session *s, uint16_t code) {
  int n = tf_encode_error(hub_buf, sizeof hub_buf, code, tf_cstr("test"));
  CHECK(tfs_receive(s, hub_buf, (size_t)n) == 0);
}

static void hub_command(tfs_session *s, uint32_t id, const char *name) {
  int n = tf_encode_command(hub_buf, sizeof hub_buf, id, 5000, tf_cstr(name), tf_cstr("{}"));
  CHECK(tfs_receive(s, hub_buf, (size_t)n) == 0);
}

/* ---- the device ---- */

static const tf_channel channels[] = {{3, TF_VT_I32, {"count", 5}, {"", 0}}};
enum { FRAME_CAP = TF_READINGS_SIZE(1, TF_SAMPLE_SIZE(TF_VT_I32)) };
static uint8_t ring[TFS_RING_SIZE(200, FRAME_CAP)];
static uint8_t tx[128];
static tfs_result results[4];

static void setup(tfs_session *s, size_t slots) {
  tfs_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.device_id = tf_cstr("unit-1");
  cfg.firmware = tf_cstr("1.0");
  cfg.channels = channels;
  cfg.channel_count = 1;
  cfg.session = 0xABCD0001u;
  cfg.ring = ring;
  cfg.ring_size = TFS_RING_SIZE(slots, FRAME_CAP);
  cfg.frame_cap = FRAME_CAP;
  cfg.tx = tx;
  cfg.tx_cap = sizeof tx;
  cfg.results = results;
  cfg.result_count = 4;
  cfg.send = on_send;
  cfg.now_ms = on_now;
  cfg.random32 = on_random;
  cfg.on_command = on_command;
  memset(results, 0, sizeof results);
  CHECK(tfs_init(s, &cfg) == 0);
  nsent = 0;
}

/* reading k: i32 k at 1700000000000 + k */
static void reading(tfs_session *s, uint32_t k) {
  tf_readings_builder b;
  uint32_t seq = 0;
  CHECK(tfs_begin(s, &b, true, 1700000000000u + k) == 0);
  CHECK(tf_readings_add_i32(&b, 3, 0, (int32_t)k) == 0);
  CHECK(tfs_commit(s, &b, &seq) == 0);
  CHECK(seq > 0);
}

static int count_type(int from, uint8_t type) {
  int i, n = 0;
  for (i = from; i < nsent; i++) n += sent[i].type == type;
  return n;
}

static void test_resume_window_and_acks(void) {
  tfs_session s;
  int mark, i;
  uint32_t k;
  setup(&s, 200);
  tfs_link_up(&s);
  CHECK(nsent == 1 && sent[0].type == TF_TYPE_HELLO && sent[0].session == 0xABCD0001u);
  for (k = 0; k < 100; k++) reading(&s, k);
  CHECK(nsent == 1); /* nothing before the resume ACK [FP-4.1.1] */
  CHECK(!tfs_hub_time(&s, &(uint64_t){0}));
  hub_ack(&s, 0);
  CHECK(tfs_ready(&s));
  CHECK(tfs_hub_now(&s) == 1700000000000u + clock_ms);
  /* [FP-5.6] at most a window (32) unacknowledged */
  CHECK(count_type(1, TF_TYPE_READINGS) == 32);
  CHECK(sent[1].seq == 1 && sent[32].seq == 32 && sent[1].base == 1700000000000u);
  mark = nsent;
  hub_ack(&s, 10); /* frees 10 places: 10 more go out */
  CHECK(nsent - mark == 10 && sent[mark].seq == 33 && sent[nsent - 1].seq == 42);
  CHECK(tfs_pending(&s) == 90);

  /* the hub forgets the session: HELLO, then resend from its ACK */
  mark = nsent;
  hub_error(&s, TF_ERR_NO_HELLO);
  CHECK(nsent == mark + 1 && sent[mark].type == TF_TYPE_HELLO && !tfs_ready(&s));
  hub_error(&s, TF_ERR_NO_HELLO); /* for a frame sent before the HELLO: no second HELLO */
  CHECK(nsent == mark + 1);
  hub_ack(&s, 20);
  CHECK(nsent - (mark + 1) == 32 && sent[mark + 1].seq == 21 && sent[nsent - 1].seq == 52);
  CHECK(s.stats.resent == 22); /* 21..42 went out before */
  /* an ACK during the resend: covered frames are dropped and never sent again */
  mark = nsent;
  hub_ack(&s, 40);
  CHECK(tfs_pending(&s) == 60);
  for (i = mark; i < nsent; i++) CHECK(sent[i].seq > 52);
  CHECK(nsent - mark == 20); /* 40 + 32 = 72: frames 53..72 */

  /* [FP-5.6] FP_ERR_RATE_LIMIT halves the window; ACKs grow it back */
  hub_error(&s, TF_ERR_RATE_LIMIT);
  CHECK(s.window == 16 && tfs_ready(&s));
  mark = nsent;
  hub_ack(&s, 60); /* 12 in flight (61..72), window 17 after this ACK: 5 more */
  CHECK(s.window == 17 && nsent - mark == 5);

  /* a lost last frame: no ACK within the timeout -> HELLO, and resend from its ACK */
  mark = nsent;
  clock_ms += 2999;
  tfs_poll(&s);
  CHECK(nsent == mark);
  clock_ms += 1;
  tfs_poll(&s);
  CHECK(nsent == mark + 1 && sent[mark].type == TF_TYPE_HELLO && s.stats.ack_timeouts == 1);
  hub_ack(&s, 60);
  CHECK(sent[mark + 1].type == TF_TYPE_READINGS && sent[mark + 1].seq == 61);
  hub_ack(&s, 100);
  CHECK(tfs_pending(&s) == 0 && s.stats.acked_frames == 100);

  /* a link that cannot take a frame now: tried again by tfs_poll */
  link_full = true;
  reading(&s, 100);
  link_full = false;
  mark = nsent;
  tfs_poll(&s);
  CHECK(nsent == mark + 1 && sent[mark].seq == 101);
  hub_ack(&s, 101);

  /* [FP-6.4] HEARTBEAT when idle */
  mark = nsent;
  clock_ms += 4000;
  tfs_poll(&s);
  CHECK(nsent == mark + 1 && sent[mark].type == TF_TYPE_HEARTBEAT);

  /* sample errors do not end the session */
  hub_error(&s, TF_ERR_BAD_TIME);
  CHECK(tfs_ready(&s));
  /* a stale, lower ACK changes nothing */
  hub_ack(&s, 50);
  CHECK(s.acked == 101);
}

static void test_commands(void) {
  tfs_session s;
  int mark;
  setup(&s, 8);
  tfs_link_up(&s);
  hub_ack(&s, 0);
  bump_runs = 0;
  mark = nsent;
  hub_command(&s, 7, "bump");
  CHECK(bump_runs == 1 && nsent == mark + 1 && sent[mark].type == TF_TYPE_COMMAND_RESULT && sent[mark].id == 7);
  CHECK(strcmp(sent[mark].payload, "{\"runs\":1}") == 0 && sent[mark].status == TF_STATUS_SUCCEEDED);
  /* [FP-4.5.1] the same id again (after a reconnect, a hub restart): from memory */
  hub_command(&s, 7, "bump");
  CHECK(bump_runs == 1 && nsent == mark + 2 && strcmp(sent[mark + 1].payload, "{\"runs\":1}") == 0);
  CHECK(s.stats.repeats == 1);
  hub_command(&s, 8, "nope");
  CHECK(sent[nsent - 1].status == TF_STATUS_UNKNOWN);
  /* accepted first, final result later; a repeat meanwhile says accepted */
  hub_command(&s, 9, "slow");
  CHECK(sent[nsent - 1].id == 9 && sent[nsent - 1].status == TF_STATUS_ACCEPTED);
  hub_command(&s, 9, "slow");
  CHECK(sent[nsent - 1].id == 9 && sent[nsent - 1].status == TF_STATUS_ACCEPTED);
  tfs_command_result(&s, 9, TF_STATUS_SUCCEEDED, tf_cstr("{\"done\":true}"));
  hub_command(&s, 9, "slow");
  CHECK(sent[nsent - 1].status == TF_STATUS_SUCCEEDED && strcmp(sent[nsent - 1].payload, "{\"done\":true}") == 0);
  /* the last 4 ids are remembered: after 4 more, id 7 runs again */
  hub_command(&s, 10, "bump");
  hub_command(&s, 11, "bump");
  hub_command(&s, 12, "bump");
  hub_command(&s, 13, "bump");
  CHECK(bump_runs == 5);
  hub_command(&s, 7, "bump");
  CHECK(bump_runs == 6);
  /* a result longer than TFS_RESULT_TEXT is sent whole; a repeat gets the status only */
  {
    char big[TFS_RESULT_TEXT + 10];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tfs_command_result(&s, 20, TF_STATUS_FAILED, tf_cstr(big));
    CHECK(strlen(sent[nsent - 1].payload) == sizeof big - 1);
    hub_command(&s, 20, "bump");
    CHECK(sent[nsent - 1].status == TF_STATUS_FAILED && sent[nsent - 1].payload[0] == '\0' && bump_runs == 6);
  }
}

static void test_ring_full(void) {
  tfs_session s;
  int mark, i;
  uint32_t k, old_session;
  setup(&s, 8);
  old_session = tfs_session_id(&s);
  /* 12 readings while the link is down: the 4 oldest are dropped and counted */
  for (k = 0; k < 12; k++) reading(&s, k);
  CHECK(tfs_pending(&s) == 8 && s.stats.dropped_frames == 4 && s.stats.dropped_readings == 4);
  tfs_link_up(&s);
  hub_ack(&s, 0); /* the hub holds nothing: seq 1..4 are gone, the kept ones start at 5 */
  CHECK(!tfs_ready(&s) && s.stats.new_sessions == 0);
  /* looked again an ACK timeout later (they might have been still on their way): new session */
  mark = nsent;
  clock_ms += 3000;
  tfs_poll(&s);
  CHECK(nsent == mark + 1 && sent[mark].type == TF_TYPE_HELLO && sent[mark].session == old_session);
  hub_ack(&s, 0);
  CHECK(s.stats.new_sessions == 1 && tfs_session_id(&s) != old_session);
  CHECK(sent[nsent - 1].type == TF_TYPE_HELLO && sent[nsent - 1].session == tfs_session_id(&s));
  hub_ack(&s, 3); /* an ACK of the old session still on its way: ignored */
  CHECK(!tfs_ready(&s) && tfs_pending(&s) == 8);
  mark = nsent;
  hub_ack(&s, 0); /* the new session's resume ACK */
  CHECK(tfs_ready(&s) && nsent - mark == 8);
  /* renumbered 1..8, same samples and times: readings 4..11 */
  for (i = 0; i < 8; i++) CHECK(sent[mark + i].seq == (uint32_t)i + 1 && sent[mark + i].base == 1700000000000u + 4 + (uint32_t)i);
  reading(&s, 12);
  CHECK(sent[nsent - 1].seq == 9);
  hub_ack(&s, 9);
  CHECK(tfs_pending(&s) == 0);
}

static void test_seq_wrap(void) {
  tfs_session s;
  uint32_t old_session;
  int mark;
  setup(&s, 8);
  tfs_link_up(&s);
  hub_ack(&s, 0);
  old_session = tfs_session_id(&s);
  s.next_seq = 0xFFFFFFFEu; /* as if 4 billion frames had gone by */
  s.acked = s.sent_upto = s.max_sent = 0xFFFFFFFDu;
  reading(&s, 1);
  reading(&s, 2);
  CHECK(sent[nsent - 1].seq == 0xFFFFFFFFu && tfs_session_id(&s) == old_session);
  mark = nsent;
  reading(&s, 3); /* [FP-5.4] seq would pass 0xFFFFFFFF: a new session, kept frames renumbered */
  CHECK(tfs_session_id(&s) != old_session && s.stats.new_sessions == 1);
  CHECK(sent[mark].type == TF_TYPE_HELLO);
  hub_ack(&s, 0);
  CHECK(sent[nsent - 3].seq == 1 && sent[nsent - 1].seq == 3 && sent[nsent - 1].base == 1700000000003u);
}

static void test_config_errors(void) {
  tfs_session s;
  tfs_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.device_id = tf_cstr("bad id");
  cfg.ring = ring;
  cfg.ring_size = sizeof ring;
  cfg.frame_cap = FRAME_CAP;
  cfg.tx = tx;
  cfg.tx_cap = sizeof tx;
  cfg.send = on_send;
  cfg.now_ms = on_now;
  CHECK(tfs_init(&s, &cfg) == -TF_ERR_BAD_PAYLOAD);
  cfg.device_id = tf_cstr("ok");
  cfg.ring_size = TFS_SLOT_SIZE(FRAME_CAP) - 1;
  CHECK(tfs_init(&s, &cfg) == -TF_ERR_NO_SPACE);
  cfg.ring_size = sizeof ring;
  cfg.tx_cap = 12;
  CHECK(tfs_init(&s, &cfg) == -TF_ERR_NO_SPACE);
}

/* [FP-4.1.5] max_rx_frame goes out in every HELLO; 0 sends none; 1-63 is a config error */
static void test_max_rx_frame(void) {
  tfs_session s;
  tfs_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.device_id = tf_cstr("unit-2");
  cfg.channels = channels;
  cfg.channel_count = 1;
  cfg.ring = ring;
  cfg.ring_size = sizeof ring;
  cfg.frame_cap = FRAME_CAP;
  cfg.tx = tx;
  cfg.tx_cap = sizeof tx;
  cfg.send = on_send;
  cfg.now_ms = on_now;
  cfg.max_rx_frame = 63;
  CHECK(tfs_init(&s, &cfg) == -TF_ERR_BAD_PAYLOAD);
  cfg.max_rx_frame = 129;
  CHECK(tfs_init(&s, &cfg) == 0);
  nsent = 0;
  tfs_link_up(&s);
  CHECK(nsent == 1 && sent[0].type == TF_TYPE_HELLO && sent[0].has_max_frame && sent[0].max_frame == 129);
  clock_ms += 1000;
  hub_error(&s, TF_ERR_NO_HELLO); /* a HELLO sent again states it again */
  CHECK(nsent == 2 && sent[1].type == TF_TYPE_HELLO && sent[1].has_max_frame && sent[1].max_frame == 129);
  cfg.max_rx_frame = 0;
  CHECK(tfs_init(&s, &cfg) == 0);
  nsent = 0;
  tfs_link_up(&s);
  CHECK(nsent == 1 && sent[0].type == TF_TYPE_HELLO && !sent[0].has_max_frame);
}

int main(void) {
  test_resume_window_and_acks();
  test_commands();
  test_ring_full();
  test_seq_wrap();
  test_config_errors();
  test_max_rx_frame();
  printf("checks %d failed %d\n", checks, failed);
  return failed ? 1 : 0;
}
