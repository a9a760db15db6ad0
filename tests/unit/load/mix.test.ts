import {
  createLogMix,
  DEFAULT_WEIGHTS,
  ipv4InCidr,
  parseIpv4Cidr,
  randomIpIn,
  type SourceKind,
  weighted,
} from '../../../load/lib/mix.ts';

/** Deterministic uniform numbers in [0, 1) (mulberry32), so proportions are stable from run to run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const catalog = {
  hosts: [
    { hostname: 'web-01', ip: '192.168.1.100' },
    { hostname: 'db-01', ip: '10.20.0.5' },
  ],
  networks: ['192.168.1.0/24', '10.0.0.0/8', '10.20.0.0/16', '2001:db8::/32'],
  services: ['payment-service', 'auth-service'],
};

describe('createLogMix', () => {
  it('draws known hosts, unknown addresses in known networks and unknown addresses in the configured proportions', () => {
    // Prepare
    const next = createLogMix(catalog, { runId: 'run-1', random: seeded(1) });

    // Act
    const counts: Record<SourceKind, number> = { knownHost: 0, knownNetwork: 0, unknownIp: 0 };
    for (let index = 0; index < 10_000; index += 1) counts[next().source] += 1;

    // Assess: within 2 points of 60/25/15
    expect(counts.knownHost / 10_000).toBeCloseTo(DEFAULT_WEIGHTS.knownHost, 1);
    expect(counts.knownNetwork / 10_000).toBeCloseTo(DEFAULT_WEIGHTS.knownNetwork, 1);
    expect(counts.unknownIp / 10_000).toBeCloseTo(DEFAULT_WEIGHTS.unknownIp, 1);
  });

  it('gives each kind of source an address that really is of that kind', () => {
    // Prepare
    const next = createLogMix(catalog, { runId: 'run-1', random: seeded(2) });
    const networks = catalog.networks.flatMap((cidr) => parseIpv4Cidr(cidr) ?? []);
    const knownIps = new Set(catalog.hosts.map((host) => host.ip));

    // Act
    const logs = Array.from({ length: 2_000 }, () => next());

    // Assess
    for (const { source, log } of logs) {
      const inNetwork = networks.some((network) => ipv4InCidr(log.source_ip, network));
      if (source === 'knownHost') expect(knownIps.has(log.source_ip)).toBe(true);
      if (source === 'knownNetwork') expect(inNetwork && !knownIps.has(log.source_ip)).toBe(true);
      if (source === 'unknownIp') expect(inNetwork).toBe(false);
    }
  });

  it('uses known and unknown services and several levels, and tags every log with the run id', () => {
    // Prepare
    const next = createLogMix(catalog, { runId: 'run-7', random: seeded(3) });

    // Act
    const logs = Array.from({ length: 2_000 }, () => next().log);

    // Assess
    const services = new Set(logs.map((log) => log.service));
    expect([...services].filter((service) => catalog.services.includes(service)).length).toBe(2);
    expect([...services].filter((service) => !catalog.services.includes(service)).length).toBeGreaterThan(0);
    expect(new Set(logs.map((log) => log.level)).size).toBeGreaterThanOrEqual(4);
    expect(logs.every((log) => log.attributes.load_run === 'run-7')).toBe(true);
  });

  it('still produces logs when the catalog is empty, all from unknown sources', () => {
    // Prepare
    const next = createLogMix({ hosts: [], networks: [], services: [] }, { runId: 'r', random: seeded(4) });

    // Act
    const logs = Array.from({ length: 100 }, () => next());

    // Assess
    expect(logs.every(({ source }) => source === 'unknownIp')).toBe(true);
  });
});

describe('IPv4 helpers', () => {
  it('parses a CIDR to its network base, ignoring host bits', () => {
    expect(parseIpv4Cidr('10.20.3.4/16')).toEqual(parseIpv4Cidr('10.20.0.0/16'));
  });

  it('refuses IPv6 and malformed CIDRs', () => {
    expect([parseIpv4Cidr('2001:db8::/32'), parseIpv4Cidr('300.1.1.1/8'), parseIpv4Cidr('10.0.0.0/33')]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('tells whether an address is inside a network', () => {
    const network = parseIpv4Cidr('192.168.1.0/24') as NonNullable<ReturnType<typeof parseIpv4Cidr>>;

    expect([ipv4InCidr('192.168.1.255', network), ipv4InCidr('192.168.2.0', network)]).toEqual([true, false]);
  });

  it('draws addresses inside the network, avoiding its network and broadcast addresses', () => {
    // Prepare
    const network = parseIpv4Cidr('10.0.0.0/30') as NonNullable<ReturnType<typeof parseIpv4Cidr>>;
    const random = seeded(5);

    // Act
    const drawn = new Set(Array.from({ length: 200 }, () => randomIpIn(network, random)));

    // Assess
    expect(drawn).toEqual(new Set(['10.0.0.1', '10.0.0.2']));
  });

  it('picks by weight and never picks a zero weight', () => {
    const random = seeded(6);

    const picks = Array.from({ length: 1_000 }, () => weighted([['a', 0], ['b', 1], ['c', 3]] as const, random));

    expect(picks.includes('a')).toBe(false);
    expect(picks.filter((pick) => pick === 'c').length / 1_000).toBeCloseTo(0.75, 1);
  });
});
