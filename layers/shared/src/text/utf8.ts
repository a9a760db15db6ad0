/**
 * Bytes to text for what producers send us (Kafka values, HTTP bodies), strictly: a producer that writes
 * Latin-1 (`caf\xE9`) must be told, not have its bytes silently replaced with U+FFFD. One leading UTF-8 byte
 * order mark is dropped (JSON forbids it, but Windows tools write it); everywhere else it is data.
 *
 * `isUtf8` (node:buffer, native) is the check on the hot path: it costs about as much as decoding, and the
 * offset of the first bad byte, which the problem names, is only searched for when the check fails.
 */
import { isUtf8 } from 'node:buffer';

const BOM = [0xef, 0xbb, 0xbf] as const;

/** The bytes without one leading UTF-8 byte order mark (a view, no copy). */
export function withoutBom(bytes: Buffer): Buffer {
  return bytes.length >= 3 && bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2] ? bytes.subarray(3) : bytes;
}

/** A string without one leading U+FEFF (what a BOM decodes to). */
export function withoutBomText(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * The text of UTF-8 bytes (one leading BOM dropped), or why they are not UTF-8.
 *
 * @example
 * decodeUtf8(Buffer.from([0x63, 0x61, 0x66, 0xe9])); // { ok: false, reason: 'is not valid UTF-8 (byte 0xe9 at offset 3)' }
 */
export function decodeUtf8(bytes: Buffer): { ok: true; text: string } | { ok: false; reason: string } {
  const body = withoutBom(bytes);
  if (isUtf8(body)) return { ok: true, text: body.toString('utf8') };
  const offset = firstInvalidUtf8(body) + (body.length === bytes.length ? 0 : 3);
  const byte = bytes[offset] ?? 0;
  return { ok: false, reason: `is not valid UTF-8 (byte 0x${byte.toString(16).padStart(2, '0')} at offset ${offset})` };
}

/**
 * Offset of the first byte that starts no well-formed sequence (Unicode table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF); the length when every byte is well-formed. The error path only.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i] as number;
    if (b0 < 0x80) {
      i++;
      continue;
    }
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) length = 2;
    else if (b0 >= 0xe0 && b0 <= 0xef) {
      length = 3;
      if (b0 === 0xe0) low = 0xa0;
      else if (b0 === 0xed) high = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      length = 4;
      if (b0 === 0xf0) low = 0x90;
      else if (b0 === 0xf4) high = 0x8f;
    } else return i;
    for (let k = 1; k < length; k++) {
      const b = bytes[i + k];
      // The second byte has the narrower range; the later ones are any continuation byte.
      if (b === undefined || b < (k === 1 ? low : 0x80) || b > (k === 1 ? high : 0xbf)) return i;
    }
    i += length;
  }
  return i;
}
