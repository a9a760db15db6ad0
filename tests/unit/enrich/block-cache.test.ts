/**
 * BlockCache keeps host and service blocks from batch to batch: what it keeps must not grow with the batches
 * it has seen. A block that kept its batch's Merger (to know whose enrichment JSON it holds) kept that batch's
 * whole ResolvedMetadata alive with it until the cache reached 20,000 blocks: with one new unknown host per
 * batch, every batch's metadata maps stayed in memory (~30 KB per batch of 100 hosts, measured).
 *
 * Counted in a fresh Node process: `v8.queryObjects` runs a full GC and counts what is still reachable, and
 * it does not see objects of Jest's module context.
 */
import { execFileSync } from 'node:child_process';

const at = (path: string) => JSON.stringify(new URL(`../../../functions/enrich/src/${path}`, import.meta.url).href);

/** Live Mergers after `batches` batches through one BlockCache (still in use), each with a host nobody knows. */
function mergersAliveAfter(batches: number): { mergers: number; reused: boolean } {
  const script = `
    import { queryObjects } from 'node:v8';
    const { BlockCache, Merger } = await import(${at('enriched-log.ts')});
    const { NOT_FOUND } = await import(${at('ports.ts')});
    const blocks = new BlockCache();
    const service = { state: 'found', stale: false, value: { name: 'checkout', team: 't', owner: 'o', tier: '1', version: 'v', costCenter: 'c', tags: {} } };
    const metadataFor = (ip) => ({ hostsByIp: new Map([[ip, NOT_FOUND]]), hostsByName: new Map(), networks: new Map([[ip, NOT_FOUND]]), services: new Map([['checkout', service]]), tally: {} });
    const log = (ip) => ({ level: 'INFO', message: 'm', service: 'checkout', source_ip: ip, timestamp: '2024-01-15T10:30:00.000Z', event_id: 'e', received_at: '2024-01-15T10:30:00.000Z', derived: [], dropped_attributes: [] });
    const run = () => {
    let first;
    for (let n = 0; n < ${batches}; n++) {
      const ip = '172.16.0.' + n;
      // Only the host block is incomplete: its batch's enrichment JSON is kept with it.
      const json = new Merger(metadataFor(ip), '2024-01-15T10:30:01.000Z', 1, blocks).serialize(log(ip), { topic: 'raw-logs', partition: 0, offset: n }).json;
      first ??= json;
    }
    return first;
    };
    // In a function of its own, so that no Merger of the loop is left in this frame when the GC runs.
    const first = run();
    const mergers = queryObjects(Merger, { format: 'count' });
    // The first host again, in a later batch with the same resolutions: its block is reused, written anew for this batch.
    const again = new Merger(metadataFor('172.16.0.0'), '2024-01-15T10:30:02.000Z', 2, blocks).serialize(log('172.16.0.0'), { topic: 'raw-logs', partition: 0, offset: 0 }).json;
    const reused = JSON.parse(again).enrichment.enriched_at === '2024-01-15T10:30:02.000Z' && JSON.parse(again).host.hostname === JSON.parse(first).host.hostname;
    console.log(JSON.stringify({ mergers, reused }));`;
  const output = execFileSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return JSON.parse(output) as { mergers: number; reused: boolean };
}

describe('BlockCache across batches', () => {
  it('keeps no batch (its Merger, and with it its metadata) alive once the batch is done', () => {
    expect(mergersAliveAfter(50)).toEqual({ mergers: 0, reused: true });
  });
});
