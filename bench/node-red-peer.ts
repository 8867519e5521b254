// Node-RED as a peer: the same pipelined generators as the raw `ws` ceiling, into a Node-RED flow
// that decodes every frame (node-red-flow.ts). Node-RED is installed from the npm registry during
// the run into a directory of its own under the temp dir, kept for later runs; it never becomes a
// dependency of the project. Without the registry the row says why it is skipped.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startChild } from './children.ts';
import { machineBefore } from './machine-load.ts';
import type { NodeRedChildConfig } from './node-red-child.ts';
import type { NodeRedStats } from './node-red-flow.ts';
import { pipelinedLoad, type RawWsResult } from './scenario-ceilings.ts';
import { machineBeforeMs, type BenchContext } from './scenario-support.ts';

export const NODE_RED_SPEC = 'node-red@4';
const INSTALL_DIR = join(tmpdir(), 'telemetry-hub-bench-node-red');
const INSTALL_TIMEOUT_MS = 300_000;

export interface NodeRedInstall {
  dir: string;
  version: string;
  /** how long `npm install` took, ms; 0 when an earlier run's install was there */
  installMs: number;
}

const MANIFEST = join(INSTALL_DIR, 'node_modules', 'node-red', 'package.json');

/** Whether an earlier run left Node-RED installed (then no registry is needed). */
export function nodeRedInstalled(): boolean {
  return existsSync(MANIFEST);
}

let installed: Promise<NodeRedInstall> | null = null;

/** Installs Node-RED once per run (and reuses an earlier run's); rejects with the reason it cannot. */
export function installNodeRed(log: (line: string) => void): Promise<NodeRedInstall> {
  installed ??= (async () => {
    let installMs = 0;
    if (!nodeRedInstalled()) {
      const started = performance.now();
      log(`peer: npm install ${NODE_RED_SPEC} into ${INSTALL_DIR}`);
      mkdirSync(INSTALL_DIR, { recursive: true });
      writeFileSync(join(INSTALL_DIR, 'package.json'), JSON.stringify({ name: 'bench-node-red', private: true }));
      try {
        await promisify(execFile)('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', NODE_RED_SPEC], {
          cwd: INSTALL_DIR, timeout: INSTALL_TIMEOUT_MS, env: { ...process.env, NODE_OPTIONS: '' },
        });
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`npm install ${NODE_RED_SPEC} failed: ${(e.stderr || e.message).trim().split('\n').slice(-1)[0]}`);
      }
      installMs = performance.now() - started;
    }
    const { version } = JSON.parse(readFileSync(MANIFEST, 'utf8')) as { version: string };
    return { dir: INSTALL_DIR, version, installMs };
  })();
  return installed;
}

export interface NodeRedResult extends RawWsResult {
  install: NodeRedInstall;
  stats: NodeRedStats;
}

export async function nodeRedPeer(ctx: BenchContext, samples: number): Promise<NodeRedResult> {
  const install = await installNodeRed(ctx.log);
  const before = await machineBefore(machineBeforeMs(ctx));
  const server = await startChild<{ url: string }>(`node-red-${samples}`, 'node-red-child.ts', {
    logDir: ctx.logDir, config: { installDir: install.dir } satisfies NodeRedChildConfig,
  });
  try {
    const result = await pipelinedLoad(ctx, samples, `node-red-${samples}`, server.child, server.ready.url, before);
    const stats = await server.child.call<NodeRedStats>('count');
    return { ...result, install, stats };
  } finally {
    await server.child.stop();
  }
}
