/**
 * IP and CIDR arithmetic for what PostgreSQL cannot tell a client nicely: whether a CIDR has host bits
 * set (the `cidr` type would reject `10.20.1.0/16` with a bare 22P02), and whether two spellings name the
 * same network (`2001:DB8::/32` and `2001:db8::/32`). Whether a text is an address at all is zod's job
 * (`z.ipv4()`, `z.cidrv6()`…); these functions re-check with `node:net` and return undefined otherwise.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type IpVersion = 4 | 6;

export interface IpAddress {
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

/**
 * @example
 * parseIp('10.20.1.5'); // { version: 4, value: 169083141n }
 */
export function parseIp(text: string): IpAddress | undefined {
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

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatIp({ version, value }: IpAddress): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, index) => Number((value >> BigInt(112 - index * 16)) & 0xffffn));
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

/** Canonical network text (`10.20.0.0/16`); host bits are cleared. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ version: cidr.version, value: cidr.network })}/${cidr.prefix}`;
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
