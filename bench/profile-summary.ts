// Summarises a V8 CPU profile (node --cpu-prof): top functions by self time, and self time split
// into the project's code, dependencies, Node internals, and idle/GC.
//   npx tsx bench/profile-summary.ts bench/results/profiles/hub-2-ingest-embedded [top]
// A directory stands for its largest profile: the main thread's (the module loader's worker
// thread writes a small one beside it).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './children.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export type Origin = 'ours' | 'dependency' | 'node' | 'idle/gc/program';

function originOf(url: string, name: string): Origin {
  if (!url) return name === '(idle)' || name === '(garbage collector)' || name === '(program)' ? 'idle/gc/program' : 'node';
  if (url.includes('/node_modules/')) return 'dependency';
  if (url.startsWith('node:')) return 'node';
  return url.includes(REPO_ROOT) ? 'ours' : 'node';
}

function where(url: string, line: number): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const short = path.includes('/node_modules/') ? path.slice(path.lastIndexOf('/node_modules/') + 14) : relative(REPO_ROOT, path);
  // tsx hands V8 the project's files transformed onto one line: a line number there says nothing
  return line > 0 ? `${short}:${line + 1}` : short;
}

export function summarise(profile: Profile, top = 25): string {
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const byFunction = new Map<string, { us: number; origin: Origin }>();
  const byOrigin = new Map<Origin, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (!us) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${where(url, lineNumber)}`.trim();
    const origin = originOf(url, functionName);
    const entry = byFunction.get(name) ?? { us: 0, origin };
    entry.us += us;
    byFunction.set(name, entry);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + us);
    total += us;
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
  const lines = [`total ${(total / 1e6).toFixed(1)} s sampled`, ''];
  for (const [origin, us] of [...byOrigin].sort((a, b) => b[1] - a[1])) lines.push(`${pct(us)}  ${origin}`);
  lines.push('', `top ${top} by self time:`);
  for (const [name, { us, origin }] of [...byFunction].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    lines.push(`${pct(us)}  ${origin.padEnd(10)}  ${name}`);
  }
  return lines.join('\n');
}

export function mainProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const files = readdirSync(path).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(path, f));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${path}`);
  return files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile|DIR [top]\n');
    process.exit(2);
  }
  const file = mainProfile(path);
  process.stdout.write(`${file}\n${summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(process.argv[3] ?? 25))}\n`);
}
