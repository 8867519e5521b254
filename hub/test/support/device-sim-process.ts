// device-sim's CLI as users run it (`npm run sim`), in its own process, for tests that drive a
// whole fleet against real hubs and read what the simulator reports back.
import { spawn, type ChildProcess } from 'node:child_process';

const root = new URL('../../..', import.meta.url).pathname;

export interface SimProcess {
  readonly child: ChildProcess;
  /** everything printed on stdout so far */
  output(): string;
  stderr(): string;
  /** the exit code (null when ended by a signal) */
  readonly exited: Promise<number | null>;
  /** ends the run as Ctrl-C would: drain, final report, exit */
  interrupt(): void;
  /** ends the process at once, if it still runs (by its PID) */
  kill(): void;
}

export function startSim(args: string[]): SimProcess {
  // no operator token from the environment: a test passes --token when it wants one
  const child = spawn(process.execPath, ['--import', 'tsx', 'device-sim/src/cli.ts', ...args], {
    cwd: root, env: { ...process.env, HUB_ADMIN_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const running = () => child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  return {
    child,
    output: () => out,
    stderr: () => err,
    exited,
    interrupt() {
      if (running()) process.kill(child.pid!, 'SIGTERM');
    },
    kill() {
      if (running()) process.kill(child.pid!, 'SIGKILL');
    },
  };
}

/** The summary lines printed so far (`[  3s] online 300/300 | …`), oldest first. */
export function summaryLines(output: string): string[] {
  return output.split('\n').filter((line) => /^\[\s*\d+s\] online /.test(line));
}

/** `online 298/300` in a summary line → [298, 300] */
export function onlineOf(line: string): [number, number] {
  const match = /online ([\d,]+)\/([\d,]+)/.exec(line);
  if (!match) throw new Error(`no online count in: ${line}`);
  return [number(match[1]), number(match[2])];
}

function number(text: string): number {
  return Number(text.replace(/,/g, ''));
}

export interface FinalReport {
  frames: number;
  sent: number;
  resent: number;
  acked: number;
  readings: number;
  /** unacknowledged frames kept at exit, and dropped from a full buffer */
  pending: number;
  dropped: number;
  connects: number;
  connectFailures: number;
  /** close code → how many connections closed with it while online */
  closes: Record<string, number>;
  refused: number;
}

/** Reads device-sim's final report (summary.ts finalReport) out of its output. */
export function finalReportOf(output: string): FinalReport {
  const at = output.lastIndexOf('final report after');
  if (at < 0) throw new Error(`no final report in:\n${output.slice(-2000)}`);
  const text = output.slice(at);
  const find = (pattern: RegExp): RegExpExecArray => {
    const match = pattern.exec(text);
    if (!match) throw new Error(`no ${pattern} in the final report:\n${text}`);
    return match;
  };
  const frames = find(/frames\s+([\d,]+) made .*?, ([\d,]+) sent, ([\d,]+) resent, ([\d,]+) acknowledged/);
  const kept = find(/unacknowledged ([\d,]+) kept at exit, ([\d,]+) dropped/);
  const connections = find(/connections\s+([\d,]+) opened, ([\d,]+) attempts failed; closed while online: (.*)/);
  const closes: Record<string, number> = {};
  if (connections[3].trim() !== 'none') {
    for (const part of connections[3].trim().split(' ')) {
      const [code, n] = part.split('×');
      closes[code] = number(n);
    }
  }
  return {
    frames: number(frames[1]), sent: number(frames[2]), resent: number(frames[3]), acked: number(frames[4]),
    readings: number(find(/readings\s+([\d,]+) made/)[1]),
    pending: number(kept[1]), dropped: number(kept[2]),
    connects: number(connections[1]), connectFailures: number(connections[2]),
    closes,
    refused: number(find(/tokens refused ([\d,]+)/)[1]),
  };
}
