// Entry point: config from the environment, start the hub, stop cleanly on SIGINT/SIGTERM.
import { ConfigError, loadConfig } from './config.ts';
import { startHub } from './start-hub.ts';

let options;
try {
  options = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`hub: ${err.message}\n`);
  process.exit(2);
}
const hub = await startHub(options);
process.stdout.write(`hub: dashboard at ${hub.url}/ (operator token in ${options.dataDir}/admin-token unless HUB_ADMIN_TOKEN is set)\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    hub.log.info({ signal }, 'stopping');
    hub.close().then(
      () => process.exit(0),
      (err) => {
        hub.log.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  });
}
