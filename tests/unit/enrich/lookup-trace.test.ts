/**
 * The opt-in trace of TieredMetadataLookup.resolve (what each tier did per key), over the enrich fakes.
 */
import { LookupTrace } from '../../../functions/enrich/src/tiered-lookup.ts';
import { buildLookup, FakeRemoteCache, FakeSource, host, service, metadataRequest as request } from './fakes.ts';

describe('LookupTrace', () => {
  let remote: FakeRemoteCache;
  let source: FakeSource;

  beforeEach(() => {
    remote = new FakeRemoteCache();
    source = new FakeSource();
    source.hosts = [host()];
    source.services = [service()];
  });

  it('records each tier per key, in order, and the same answers as an untraced lookup', async () => {
    // Prepare: two lookups over the same data, one traced
    const traced = buildLookup(remote, source).lookup;
    const untraced = buildLookup(new FakeRemoteCache(), source).lookup;
    const trace = new LookupTrace();
    // Act
    const withTrace = await traced.resolve(request({ ips: ['10.0.0.1'], services: ['payment-api', 'nobody'] }), { trace });
    const without = await untraced.resolve(request({ ips: ['10.0.0.1'], services: ['payment-api', 'nobody'] }));
    // Assess
    expect(trace.steps('services', 'nobody')).toEqual([
      { tier: 'memory', outcome: 'miss' },
      { tier: 'redis', outcome: 'miss' },
      { tier: 'postgres', outcome: 'not_found' },
    ]);
    expect(trace.steps('hostsByIp', '10.0.0.1').at(-1)).toEqual({ tier: 'postgres', outcome: 'found' });
    expect(trace.steps('services', 'never-asked')).toEqual([]);
    // Read times aside (each lookup has its own), the answers and tallies are the same.
    const answers = (resolved: typeof without) => {
      const kinds = { hostsByIp: resolved.hostsByIp, networks: resolved.networks, hostsByName: resolved.hostsByName, services: resolved.services };
      const entries = Object.entries(kinds).flatMap(([kind, map]) => [...map].map(([key, answer]) => ({ kind, key, ...answer, fetchedAt: undefined })));
      return { entries, tally: resolved.tally };
    };
    expect(answers(withTrace)).toEqual(answers(without));
  });

  it('fetches its own keys instead of awaiting a concurrent batch fetch of them, so every step is its own', async () => {
    // Prepare: an untraced lookup of the key is in flight (PostgreSQL held)
    const { lookup } = buildLookup(remote, source);
    let release: () => void = () => undefined;
    source.gate = new Promise((resolve) => {
      release = resolve;
    });
    const batch = lookup.resolve(request({ services: ['payment-api'] }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const trace = new LookupTrace();
    // Act
    const previewed = lookup.resolve(request({ services: ['payment-api'] }), { trace });
    await new Promise((resolve) => setTimeout(resolve, 5));
    source.gate = undefined;
    release();
    const [, resolved] = await Promise.all([batch, previewed]);
    // Assess
    expect(source.calls).toHaveLength(2);
    expect(resolved.services.get('payment-api')).toMatchObject({ state: 'found', tier: 'postgres' });
    expect(trace.steps('services', 'payment-api').map((step) => `${step.tier}:${step.outcome}`)).toEqual(['memory:miss', 'redis:miss', 'postgres:found']);
  });
});
