// `npm run demo`: the hub in-process with its usual configuration (HUB_PORT, HUB_DATA_DIR, …)
// plus a handful of simulated devices, for a first look at the dashboard. Ctrl-C stops both.
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../hub/src/config.ts';
import { startHub } from '../../hub/src/start-hub.ts';
import { Fleet, type FleetDeviceSpec } from './fleet.ts';
import { provisionDevices } from './provision.ts';

// Varied on purpose: each shows a different kind of chart on the dashboard.
const DEVICES: Omit<FleetDeviceSpec, 'token'>[] = [
  { id: 'demo-greenhouse', kinds: ['temperature', 'humidity', 'battery'], temperatureBase: 27 },
  { id: 'demo-cold-room', kinds: ['temperature', 'door'], temperatureBase: 4 },
  { id: 'demo-pump', kinds: ['accel', 'counter', 'battery'] },
  { id: 'demo-office', kinds: ['temperature', 'humidity', 'door'] },
  { id: 'demo-meter', kinds: ['counter', 'battery'] },
];
const RATE_HZ = 2;
// ten-minute days, so the daily temperature cycle shows while someone watches
const DAY_MS = 10 * 60_000;

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`demo: ${err.message}\n`);
    process.exit(2);
  }
  const hub = await startHub(config);
  const tokens = await provisionDevices({
    hubUrl: hub.url,
    ids: DEVICES.map((d) => d.id),
    operatorToken: { token: hub.adminToken, from: 'the hub' },
    // in the data dir, so the next demo on the same data reuses its devices and their history
    tokensFile: join(config.dataDir, 'demo-tokens.json'),
    // these are the demo's own devices: if their tokens were lost, recreating them is harmless
    reprovision: true,
  });
  const fleet = new Fleet({
    hubUrl: hub.url,
    devices: DEVICES.map((d) => ({ ...d, token: tokens.get(d.id)! })),
    rate: RATE_HZ,
    batch: 1,
    absoluteTime: true,
    seed: Math.floor(Math.random() * 0x1_0000_0000),
    dayLengthMs: DAY_MS,
    connectRate: 50,
    sourceAddresses: [],
    maxUnacked: 10_000,
    faults: { badToken: false },
    firmware: 'demo-1.0',
    log: say,
  });
  fleet.start();

  say('');
  say('Telemetry hub demo');
  say(`  Dashboard:      ${hub.url}/`);
  say(`  Operator token: ${hub.adminToken}`);
  say(`  Devices:        ${DEVICES.length} simulated, ${RATE_HZ} frames/s each:`);
  for (const d of DEVICES) say(`                  ${d.id.padEnd(16)} ${d.kinds.join(', ')}`);
  say('  Ctrl-C stops everything.');
  say('');

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130); // a second Ctrl-C: now
    stopping = true;
    say(`${signal}: stopping the devices and the hub`);
    await fleet.stop(2000);
    await hub.close();
    process.exit(0);
  };
  process.on('SIGINT', (s) => void stop(s));
  process.on('SIGTERM', (s) => void stop(s));
}

main().catch((err) => {
  process.stderr.write(`demo: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
