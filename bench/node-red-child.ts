// The Node-RED peer as a bench child: Node-RED, installed by the bench into a directory of its own
// (never a dependency of the project), embedded on an HTTP server on 127.0.0.1:0 and running the
// flow of node-red-flow.ts with its editor off. Answers the parent's requests for its count and CPU.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { announce, failStart, serveRpc } from './child-rpc.ts';
import { NODE_RED_PATH, nodeRedFlow, type NodeRedStats } from './node-red-flow.ts';

export interface NodeRedChildConfig {
  /** where node-red is installed (its node_modules/node-red) */
  installDir: string;
}

interface NodeRedRuntime {
  init(server: unknown, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  version(): string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as NodeRedChildConfig;
const userDir = mkdtempSync(join(tmpdir(), 'bench-node-red-'));
const stats: NodeRedStats = { messages: 0, readings: 0, refused: 0, sum: 0 };

try {
  const RED = createRequire(join(config.installDir, 'package.json'))('node-red') as NodeRedRuntime;
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(nodeRedFlow()));
  const server = createServer((_req, res) => res.writeHead(404).end());
  RED.init(server, {
    userDir,
    flowFile: 'flows.json',
    httpAdminRoot: false,
    httpNodeRoot: '/',
    credentialSecret: false,
    functionGlobalContext: { benchStats: stats },
    logging: { console: { level: 'warn', metrics: false, audit: false } },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await RED.start();
  const { port } = server.address() as { port: number };

  const stop = () => RED.stop().catch(() => undefined).finally(() => {
    rmSync(userDir, { recursive: true, force: true });
    process.exit(0);
  });
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  serveRpc({
    count: () => ({ at: Date.now(), ...stats }),
    cpu() {
      const usage = process.cpuUsage();
      return { at: performance.now(), ms: (usage.user + usage.system) / 1000 };
    },
  });
  announce({ url: `ws://127.0.0.1:${port}${NODE_RED_PATH}`, version: RED.version(), pid: process.pid });
} catch (err) {
  rmSync(userDir, { recursive: true, force: true });
  failStart(err);
}
