import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** Answers a refused upgrade with a plain HTTP error in the API's JSON shape, then drops the socket. */
export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify({ error: { code, message } });
  // destroyed once written: a peer that never closes its side must not keep the socket half-open
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Connection: close\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
  // ...and one that does not even read its answer is cut off
  setTimeout(() => socket.destroy(), 1000).unref();
}
