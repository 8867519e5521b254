// Private nats-server processes for tests: one node, or a cluster of several routed to each other,
// each on 127.0.0.1 with its own ports, stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './real-parts.ts';

export interface NatsNode {
  url: string;
  readonly pid: number;
  /** SIGKILL, to simulate a node dying */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** every node's URL, comma-separated, as HUB_NATS_URL takes them */
  urls: string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function node(port: number, clusterPort: number | null, routes: number[]): Promise<NatsNode> {
  let child: ChildProcess | null = null;
  const args = ['-a', '127.0.0.1', '-p', String(port)];
  if (clusterPort !== null) {
    args.push('--cluster', `nats://127.0.0.1:${clusterPort}`, '--cluster_name', 'test');
    if (routes.length) args.push('--routes', routes.map((p) => `nats://127.0.0.1:${p}`).join(','));
  }
  const self: NatsNode = {
    url: `nats://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? -1;
    },
    async start() {
      const proc = spawn('nats-server', args, { stdio: 'ignore' });
      child = proc;
      running.add(proc);
      proc.once('exit', () => running.delete(proc));
      const deadline = Date.now() + 15_000;
      while (!(await listening(port))) {
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`nats-server on ${port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      if (!child) return;
      const proc = child;
      child = null;
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async stop() {
      if (!child) return;
      const proc = child;
      child = null;
      proc.kill('SIGTERM');
      await Promise.race([exited(proc), new Promise((r) => setTimeout(r, 5000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
  await self.start();
  return self;
}

/**
 * One node (`size` 1) or a cluster of `size` nodes routed to each other. A free port can be taken
 * by another process before nats-server binds it: then the whole start is tried again on new ports.
 */
export async function startNats(size = 1, attempts = 3): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsOnce(size);
    } catch (err) {
      if (attempt >= attempts) throw err;
    }
  }
}

async function startNatsOnce(size: number): Promise<NatsCluster> {
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const clusterPorts = size > 1 ? await Promise.all(Array.from({ length: size }, () => freePort())) : [];
  const nodes: NatsNode[] = [];
  try {
    for (let i = 0; i < size; i++) nodes.push(await node(ports[i], size > 1 ? clusterPorts[i] : null, clusterPorts.filter((_, j) => j !== i)));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
