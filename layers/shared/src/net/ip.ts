/**
 * One spelling per address, the one PostgreSQL's `inet` prints, so that a log's `source_ip`, the Redis
 * cache keys built from it and the keys the metadata writer deletes (from what PostgreSQL returns) agree:
 * `2001:0DB8::0:1` and `2001:db8::1` must not be two cache entries, one of which is never invalidated.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * @example
 * canonicalIp('2001:0DB8:0:0:0:0:0:1'); // '2001:db8::1'
 * canonicalIp('::FFFF:1.2.3.4');        // '::ffff:1.2.3.4'
 */
export function canonicalIp(text: string): string {
  if (isIPv4(text) || !isIPv6(text)) return text;
  // The WHATWG URL host serializer writes RFC 5952 text (lower case, longest zero run compressed, a
  // single zero group left alone), which is PostgreSQL's form except for embedded IPv4.
  const hex = new URL(`http://[${text}]`).hostname.slice(1, -1);
  const words = expand(hex);
  // PostgreSQL (inet_net_ntop) writes the last 32 bits as a dotted quad for IPv4-mapped addresses
  // (::ffff:a.b.c.d) and for IPv4-compatible ones (::a.b.c.d, but not ::1 or ::2).
  const mapped = words.slice(0, 5).every((word) => word === 0) && words[5] === 0xffff;
  const compatible = words.slice(0, 6).every((word) => word === 0) && (words[6] ?? 0) !== 0;
  if (!mapped && !compatible) return hex;
  const high = words[6] ?? 0;
  const low = words[7] ?? 0;
  const quad = `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  return mapped ? `::ffff:${quad}` : `::${quad}`;
}

function expand(hex: string): number[] {
  const [head = '', tail] = hex.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16));
}
