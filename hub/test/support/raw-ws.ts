// A bare WebSocket client on a plain TCP socket: it answers nothing by itself (no pongs), so tests
// can play a hung device or a peer that never reads.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface RawWs {
  socket: Socket;
  sendBinary(payload: Uint8Array): void;
  sendText(text: string): void;
  sendPing(payload: Uint8Array): void;
  close(): void;
}

// Client frames must be masked (RFC 6455 §5.3); a zero mask keeps the payload as it is.
function maskedFrame(opcode: number, payload: Uint8Array): Buffer {
  const len = payload.length;
  const header = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

export function openRawWs(hubUrl: string, path: string, token: string): Promise<RawWs> {
  const { hostname, port } = new URL(hubUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          `Authorization: Bearer ${token}\r\n\r\n`,
      );
    });
    let head = '';
    socket.on('data', function onHandshake(chunk) {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onHandshake);
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head.split('\r\n')[0]));
      resolve({
        socket,
        sendBinary(payload) {
          socket.write(maskedFrame(0x2, payload));
        },
        sendText(text) {
          socket.write(maskedFrame(0x1, Buffer.from(text)));
        },
        sendPing(payload) {
          socket.write(maskedFrame(0x9, payload));
        },
        close() {
          socket.destroy();
        },
      });
    });
  });
}
