// CPU used by processes outside this bench during a measured window. The machine may be shared
// (test runs, editors): on 2 cores another process's second of CPU changes every figure, so the
// report says when it happened instead of leaving a silent dip.
import { readdirSync, readFileSync } from 'node:fs';

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

export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}
