export * from './frames.ts';
export * from './errors.ts';
export { crc16 } from './crc16.ts';
export { decodeFrame, encodeFrame } from './codec.ts';
export { decodeLine, encodeLine, encodeLineBytes, FRAME_LINE_PREFIX, MAX_LINE_LENGTH, type SerialLine } from './serial-line.ts';
export { decodeFrameInto } from './codec.ts';
export { MAX_SAMPLES, ReadingsColumns } from './readings-columns.ts';
