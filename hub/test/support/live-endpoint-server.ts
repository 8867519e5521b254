// A /ws/live endpoint on its own HTTP server on 127.0.0.1, for tests of the endpoint by itself.
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import type { LiveBus } from '../../src/live/live-bus.ts';
import { createLiveEndpoint, type LiveEndpointOptions } from '../../src/live/live-endpoint.ts';
import { createMetrics } from '../../src/metrics.ts';
import { testOperatorAuth } from './operator-auth.ts';

export interface LiveEndpointServer {
  url: string;
  /** the operator token clients authenticate with */
  token: string;
  /** the server's side of each upgraded connection, in order: its bytesWritten is what crossed the wire */
  sockets: Socket[];
  close(): Promise<void>;
}

export async function startLiveEndpoint(bus: LiveBus, extra: Partial<LiveEndpointOptions> = {}): Promise<LiveEndpointServer> {
  const token = 'live-endpoint-operator-token';
  const { auth, guard, close } = testOperatorAuth(token);
  const endpoint = createLiveEndpoint({
    bus, metrics: createMetrics(), log: pino({ level: 'silent' }), auth, guard, coalesceAboveBytes: 1024 * 1024, stuckCloseMs: 10_000, retryMs: 20, ...extra,
  });
  const sockets: Socket[] = [];
  const server = createServer();
  server.on('upgrade', (req, socket, head) => {
    sockets.push(socket as Socket);
    void endpoint.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws/live`,
    token,
    sockets,
    async close() {
      endpoint.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await close();
    },
  };
}
