// [FP-8] Serial line encoding: '@' + base64(frame) + '\n'. Other lines are device console output.
import { decodeFrame, encodeFrame } from './codec.ts';
import { ProtocolError } from './errors.ts';
import { MAX_FRAME, type Frame } from './frames.ts';

export const FRAME_LINE_PREFIX = '@';
// [FP-8.4] base64 of a maximal frame, plus prefix and slack
export const MAX_LINE_LENGTH = 21870;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export type SerialLine = { kind: 'frame'; frame: Frame } | { kind: 'console'; text: string };

export function encodeLine(frame: Frame): string {
  return encodeLineBytes(encodeFrame(frame));
}

/** The line for bytes already encoded, e.g. a kept frame resent exactly as it was first sent. */
export function encodeLineBytes(frameBytes: Uint8Array): string {
  return FRAME_LINE_PREFIX + Buffer.from(frameBytes).toString('base64') + '\n';
}

/** Classifies one line (without its '\n'). Throws only ProtocolError for a frame line that does not decode. */
export function decodeLine(line: string): SerialLine {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line; // [FP-8.1] CRLF allowed
  if (!text.startsWith(FRAME_LINE_PREFIX)) return { kind: 'console', text };
  const body = text.slice(1);
  if (body.length > MAX_LINE_LENGTH) throw new ProtocolError('FP_ERR_TOO_LARGE', `line of ${body.length} characters`);
  if (!BASE64.test(body)) throw new ProtocolError('FP_ERR_BAD_LINE', 'frame line is not base64');
  const bytes = Buffer.from(body, 'base64');
  if (bytes.length > MAX_FRAME) throw new ProtocolError('FP_ERR_TOO_LARGE', `${bytes.length}-byte frame`);
  return { kind: 'frame', frame: decodeFrame(bytes) };
}
