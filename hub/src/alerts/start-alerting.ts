// Alerting as the hub runs it: the service that evaluates rules and records transitions, the
// webhook sender beside it, and the device names rule patterns match, kept current.
import type { Logger } from 'pino';
import type { CommandService } from '../commands/command-service.ts';
import type { LiveBus } from '../live/live-bus.ts';
import type { Metrics } from '../metrics.ts';
import type { Presence } from '../presence/presence.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import { AlertService } from './alert-service.ts';
import type { AlertStore } from './alert-store.ts';
import { createWebhookSender } from './webhook-sender.ts';

export interface Alerting {
  service: AlertService;
  /** a webhook was added: deliver what is due to it now */
  webhooksChanged(): void;
  /** devices were added, renamed or deleted on this hub */
  devicesChanged(): void;
  close(): Promise<void>;
}

export async function startAlerting(options: {
  store: AlertStore;
  live: LiveBus;
  metrics: Metrics;
  log: Logger;
  presence: Presence;
  registry: DeviceRegistry;
  commands: CommandService;
  /** cluster mode: this hub's id, and the other hubs change devices too */
  hubId?: string;
}): Promise<Alerting> {
  const { store, log, registry, commands } = options;
  // in cluster mode every hub runs a sender; the outbox leases each webhook to one of them
  const webhooks = createWebhookSender({ store, owner: options.hubId ?? 'hub', log, metrics: options.metrics });
  const service = new AlertService({
    store, live: options.live, metrics: options.metrics, log, presence: options.presence,
    sendCommand: (deviceId, name, args) => commands.submit(deviceId, { name, args }),
    deviceNames: async () => new Map((await registry.list()).map((d) => [d.id, d.name])),
    onTransition: () => webhooks.kick(),
  });
  await service.start();
  webhooks.start();
  // Rules match device names: read them again after changes, once for a burst (a simulator
  // provisioning a thousand devices), and in cluster mode now and then for the other hubs' changes.
  let namesDue: NodeJS.Timeout | null = null;
  const readNames = () => void service.devicesChanged().catch((err) => log.warn({ err }, 'device names for alert rules not read'));
  const namesTimer = options.hubId !== undefined ? setInterval(readNames, 10_000).unref() : null;
  return {
    service,
    webhooksChanged: () => webhooks.kick(),
    devicesChanged() {
      namesDue ??= setTimeout(() => {
        namesDue = null;
        readNames();
      }, 250).unref();
    },
    async close() {
      if (namesTimer) clearInterval(namesTimer);
      if (namesDue) clearTimeout(namesDue);
      await service.close();
      await webhooks.close();
    },
  };
}
