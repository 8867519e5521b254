// The raw `ws` ceiling's server: accepts binary messages and only counts them. Same `ws` options
// as the hub's device endpoint, so the gap to the hub is what the hub does with a message.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { MAX_FRAME } from '../hub/src/protocol/index.ts';
import { announce, serveRpc } from './child-rpc.ts';

let messages = 0;
let bytes = 0;
const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME, perMessageDeflate: false, clientTracking: false });
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data: Buffer) => {
      messages++;
      bytes += data.length;
    });
    ws.on('error', () => undefined);
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  serveRpc({
    count: () => ({ at: Date.now(), messages, bytes }),
    cpu() {
      const usage = process.cpuUsage();
      return { at: performance.now(), ms: (usage.user + usage.system) / 1000 };
    },
  });
  announce({ url: `ws://127.0.0.1:${port}/`, pid: process.pid });
});
