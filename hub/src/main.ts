// Entry point (`npm start` runs its build, hub/dist/main.js): arguments, config from the
// environment, start the hub, stop cleanly on SIGINT/SIGTERM.
//
// stdout carries the JSON log; stderr carries what the person starting the hub must read: a
// generated operator token, and the one line saying why the hub could not start.
// Exit codes: 0 stopped cleanly; 1 unclean or overdue stop, or a failure nobody foresaw; 2 bad
// arguments or configuration, or a port, data dir or store the hub cannot use.
import { join } from 'node:path';
import { ConfigError, loadConfig, type HubOptions } from './config.ts';
import { createLogger } from './log.ts';
import { stopOnSignals } from './shutdown.ts';
import { describeStartError } from './start-error.ts';
import type { Hub } from './start-hub.ts';
import { USAGE } from './usage.ts';

const say = (line: string) => process.stderr.write(`hub: ${line}\n`);

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (args.length > 0) {
  say(`unknown argument ${args[0]}: the hub takes its configuration from environment variables (see --help)`);
  process.exit(2);
}

let options: HubOptions;
try {
  options = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  say(err.message);
  process.exit(2);
}
const log = createLogger(options.logLevel);

// Listening from the start: a signal that arrives while the hub starts stops it once it is up.
let resolveStarted!: (hub: Hub) => void;
const started = new Promise<Hub>((resolve) => (resolveStarted = resolve));
stopOnSignals({ close: async () => (await started).close(), log, exit: (code) => process.exit(code) });

try {
  // Loaded here, not at the top, so --help and configuration errors never load native modules.
  const { startHub } = await import('./start-hub.ts');
  const hub = await startHub({ ...options, log });
  if (hub.generatedAdminToken) {
    say(`operator token (generated now, shown only this once; kept in ${join(options.dataDir, 'admin-token')}): ${hub.adminToken}`);
  }
  say(`dashboard at ${hub.url}/`);
  resolveStarted(hub);
} catch (err) {
  const reason = describeStartError(err, options);
  if (reason) {
    say(reason);
    process.exit(2);
  }
  log.fatal({ err }, 'start failed');
  say(`could not start: ${(err as Error).message} (details in the log)`);
  process.exit(1);
}
