import type { KafkaEventRecord } from '../../../functions/enrich/src/kafka-event.ts';
import { plan, SKIP } from '../../../functions/enrich/src/replay/rebuild.ts';
import { ALREADY, Tally } from '../../../functions/enrich/src/replay/tally.ts';
import { parseWhere } from '../../../functions/enrich/src/replay/where.ts';

const sum = (bucket: Record<string, number>) => Object.values(bucket).reduce((total, n) => total + n, 0);
const letter = (offset: number, reason: string) => ({
  value: Buffer.from(JSON.stringify({ reason, source: { topic: 'raw-logs', partition: 0, offset, timestamp: 1 }, original: { value: Buffer.from('{}').toString('base64'), headers: [] } })),
  headers: [],
});
const raw = (offset: number): KafkaEventRecord => ({ topic: 'raw-logs', partition: 0, offset, timestamp: 1, timestampType: 'CREATE_TIME', value: 'e30=', headers: [] });

describe('the tally of a replay', () => {
  it('counts each record read once: read = matched + unmatched + skipped', () => {
    const where = parseWhere(['reason=invalid']);
    const tally = new Tally();
    const sent = [
      tally.add(plan('dlq', letter(1, 'invalid'), where)), // matched
      tally.add(plan('dlq', letter(2, 'undecodable'), where)), // unmatched
      tally.add(plan('dlq', { value: Buffer.from('not json'), headers: [] }, where)), // --where could not test it: skipped
      tally.add(plan('dlq', letter(1, 'invalid'), where)), // the same letter again: skipped, not matched
    ];
    expect(sent.map((records) => records.length)).toEqual([1, 0, 0, 0]);
    expect(tally).toMatchObject({ read: 4, matched: 1, unmatched: 1, skipped: { [SKIP.notJson]: 1, [ALREADY]: 1 } });
    expect(tally.read).toBe(tally.matched + tally.unmatched + sum(tally.skipped));
  });

  it('counts a record of many plans once, as matched when anything of it is new', () => {
    const tally = new Tally();
    // An on-failure document of two records, then one holding one of them again and a new one.
    expect(tally.add([{ kind: 'replay', record: raw(1) }, { kind: 'replay', record: raw(2) }])).toHaveLength(2);
    expect(tally.add([{ kind: 'replay', record: raw(2) }, { kind: 'replay', record: raw(3) }])).toEqual([raw(3)]);
    expect(tally.add([{ kind: 'replay', record: raw(1) }])).toEqual([]);
    // An OTLP partial: three logs of one raw record, read back once.
    const source = { topic: 'raw-logs', partition: 0, offset: 9 };
    tally.add([1, 2, 3].map(() => ({ kind: 'reread' as const, source, why: 'an OTLP partial' })));
    expect([...tally.rereads.values()]).toEqual([source]);
    expect(tally).toMatchObject({ read: 4, matched: 3, unmatched: 0, skipped: { [ALREADY]: 1 } });
    expect(tally.read).toBe(tally.matched + tally.unmatched + sum(tally.skipped));
  });

  it('counts a selected record that cannot be replayed as matched and unrecoverable', () => {
    const tally = new Tally();
    tally.add([{ kind: 'unrecoverable', why: 'dead letter without source coordinates' }]);
    expect(tally).toMatchObject({ read: 1, matched: 1, unrecoverable: { 'dead letter without source coordinates': 1 }, skipped: {} });
  });
});
