/**
 * One spelling per address and per network, the one PostgreSQL's `inet` and `cidr` print, so that a log's
 * `source_ip`, the Redis cache keys built from it, the keys the metadata writer deletes (from what PostgreSQL
 * returns) and the networks the metadata API answers with agree: `2001:0DB8::0:1` and `2001:db8::1` must not
 * be two cache entries, one of which is never invalidated.
 *
 * Also the arithmetic PostgreSQL cannot tell a client nicely: whether a CIDR has host bits set (the `cidr`
 * type would reject `10.20.1.0/16` with a bare 22P02). Whether a text is an address at all is zod's job
 * (`z.ipv4()`, `z.cidrv6()`…); these functions re-check with `node:net` and return undefined otherwise.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type IpVersion = 4 | 6;

/** An address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface IpValue {
  version: IpVersion;
  value: bigint;
}

export interface Cidr {
  version: IpVersion;
  /** The address with its host bits cleared. */
  network: bigint;
  prefix: number;
  /** True when the written address had bits set beyond the prefix (`10.20.1.0/16`). */
  hostBitsSet: boolean;
}

const WIDTH: Record<IpVersion, number> = { 4: 32, 6: 128 };

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
 * The address in PostgreSQL's spelling; a text that is not an address is returned as it is.
 *
 * @example
 * canonicalIp('2001:0DB8:0:0:0:0:0:1'); // '2001:db8::1'
 * canonicalIp('::FFFF:102:304');        // '::ffff:1.2.3.4'
 */
export function canonicalIp(text: string): string {
  const parsed = parseIp(text);
  return parsed === undefined ? text : formatIp(parsed);
}

/**
 * @example
 * parseIp('10.20.1.5'); // { version: 4, value: 169083141n }
 */
export function parseIp(text: string): IpValue | undefined {
  if (isIPv4(text)) return { version: 4, value: ipv4Value(text) };
  // Zone ids (`fe80::1%eth0`) name an interface, not an address; PostgreSQL's inet rejects them too.
  if (isIPv6(text) && !text.includes('%')) return { version: 6, value: ipv6Value(text) };
  return undefined;
}

/**
 * @example
 * parseCidr('10.20.1.0/16'); // { version: 4, network: 169082880n, prefix: 16, hostBitsSet: true }
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return undefined;
  const address = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const width = WIDTH[address.version];
  if (prefix > width) return undefined;
  const hostMask = (1n << BigInt(width - prefix)) - 1n;
  return {
    version: address.version,
    network: address.value & ~hostMask,
    prefix,
    hostBitsSet: (address.value & hostMask) !== 0n,
  };
}

/**
 * PostgreSQL's text for an address: a dotted quad, or RFC 5952 IPv6 (lower case, the first longest run of two
 * or more zero groups compressed) with the last 32 bits as a dotted quad where PostgreSQL writes them so
 * (`inet_net_ntop`): IPv4-mapped (`::ffff:1.2.3.4`, RFC 5952 §5) and IPv4-compatible (`::1.2.3.4`, but
 * not `::1`, `::2`…).
 *
 * @example
 * formatIp({ version: 6, value: 0xffff01020304n }); // '::ffff:1.2.3.4'
 */
export function formatIp({ version, value }: IpValue): string {
  if (version === 4) return dottedQuad(value);
  const groups = Array.from({ length: 8 }, (_, index) => Number((value >> BigInt(112 - index * 16)) & 0xffffn));
  const zeroHead = (count: number) => groups.slice(0, count).every((group) => group === 0);
  if (zeroHead(5) && groups[5] === 0xffff) return `::ffff:${dottedQuad(value & 0xffffffffn)}`;
  if (zeroHead(6) && groups[6] !== 0) return `::${dottedQuad(value & 0xffffffffn)}`;
  let best = { start: -1, length: 0 };
  let run = { start: -1, length: 0 };
  groups.forEach((group, index) => {
    if (group !== 0) {
      run = { start: -1, length: 0 };
      return;
    }
    run = run.start < 0 ? { start: index, length: 1 } : { start: run.start, length: run.length + 1 };
    if (run.length > best.length) best = run;
  });
  const hex = groups.map((group) => group.toString(16));
  // RFC 5952 §4.2.2: a single zero group is not compressed.
  if (best.length < 2) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

/** PostgreSQL's text for a network (`10.20.0.0/16`, `::ffff:192.0.2.0/120`); host bits are cleared. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ version: cidr.version, value: cidr.network })}/${cidr.prefix}`;
}

function dottedQuad(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

function ipv4Value(text: string): bigint {
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6Value(text: string): bigint {
  let body = text;
  // An embedded IPv4 tail (`::ffff:192.0.2.1`) is the last two 16-bit groups.
  const tail = body.slice(body.lastIndexOf(':') + 1);
  if (tail.includes('.')) {
    const v4 = ipv4Value(tail);
    body = `${body.slice(0, body.length - tail.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [left = '', right] = body.split('::');
  const head = left === '' ? [] : left.split(':');
  const rest = right === undefined || right === '' ? [] : right.split(':');
  const groups = right === undefined ? head : [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  return groups.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}
