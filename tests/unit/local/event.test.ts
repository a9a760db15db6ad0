/**
 * The event the local runner builds must be the one the AWS poller sends, so that local runs exercise the
 * enrich function's real decoding path: signed header bytes, base64 key and value, records grouped per partition.
 */
import { toKafkaEvent } from '../../../functions/enrich/src/adapters/poller-event.ts';
import { checkRecord, decodeHeaders, KafkaEvent, MalformedRecord } from '../../../functions/enrich/src/kafka-event.ts';
import { message } from './messages.ts';

describe('toKafkaEvent', () => {
  it('writes header bytes above 127 as Java signed bytes, as the poller does', () => {
    // Prepare: "zé" is 0x7A 0xC3 0xA9; 0xFF and 0x80 are the edges of the signed range
    const record = message({ headers: [['tenant', Buffer.from('zé', 'utf8')], ['edges', Buffer.from([0x00, 0x7f, 0x80, 0xff])]] });
    // Act
    const event = toKafkaEvent([record], '127.0.0.1:9092');
    // Assess
    expect(event.records['raw-logs-0']?.[0]?.headers).toEqual([{ tenant: [122, -61, -87] }, { edges: [0, 127, -128, -1] }]);
  });

  it('builds headers the enrich function accepts and decodes back to the original text', () => {
    // Prepare
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const record = message({ headers: [['traceparent', Buffer.from(traceparent)], ['tenant', Buffer.from('zé')]] });
    // Act
    const built = toKafkaEvent([record], '127.0.0.1:9092').records['raw-logs-0']?.[0];
    const checked = checkRecord(built, 'raw-logs-0');
    // Assess
    expect(checked).not.toBeInstanceOf(MalformedRecord);
    expect(decodeHeaders(built?.headers)).toEqual({ traceparent, tenant: 'zé' });
  });

  it('keeps every header of a repeated name, in record order', () => {
    // Prepare
    const record = message({ headers: [['hop', Buffer.from('a')], ['hop', Buffer.from('b')]] });
    // Act
    const headers = toKafkaEvent([record], 'b:9092').records['raw-logs-0']?.[0]?.headers;
    // Assess
    expect(headers).toEqual([{ hop: [97] }, { hop: [98] }]);
  });

  it('writes a header with a null value as an empty byte list', () => {
    // Prepare
    const record = message({ headers: [['empty', undefined]] });
    // Act
    const headers = toKafkaEvent([record], 'b:9092').records['raw-logs-0']?.[0]?.headers;
    // Assess
    expect(headers).toEqual([{ empty: [] }]);
  });

  it('encodes key and value in base64, leaves out an empty key and writes a tombstone as a null value', () => {
    // Prepare
    const keyed = message({ offset: 1n, key: Buffer.from('k1'), value: Buffer.from('{"a":1}') });
    const unkeyed = message({ offset: 2n, key: Buffer.alloc(0), value: Buffer.from('x') });
    const tombstone = message({ offset: 3n, key: Buffer.from('k3'), value: undefined });
    // Act
    const records = toKafkaEvent([keyed, unkeyed, tombstone], 'b:9092').records['raw-logs-0'] ?? [];
    // Assess
    expect(records.map((record) => [record.key, record.value])).toEqual([
      [Buffer.from('k1').toString('base64'), Buffer.from('{"a":1}').toString('base64')],
      [undefined, Buffer.from('x').toString('base64')],
      [Buffer.from('k3').toString('base64'), null],
    ]);
    expect('key' in (records[1] ?? {})).toBe(false);
  });

  it('groups records under "<topic>-<partition>" in the order given, with numeric offsets and timestamps', () => {
    // Prepare
    const batch = [message({ partition: 1, offset: 7n }), message({ partition: 0, offset: 3n }), message({ partition: 1, offset: 8n, timestamp: 42n })];
    // Act
    const event = toKafkaEvent(batch, '127.0.0.1:9092,127.0.0.1:9093');
    // Assess
    expect(Object.keys(event.records)).toEqual(['raw-logs-1', 'raw-logs-0']);
    expect(event.records['raw-logs-1']?.map((record) => [record.offset, record.timestamp])).toEqual([
      [7, 1_764_590_000_000],
      [8, 42],
    ]);
    expect(event).toMatchObject({ eventSource: 'SelfManagedKafka', bootstrapServers: '127.0.0.1:9092,127.0.0.1:9093' });
    expect(KafkaEvent.safeParse(event).success).toBe(true);
  });
});
