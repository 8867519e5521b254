// [FP-3.3] CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR.
// Slicing-by-4 tables: four bytes per step instead of one, since every frame is checked twice
// (device side and hub side) and this sat near the top of the hub's ingest profile.
const T0 = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  T0[byte] = crc;
}
const T1 = new Uint16Array(256);
const T2 = new Uint16Array(256);
const T3 = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  T1[i] = ((T0[i] << 8) & 0xffff) ^ T0[T0[i] >> 8];
  T2[i] = ((T1[i] << 8) & 0xffff) ^ T0[T1[i] >> 8];
  T3[i] = ((T2[i] << 8) & 0xffff) ^ T0[T2[i] >> 8];
}

export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  let i = start;
  for (const stop = end - 3; i < stop; i += 4) {
    const a = bytes[i] ^ (crc >> 8);
    const b = bytes[i + 1] ^ (crc & 0xff);
    crc = T3[a] ^ T2[b] ^ T1[bytes[i + 2]] ^ T0[bytes[i + 3]];
  }
  for (; i < end; i++) crc = ((crc << 8) & 0xffff) ^ T0[((crc >> 8) ^ bytes[i]) & 0xff];
  return crc;
}
