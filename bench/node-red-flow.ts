// The Node-RED peer's flow: a websocket-in node → a function node that decodes each READINGS frame
// as the hub's codec does (version, length, CRC-16 [FP-3.1, FP-3.3], every sample [FP-4.2]) into
// one object per reading, as a Node-RED flow would hand them on → a count. The function's code is
// plain JavaScript, run by Node-RED in its sandbox; the count object comes from the settings'
// functionGlobalContext, so the bench child reads it without a round trip through the flow.

export const NODE_RED_PATH = '/ws/bench';

export interface NodeRedStats {
  messages: number;
  readings: number;
  /** frames that failed a check: the bench sends none */
  refused: number;
  /** a checksum of the decoded values, so the decoding cannot be skipped as unused */
  sum: number;
}

/** Runs once when the function node starts: the CRC table (CRC-16/CCITT-FALSE, poly 0x1021). */
export const DECODE_SETUP = `
const table = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  table[byte] = crc;
}
context.set('crc', table);
`;

/** Runs per message: `msg.payload` is the frame as a Buffer. */
export const DECODE_FUNCTION = `
const stats = global.get('benchStats');
const b = msg.payload;
if (!Buffer.isBuffer(b) || b.length < 12 || b[0] !== 1) { stats.refused++; return null; }
const end = 10 + (b[8] | (b[9] << 8));
if (b.length !== end + 2) { stats.refused++; return null; }
const table = context.get('crc');
let crc = 0xffff;
for (let i = 0; i < end; i++) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ b[i]) & 0xff];
if (crc !== (b[end] | (b[end + 1] << 8)) || b[1] !== 0x02) { stats.refused++; return null; }
let at = 10;
let baseTime = 0;
if (b[2] & 1) {
  baseTime = b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
  at += 8;
}
const count = b.readUInt16LE(at);
at += 2;
const readings = [];
for (let i = 0; i < count; i++) {
  const channel = b[at];
  const type = b[at + 1];
  const time = baseTime + b.readInt32LE(at + 2);
  at += 6;
  let value;
  if (type === 1) { value = b.readFloatLE(at); at += 4; }
  else if (type === 2) { value = b.readDoubleLE(at); at += 8; }
  else if (type === 3) { value = b.readInt32LE(at); at += 4; }
  else if (type === 4) { value = b[at] === 1; at += 1; }
  else { stats.refused++; return null; }
  if (at > end) { stats.refused++; return null; }
  readings.push({ channel, time, value });
}
if (at !== end) { stats.refused++; return null; }
stats.messages++;
stats.readings += readings.length;
for (const r of readings) stats.sum += typeof r.value === 'boolean' ? Number(r.value) : r.value;
return null;
`;

export function nodeRedFlow(): object[] {
  return [
    { id: 'bench-tab', type: 'tab', label: 'bench' },
    { id: 'bench-listener', type: 'websocket-listener', path: NODE_RED_PATH, wholemsg: 'false' },
    { id: 'bench-in', type: 'websocket in', z: 'bench-tab', server: 'bench-listener', client: '', wires: [['bench-decode']] },
    { id: 'bench-decode', type: 'function', z: 'bench-tab', name: 'decode READINGS', func: DECODE_FUNCTION, initialize: DECODE_SETUP, finalize: '', outputs: 0, wires: [] },
  ];
}
