import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError, type HttpErrorName } from '../http/http-error.ts';

/**
 * Answers a refused upgrade with a plain HTTP error in the API's JSON shape, then drops the socket.
 * The status is the code's, from the one table of HTTP error codes.
 */
export function rejectUpgrade(socket: Duplex, code: HttpErrorName, message: string): void {
  if (!socket.writable) return void socket.destroy();
  const error = new HttpError(code, message);
  const body = JSON.stringify(error.toJSON());
  // destroyed once written: a peer that never closes its side must not keep the socket half-open
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n` +
      'Connection: close\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
  // ...and one that does not even read its answer is cut off
  setTimeout(() => socket.destroy(), 1000).unref();
}
