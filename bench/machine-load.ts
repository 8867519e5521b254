// CPU used by processes outside this bench during a measured window. The machine may be shared
// (test runs, editors): on 2 cores another process's second of CPU changes every figure, so the
// report says when it happened instead of leaving a silent dip.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const TICKS_PER_SECOND = 100;

interface ProcCpu {
  ppid: number;
  ticks: number;
}

function snapshot(): Map<number, ProcCpu> {
  const out = new Map<number, ProcCpu>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // the command name may hold spaces and parentheses: fields start after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

function ours(pid: number, procs: Map<number, ProcCpu>, root: number): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (p === root) return true;
    const next = procs.get(p)?.ppid;
    if (next === undefined) return false;
    p = next;
  }
  return false;
}

/** Runs `window` and returns the cores (1 = one core busy throughout) other processes used meanwhile. */
export async function foreignCpuDuring(window: () => Promise<void>): Promise<number> {
  const a = snapshot();
  const started = performance.now();
  await window();
  const b = snapshot();
  const seconds = (performance.now() - started) / 1000;
  let ticks = 0;
  for (const [pid, now] of b) {
    if (ours(pid, b, process.pid)) continue;
    ticks += now.ticks - (a.get(pid)?.ticks ?? 0);
  }
  return ticks / TICKS_PER_SECOND / seconds;
}

/** The whole machine's CPU ticks so far, from the first line of /proc/stat (every core summed). */
function machineTicks(): { busy: number; total: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((sum, n) => sum + n, 0);
    // idle and iowait are the ticks no process ran
    return { busy: total - fields[3] - fields[4], total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** What the machine was doing just before a row's processes started and while it was measured. */
export interface MachineLoad {
  /** 1-min load average, just before */
  loadBefore: number;
  /** cores busy (whole machine) over a second just before */
  busyBefore: number;
  /** 1-min load average at the end of the measured window */
  loadDuring: number;
  /** cores busy (whole machine, the bench included) over the measured window */
  busyDuring: number;
  /** cores used by processes outside the bench over the measured window */
  foreignCpu: number;
}

export type MachineBefore = Pick<MachineLoad, 'loadBefore' | 'busyBefore'>;
export type MachineDuring = Omit<MachineLoad, 'loadBefore' | 'busyBefore'>;

const cores = () => cpus().length;

/** Samples the machine for `ms` before a row starts anything. */
export async function machineBefore(ms = 1000): Promise<MachineBefore> {
  const a = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = machineTicks();
  return { loadBefore: loadAverage(), busyBefore: ((b.busy - a.busy) / (b.total - a.total)) * cores() };
}

/** Runs `window` and says how busy the machine was meanwhile, and how much of it was not the bench. */
export async function machineDuring(window: () => Promise<void>): Promise<MachineDuring> {
  const a = machineTicks();
  const foreignCpu = await foreignCpuDuring(window);
  const b = machineTicks();
  return { loadDuring: loadAverage(), busyDuring: ((b.busy - a.busy) / (b.total - a.total)) * cores(), foreignCpu };
}

export function machineNote(m: MachineLoad): string {
  const busy = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '?');
  return `machine before: load ${busy(m.loadBefore)}, ${busy(m.busyBefore)} of ${cores()} cores busy; during: load ${busy(m.loadDuring)}, ${busy(m.busyDuring)} busy, ${busy(m.foreignCpu)} outside the bench`;
}

export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}
