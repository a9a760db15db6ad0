/**
 * One spelling per address, the one PostgreSQL's `inet` prints, so that a log's `source_ip`, the Redis
 * cache keys built from it and the keys the metadata writer deletes (from what PostgreSQL returns) agree:
 * `2001:0DB8::0:1` and `2001:db8::1` must not be two cache entries, one of which is never invalidated.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Addresses that name no particular machine: loopback, link-local (RFC 3927, RFC 4291) and unspecified. */
const NO_HOST = new BlockList();
NO_HOST.addSubnet('127.0.0.0', 8, 'ipv4');
NO_HOST.addSubnet('169.254.0.0', 16, 'ipv4');
NO_HOST.addAddress('0.0.0.0', 'ipv4');
NO_HOST.addAddress('::1', 'ipv6');
NO_HOST.addAddress('::', 'ipv6');
NO_HOST.addSubnet('fe80::', 10, 'ipv6');

/**
 * True for a loopback, link-local or unspecified address (also IPv4-mapped: `::ffff:127.0.0.1`): one that
 * every machine has, so it cannot say which machine wrote a log. False for anything else, including non-addresses.
 *
 * @example
 * isLinkLocalOrLoopback('fe80::1'); // true
 * isLinkLocalOrLoopback('10.0.0.5'); // false
 */
export function isLinkLocalOrLoopback(text: string): boolean {
  if (isIPv4(text)) return NO_HOST.check(text, 'ipv4');
  return isIPv6(text) && NO_HOST.check(text, 'ipv6');
}

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
