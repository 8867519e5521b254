// The C session module (src/telemetry_session.c) against the REAL hub: extras/test/session-harness.c,
// compiled here with the host C compiler, is a serial device built on the module. It talks to a hub
// started in-process through its serial bridge over a socat pty pair. Unplugs, line noise, damaged
// frames and a hub restart on the same data dir must lose no reading and store none twice.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from '../../hub/test/support/hub-fixture.ts';
import { hasRealPart } from '../../hub/test/support/real-parts.ts';
import { startSerialPair, type SerialPair } from '../../hub/test/support/socat.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const CC = process.env.CC ?? 'cc';
const CFLAGS = ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-O2'];
const DEVICE = 'c-session-1';

interface HarnessState {
  made: number; pending: number; ready: boolean; link: boolean; session: number; acked: number; frames: number;
  sent: number; resent: number; ackedFrames: number; droppedFrames: number; droppedReadings: number; hellos: number;
  ackTimeouts: number; newSessions: number; hubErrors: number; lastError: number; commands: number; repeats: number;
  window: number; bumpRuns: number;
}

/** The harness process: commands on stdin, JSON lines on stdout. */
class Harness {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: ((s: HarnessState) => void)[] = [];
  readonly events: { event: string }[] = [];
  stderr = '';

  constructor(bin: string, args: string[]) {
    this.child = spawn(bin, args);
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { event: string } & HarnessState;
      if (msg.event === 'state') this.waiting.shift()?.(msg);
      else this.events.push(msg);
    });
  }

  send(cmd: string): void {
    this.child.stdin.write(cmd + '\n');
  }

  state(): Promise<HarnessState> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.send('S');
    });
  }

  /** Resolves when every reading made so far is acknowledged. */
  async settled(what: string, timeoutMs = 20_000): Promise<HarnessState> {
    let last: HarnessState | undefined;
    try {
      await waitFor(async () => {
        last = await this.state();
        return last.ready && last.pending === 0;
      }, what, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}; harness: ${JSON.stringify(last)} ${this.stderr}`);
    }
    return last!;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.send('Q');
    await exited;
  }
}

function compile(out: string, main: string): void {
  try {
    execFileSync(CC, [...CFLAGS, '-I', join(here, 'src'), '-o', out, join(here, 'extras/test', main),
      join(here, 'src/telemetry_session.c'), join(here, 'src/telemetry_frame.c')], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`compiling ${main} failed:\n${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`);
  }
}

describe('C session module against a scripted hub with a fake clock', () => {
  it('resume, ACK window, ACKs during resend, rate limit, ACK timeout, heartbeat, commands, ring full, seq wrap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'telemetry-session-unit-'));
    try {
      compile(join(dir, 'session-unit'), 'session-unit.c');
      let out: string;
      try {
        out = execFileSync(join(dir, 'session-unit'), { encoding: 'utf8' });
      } catch (err) {
        out = (err as { stdout?: string }).stdout ?? String(err);
      }
      expect(out.split('\n').filter((l) => l.startsWith('FAIL'))).toEqual([]);
      expect(out).toMatch(/^checks [0-9]{3,} failed 0$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(hasRealPart('socat'))('C session module against a real hub over a serial pty pair', () => {
  let dir = '';
  let dataDir = '';
  let pair: SerialPair;
  let hub: TestHub;
  let device: Harness;
  // readings are numbered 0, 1, 2, ... at baseTime + n, one frame each
  const baseTime = Date.now() - 120_000;

  const startHub = () =>
    startTestHub({ dataDir, keepDataDir: true, serial: [{ path: pair.hubPath, baudRate: 115200 }], serialSilenceMs: 3000, serialReopenMs: 100 });

  /** every stored `count` value, in time order */
  async function stored(): Promise<number[]> {
    const res = await hub.api(`/api/devices/${DEVICE}/readings?channel=count&from=${baseTime - 1}&to=${Date.now() + 60_000}&limit=100000`);
    expect(res.status).toBe(200);
    return ((await res.json()).points as { value: number }[]).map((p) => p.value);
  }

  /** 0 lost, 0 duplicated: the store holds exactly 0 .. made-1, once each */
  async function expectExactlyOnce(made: number): Promise<void> {
    const values = await stored();
    const seen = new Map<number, number>();
    for (const v of values) seen.set(v, (seen.get(v) ?? 0) + 1);
    const lost = Array.from({ length: made }, (_, i) => i).filter((i) => !seen.has(i));
    const duplicated = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
    expect({ lost, duplicated, stored: values.length }).toEqual({ lost: [], duplicated: [], stored: made });
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'telemetry-session-'));
    dataDir = join(dir, 'hub-data');
    const bin = join(dir, 'session-harness');
    compile(bin, 'session-harness.c');
    pair = await startSerialPair();
    hub = await startHub();
    device = new Harness(bin, [pair.devicePath, DEVICE, String(0x5e55_1001), String(baseTime), '4096']);
  });

  afterAll(async () => {
    await device?.stop();
    await hub?.stop();
    await pair?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('says HELLO, streams 300 readings paced by ACKs, and the hub stores each once', async () => {
    await waitFor(async () => (await device.state()).ready, 'resume ACK to the first HELLO');
    device.send('R 300');
    const s = await device.settled('300 readings acknowledged');
    expect(s).toMatchObject({ made: 300, frames: 300, ackedFrames: 300, droppedFrames: 0, newSessions: 0 });
    await expectExactlyOnce(300);
    const info = await (await hub.api(`/api/devices/${DEVICE}`)).json();
    expect(info).toMatchObject({ online: true, transport: 'serial', firmware: 'session-harness 1.0' });
  });

  it('line noise and damaged frames: the hub ends the session, the module says HELLO and resends; nothing lost', async () => {
    const before = await device.state();
    for (let round = 0; round < 10; round++) {
      device.send('N \u0001\u0002 garbage \u00ff');
      device.send('N @this is not base64!');
      device.send('N @' + Buffer.from('not a frame').toString('base64'));
      device.send('D'); // the next READINGS line arrives damaged
      device.send('R 20');
    }
    const s = await device.settled('noisy readings acknowledged');
    expect(s.made).toBe(500);
    expect(s.hellos).toBeGreaterThan(before.hellos);
    expect(s.resent).toBeGreaterThan(before.resent);
    expect(s.droppedFrames).toBe(0);
    await expectExactlyOnce(500);
  });

  it('a lost last frame is found by the ACK timeout: HELLO again, and it is resent', async () => {
    const before = await device.state();
    device.send('L'); // noise swallows the whole line: the hub never hears of it, nothing follows
    device.send('R 1');
    const s = await device.settled('last frame acknowledged');
    expect(s.made).toBe(501);
    expect(s.ackTimeouts).toBe(before.ackTimeouts + 1);
    expect(s.hellos).toBeGreaterThan(before.hellos);
    expect(s.resent).toBeGreaterThan(before.resent);
    await expectExactlyOnce(501);
  });

  it('unplug: readings made meanwhile are kept, and after replug every one arrives once', async () => {
    const before = await device.state();
    await pair.unplug();
    await waitFor(async () => !(await device.state()).link, 'the module sees the link go');
    device.send('R 100');
    await pair.replug();
    device.send('R 100');
    const s = await device.settled('readings made while unplugged acknowledged');
    expect(s).toMatchObject({ made: 701, droppedFrames: 0, newSessions: 0 });
    expect(s.hellos).toBeGreaterThan(before.hellos);
    expect(device.events.filter((e) => e.event === 'down').length).toBeGreaterThan(0);
    await expectExactlyOnce(701);
  });

  it('hub restart on the same data dir: the new hub resumes the session where the old one stopped', async () => {
    const before = await device.state();
    device.send('R 100');
    await hub.stop(); // keepDataDir: only the process goes
    device.send('R 100'); // into the ring while no hub listens
    hub = await startHub();
    device.send('R 100');
    const s = await device.settled('readings acknowledged by the restarted hub', 30_000);
    expect(s).toMatchObject({ made: 1001, droppedFrames: 0, newSessions: 0, session: before.session });
    expect(s.hellos).toBeGreaterThan(before.hellos);
    await expectExactlyOnce(1001);
  });

  it('commands: run once, answered over the line; a repeated id is answered from memory', async () => {
    const submit = async (name: string, args: object) => {
      const res = await hub.api(`/api/devices/${DEVICE}/commands`, { method: 'POST', body: JSON.stringify({ name, args }) });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: number }).id;
    };
    const result = (id: number) =>
      waitFor(async () => {
        const c = await (await hub.api(`/api/devices/${DEVICE}/commands/${id}`)).json();
        return c.status === 'succeeded' || c.status === 'failed' ? c : undefined;
      }, `command ${id} result`);
    expect((await result(await submit('ping', { via: 'c' }))).result).toEqual({ via: 'c' });
    expect((await result(await submit('bump', {}))).result).toEqual({ runs: 1 });
    expect(await result(await submit('nope', {}))).toMatchObject({ status: 'failed', result: { error: 'unknown command' } });
  });
}, 120_000);

describe.runIf(hasRealPart('socat'))('C session module: a full ring against a real hub', () => {
  let dir = '';
  let pair: SerialPair;
  let hub: TestHub;
  let device: Harness;
  const baseTime = Date.now() - 120_000;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'telemetry-session-ring-'));
    compile(join(dir, 'session-harness'), 'session-harness.c');
    pair = await startSerialPair();
    hub = await startTestHub({ serial: [{ path: pair.hubPath, baudRate: 115200 }], serialSilenceMs: 3000, serialReopenMs: 100 });
    // a ring of 16 frames
    device = new Harness(join(dir, 'session-harness'), [pair.devicePath, 'c-ring-1', String(0x5e55_2002), String(baseTime), '16']);
  });

  afterAll(async () => {
    await device?.stop();
    await hub?.stop();
    await pair?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('drops the oldest frames, counts them, starts a new session, and the hub stores every kept reading once', async () => {
    await waitFor(async () => (await device.state()).ready, 'resume ACK');
    device.send('R 10');
    const first = await device.settled('first 10 readings');
    await pair.unplug();
    await waitFor(async () => !(await device.state()).link, 'the module sees the link go');
    device.send('R 50'); // readings 10..59 into 16 slots: 10..43 are dropped
    const full = await device.state();
    expect(full).toMatchObject({ pending: 16, droppedFrames: 34, droppedReadings: 34 });
    await pair.replug();
    const s = await device.settled('kept readings acknowledged in a new session');
    expect(s).toMatchObject({ made: 60, droppedFrames: 34, newSessions: 1 });
    expect(s.session).not.toBe(first.session);
    const res = await hub.api(`/api/devices/c-ring-1/readings?channel=count&from=${baseTime - 1}&to=${Date.now() + 60_000}&limit=1000`);
    const values = ((await res.json()).points as { value: number }[]).map((p) => p.value);
    const expected = [...Array.from({ length: 10 }, (_, i) => i), ...Array.from({ length: 16 }, (_, i) => 44 + i)];
    expect(values).toEqual(expected); // time order, each once, original times kept
  });
}, 60_000);
