/**
 * The traffic mix of a load run: what a real fleet sends. Logs come from known hosts (full enrichment),
 * from unknown addresses inside known networks (network-level enrichment only), and from addresses nobody
 * knows; services are known or not; levels are mostly INFO. Pure: randomness is injected, so tests can
 * fix it and check the proportions.
 */
import { formatIp, parseCidr } from '#shared/net/ip.ts';
import type { LogInput } from '#shared/schemas/log.ts';

/** What the demo metadata knows, reduced to what the mix needs. */
export interface MixCatalog {
  hosts: readonly { hostname: string; ip: string }[];
  /** CIDRs; only IPv4 ones are used to draw addresses. */
  networks: readonly string[];
  services: readonly string[];
}

/** Relative weights; they need not add up to 1. */
export interface MixWeights {
  knownHost: number;
  knownNetwork: number;
  unknownIp: number;
  knownService: number;
  unknownService: number;
}

export const DEFAULT_WEIGHTS: MixWeights = {
  knownHost: 0.6,
  knownNetwork: 0.25,
  unknownIp: 0.15,
  knownService: 0.8,
  unknownService: 0.2,
};

export const LEVEL_WEIGHTS: ReadonlyArray<readonly [LogInput['level'], number]> = [
  ['DEBUG', 0.1],
  ['INFO', 0.7],
  ['WARN', 0.12],
  ['ERROR', 0.07],
  ['FATAL', 0.01],
];

/** Where a generated log's address comes from (so a run can say what it offered). */
export type SourceKind = 'knownHost' | 'knownNetwork' | 'unknownIp';

/** Documentation ranges (RFC 5737): never part of any real or demo network. */
const UNKNOWN_RANGES = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'] as const;
const UNKNOWN_SERVICES = ['legacy-batch', 'shadow-it-cron', 'unregistered-worker'] as const;

export interface GeneratedLog {
  log: LogInput & { source_ip: string; attributes: Record<string, unknown> };
  source: SourceKind;
}

/**
 * Returns a generator of logs following `weights`. Every log carries `attributes.load_run = runId`.
 *
 * @example
 * const next = createLogMix(catalog, { runId: 'r1' });
 * const { log } = next(); // { level: 'INFO', service: 'payment-service', source_ip: '192.168.1.100', ... }
 */
export function createLogMix(
  catalog: MixCatalog,
  options: { runId: string; weights?: MixWeights; random?: () => number },
): () => GeneratedLog {
  const random = options.random ?? Math.random;
  const weights = options.weights ?? DEFAULT_WEIGHTS;
  const networks = catalog.networks.flatMap((cidr) => {
    const parsed = parseIpv4Cidr(cidr);
    return parsed === undefined ? [] : [parsed];
  });
  const knownIps = new Set(catalog.hosts.map((host) => host.ip));
  const unknownRanges = UNKNOWN_RANGES.map((cidr) => parseIpv4Cidr(cidr) as Ipv4Cidr);
  // A category with nothing to draw from gets no weight rather than failing the whole run.
  const sourceWeights: Array<readonly [SourceKind, number]> = [
    ['knownHost', catalog.hosts.length > 0 ? weights.knownHost : 0],
    ['knownNetwork', networks.length > 0 ? weights.knownNetwork : 0],
    ['unknownIp', weights.unknownIp],
  ];
  const serviceWeights: Array<readonly [boolean, number]> = [
    [true, catalog.services.length > 0 ? weights.knownService : 0],
    [false, weights.unknownService],
  ];
  let sequence = 0;

  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;

  const addressFor = (source: SourceKind): { ip: string; hostname?: string } => {
    if (source === 'knownHost') {
      const host = pick(catalog.hosts);
      return { ip: host.ip, hostname: host.hostname };
    }
    if (source === 'knownNetwork') {
      // A few tries to miss the known hosts; a /32 network or a crowded /30 can only give a host's address.
      const network = pick(networks);
      let ip = randomIpIn(network, random);
      for (let attempt = 0; attempt < 8 && knownIps.has(ip); attempt += 1) ip = randomIpIn(network, random);
      return { ip };
    }
    // Bounded: a catalog holding a network as wide as 0.0.0.0/0 leaves no unknown address to find.
    let ip = randomIpIn(pick(unknownRanges), random);
    for (let attempt = 0; attempt < 32 && networks.some((network) => ipv4InCidr(ip, network)); attempt += 1) {
      ip = randomIpIn(pick(unknownRanges), random);
    }
    return { ip };
  };

  return () => {
    sequence += 1;
    const source = weighted(sourceWeights, random);
    const { ip, hostname } = addressFor(source);
    const service = weighted(serviceWeights, random) ? pick(catalog.services) : pick(UNKNOWN_SERVICES);
    const level = weighted(LEVEL_WEIGHTS, random);
    return {
      source,
      log: {
        level,
        service,
        source_ip: ip,
        message: `load ${options.runId} #${sequence}: ${level.toLowerCase()} from ${service}`,
        ...(hostname === undefined ? {} : { hostname }),
        attributes: { load_run: options.runId, sequence },
      },
    };
  };
}

/** Picks one value with probability proportional to its weight. */
export function weighted<T>(choices: ReadonlyArray<readonly [T, number]>, random: () => number): T {
  const total = choices.reduce((sum, [, weight]) => sum + Math.max(0, weight), 0);
  if (!(total > 0)) throw new RangeError('at least one weight must be positive');
  let remaining = random() * total;
  let chosen: T | undefined;
  for (const [value, weight] of choices) {
    if (weight <= 0) continue;
    chosen = value;
    remaining -= weight;
    if (remaining < 0) break;
  }
  return chosen as T;
}

export interface Ipv4Cidr {
  base: number;
  prefix: number;
}

/** `undefined` for anything that is not an IPv4 CIDR (IPv6 networks are skipped by the mix); no prefix is /32. */
export function parseIpv4Cidr(cidr: string): Ipv4Cidr | undefined {
  const text = cidr.trim();
  const parsed = parseCidr(text.includes('/') ? text : `${text}/32`);
  return parsed?.version === 4 ? { base: Number(parsed.network), prefix: parsed.prefix } : undefined;
}

export function ipv4InCidr(ip: string, cidr: Ipv4Cidr): boolean {
  const parsed = parseIpv4Cidr(ip);
  if (parsed === undefined) return false;
  const size = 2 ** (32 - cidr.prefix);
  return parsed.base >= cidr.base && parsed.base < cidr.base + size;
}

/** A random address inside `cidr`, avoiding the network and broadcast addresses when there are others. */
export function randomIpIn(cidr: Ipv4Cidr, random: () => number): string {
  const size = 2 ** (32 - cidr.prefix);
  const offset = size > 2 ? 1 + Math.floor(random() * (size - 2)) : Math.floor(random() * size);
  return formatIp({ version: 4, value: BigInt(cidr.base + offset) });
}
