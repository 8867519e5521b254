/*
 * Host test program for telemetry_session (run by session.test.ts): a serial device built on
 * the session module, talking to a real hub through one end of a pty pair.
 *
 *   session-harness PTY_PATH DEVICE_ID SESSION BASE_TIME_MS SLOTS
 *
 * It opens PTY_PATH raw (reopening it whenever it goes away: an unplug), and obeys one command
 * per line on stdin:
 *   R n      make n readings: frame k carries i32 `count` = k at BASE_TIME_MS + k (k from 0)
 *   N text   write `text` and a newline to the line as is (console output, noise)
 *   D        damage the next READINGS line on the wire (one base64 character changed); the
 *            kept copy stays intact
 *   L        lose the next READINGS line entirely (the hub never sees it)
 *   S        print the state as one JSON line
 *   Q        exit
 * It prints JSON lines: {"event":"up"}, {"event":"down"}, {"event":"command",...} and the state.
 * Commands: `ping` echoes its args; `bump` is not idempotent: it counts its runs and answers
 * {"runs":n}, so a command run twice shows.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "telemetry_session.h"

static const char *path;
static int fd = -1;
static tfs_session s;
static bool damage_next;
static bool lose_next;
static unsigned bump_runs;
static uint64_t base_time;
static uint32_t made;

static uint32_t now_ms(void *ctx) {
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static void write_all(const char *p, size_t n) {
  while (n > 0 && fd >= 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        fd_set wfds;
        FD_ZERO(&wfds);
        FD_SET(fd, &wfds);
        select(fd + 1, NULL, &wfds, NULL, NULL);
        continue;
      }
      return; /* the line is gone; the read side notices */
    }
    p += w;
    n -= (size_t)w;
  }
}

static char line_out[TF_LINE_SIZE(TF_MAX_FRAME)];

static bool send_frame(void *ctx, const uint8_t *frame, size_t len) {
  int n = tf_line_encode(frame, len, line_out, sizeof line_out);
  (void)ctx;
  if (n < 0) return false;
  if (lose_next && frame[1] == TF_TYPE_READINGS) {
    lose_next = false; /* noise swallowed the whole line, newline and all */
    return true;
  }
  if (damage_next && frame[1] == TF_TYPE_READINGS && n > 8) {
    line_out[n / 2] = line_out[n / 2] == 'A' ? 'B' : 'A'; /* line noise: the hub sees a bad frame */
    damage_next = false;
  }
  write_all(line_out, (size_t)n);
  return true;
}

static void on_command(void *ctx, tfs_session *ss, uint32_t id, tf_str name, tf_str args) {
  (void)ctx;
  printf("{\"event\":\"command\",\"id\":%lu,\"name\":\"%.*s\"}\n", (unsigned long)id, (int)name.len, name.ptr);
  if (name.len == 4 && memcmp(name.ptr, "ping", 4) == 0) {
    tfs_command_result(ss, id, TF_STATUS_SUCCEEDED, args);
  } else if (name.len == 4 && memcmp(name.ptr, "bump", 4) == 0) {
    char text[32];
    snprintf(text, sizeof text, "{\"runs\":%u}", ++bump_runs);
    tfs_command_result(ss, id, TF_STATUS_SUCCEEDED, tf_cstr(text));
  } else {
    tfs_command_result(ss, id, TF_STATUS_UNKNOWN, tf_cstr(""));
  }
}

static void print_state(void) {
  const tfs_stats *st = &s.stats;
  printf("{\"event\":\"state\",\"made\":%lu,\"pending\":%u,\"ready\":%s,\"link\":%s,\"session\":%lu,\"acked\":%lu,"
         "\"frames\":%lu,\"sent\":%lu,\"resent\":%lu,\"ackedFrames\":%lu,\"droppedFrames\":%lu,\"droppedReadings\":%lu,"
         "\"hellos\":%lu,\"ackTimeouts\":%lu,\"newSessions\":%lu,\"hubErrors\":%lu,\"lastError\":%u,\"commands\":%lu,"
         "\"repeats\":%lu,\"window\":%u,\"bumpRuns\":%u}\n",
         (unsigned long)made, tfs_pending(&s), tfs_ready(&s) ? "true" : "false", s.link ? "true" : "false",
         (unsigned long)tfs_session_id(&s), (unsigned long)s.acked, (unsigned long)st->frames, (unsigned long)st->sent,
         (unsigned long)st->resent, (unsigned long)st->acked_frames, (unsigned long)st->dropped_frames,
         (unsigned long)st->dropped_readings, (unsigned long)st->hellos, (unsigned long)st->ack_timeouts,
         (unsigned long)st->new_sessions, (unsigned long)st->hub_errors, st->last_error, (unsigned long)st->commands,
         (unsigned long)st->repeats, s.window, bump_runs);
}

static void try_open(void) {
  struct termios t;
  int f = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (f < 0) return;
  if (tcgetattr(f, &t) == 0) {
    cfmakeraw(&t);
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    tcsetattr(f, TCSANOW, &t);
  }
  fd = f;
  printf("{\"event\":\"up\"}\n");
  fflush(stdout);
  tfs_link_up(&s);
}

static void link_lost(void) {
  close(fd);
  fd = -1;
  tfs_link_down(&s);
  printf("{\"event\":\"down\"}\n");
  fflush(stdout);
}

/* bytes from the hub, split into lines */
static char rx[TF_MAX_LINE + 8];
static size_t rx_len;
static bool rx_over;
static uint8_t frame_in[TF_MAX_FRAME];

static void on_line(void) {
  int n;
  if (rx_len == 0 || rx[0] != '@') return; /* console text from the hub's side */
  n = tf_line_decode(rx, rx_len, frame_in, sizeof frame_in);
  if (n >= 0) tfs_receive(&s, frame_in, (size_t)n);
}

static void read_line_bytes(void) {
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  ssize_t i;
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    link_lost();
    return;
  }
  for (i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      if (!rx_over) on_line();
      rx_len = 0;
      rx_over = false;
    } else if (rx_len < sizeof rx) {
      rx[rx_len++] = buf[i];
    } else {
      rx_over = true;
    }
  }
}

static void make_readings(unsigned long n) {
  while (n--) {
    tf_readings_builder b;
    uint32_t k = made;
    if (tfs_begin(&s, &b, true, base_time + k) != 0 || tf_readings_add_i32(&b, 3, 0, (int32_t)k) != 0 ||
        tfs_commit(&s, &b, NULL) != 0) {
      fprintf(stderr, "reading %lu failed\n", (unsigned long)k);
      exit(3);
    }
    made++;
  }
}

static void on_control(char *cmd) {
  size_t n = strlen(cmd);
  while (n && (cmd[n - 1] == '\n' || cmd[n - 1] == '\r')) cmd[--n] = '\0';
  switch (cmd[0]) {
  case 'R': make_readings(strtoul(cmd + 1, NULL, 10)); break;
  case 'N':
    if (fd >= 0) {
      write_all(cmd + 2, n > 2 ? n - 2 : 0);
      write_all("\n", 1);
    }
    break;
  case 'D': damage_next = true; break;
  case 'L': lose_next = true; break;
  case 'S': print_state(); break;
  case 'Q': exit(0);
  default: fprintf(stderr, "unknown command %s\n", cmd); exit(2);
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  static const tf_channel channels[] = {
      {1, TF_VT_F32, {"temperature", 11}, {"\xc2\xb0" "C", 3}},
      {3, TF_VT_I32, {"count", 5}, {"", 0}},
  };
  static uint8_t tx[256];
  static tfs_result results[4];
  static char control[256];
  static size_t control_len;
  enum { FRAME_CAP = TF_READINGS_SIZE(1, TF_SAMPLE_SIZE(TF_VT_I32)) };
  uint8_t *ring;
  size_t slots;
  tfs_config cfg;
  int rc;

  if (argc != 6) {
    fprintf(stderr, "usage: session-harness PTY_PATH DEVICE_ID SESSION BASE_TIME_MS SLOTS\n");
    return 2;
  }
  path = argv[1];
  base_time = strtoull(argv[4], NULL, 10);
  slots = strtoul(argv[5], NULL, 10);
  ring = calloc(slots, TFS_SLOT_SIZE(FRAME_CAP)); /* the host program may; the library does not */
  memset(&cfg, 0, sizeof cfg);
  cfg.device_id = tf_cstr(argv[2]);
  cfg.firmware = tf_cstr("session-harness 1.0");
  cfg.channels = channels;
  cfg.channel_count = 2;
  cfg.session = (uint32_t)strtoul(argv[3], NULL, 10);
  cfg.ring = ring;
  cfg.ring_size = TFS_RING_SIZE(slots, FRAME_CAP);
  cfg.frame_cap = FRAME_CAP;
  cfg.tx = tx;
  cfg.tx_cap = sizeof tx;
  cfg.results = results;
  cfg.result_count = 4;
  cfg.send = send_frame;
  cfg.now_ms = now_ms;
  cfg.on_command = on_command;
  cfg.ack_timeout_ms = 1000;
  cfg.heartbeat_ms = 1000;
  if ((rc = tfs_init(&s, &cfg)) != 0) {
    fprintf(stderr, "tfs_init: %s\n", tf_error_name(rc));
    return 2;
  }
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  for (;;) {
    fd_set rfds;
    struct timeval tv = {0, 10000};
    int maxfd = 0;
    if (fd < 0) try_open();
    FD_ZERO(&rfds);
    FD_SET(0, &rfds);
    if (fd >= 0) {
      FD_SET(fd, &rfds);
      maxfd = fd;
    }
    if (select(maxfd + 1, &rfds, NULL, NULL, &tv) < 0 && errno != EINTR) return 1;
    if (FD_ISSET(0, &rfds)) {
      char c;
      ssize_t r;
      while ((r = read(0, &c, 1)) == 1) {
        if (control_len < sizeof control - 1) control[control_len++] = c;
        if (c == '\n') {
          control[control_len] = '\0';
          on_control(control);
          control_len = 0;
        }
      }
      if (r == 0) return 0; /* the test went away */
    }
    if (fd >= 0 && FD_ISSET(fd, &rfds)) read_line_bytes();
    tfs_poll(&s);
    fflush(stdout);
  }
}
