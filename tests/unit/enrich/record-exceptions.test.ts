/**
 * Anything thrown while decoding, validating or merging ONE record dead-letters that record; it never fails the
 * invocation (which would redeliver the batch forever and stall its partition). The contract and the merger are
 * wrapped here to throw for one marked record, as a bug or an input nobody foresaw would, whatever the contract
 * refuses cleanly today.
 */
import { jest } from '@jest/globals';
import { silentLog } from '#shared/log-port.ts';

const contract = await import('#shared/schemas/log.ts');
const enrichedLog = await import('../../../functions/enrich/src/enriched-log.ts');

jest.unstable_mockModule('#shared/schemas/log.ts', () => ({
  ...contract,
  parseRawLogRecord: (value: unknown) => {
    if ((value as { message?: unknown }).message === 'contract throws') throw new RangeError('Maximum call stack size exceeded');
    return contract.parseRawLogRecord(value);
  },
}));
jest.unstable_mockModule('../../../functions/enrich/src/enriched-log.ts', () => ({
  ...enrichedLog,
  Merger: class extends enrichedLog.Merger {
    override serialize(...args: Parameters<InstanceType<typeof enrichedLog.Merger>['serialize']>) {
      if (args[0].message === 'merge throws') throw new TypeError('Do not know how to serialize a BigInt');
      return super.serialize(...args);
    }
  },
}));

const { decodeRecord } = await import('../../../functions/enrich/src/decode.ts');
const { EnrichBatch } = await import('../../../functions/enrich/src/enrich-batch.ts');
const { derivedEventId } = await import('../../../functions/enrich/src/log-event.ts');
const { buildLookup, FakePublisher, FakeRemoteCache, FakeSource, kafkaEvent, kafkaRecord, RecordingMetrics } = await import('./fakes.ts');

const log = (message: string) => ({ level: 'INFO', message, service: 'payment-api', hostname: 'web-1' });

describe('an exception while handling one record', () => {
  it('thrown by the contract: decodeRecord returns a dead letter with the error as the problem', () => {
    // Prepare
    const record = kafkaRecord(log('contract throws'));
    // Act
    const decoded = decodeRecord(record);
    // Assess
    expect(decoded).toEqual({
      ok: false,
      reason: 'invalid',
      problems: [{ field: '(value)', reason: 'could not be validated: RangeError: Maximum call stack size exceeded' }],
      eventId: derivedEventId(record),
    });
  });

  it.each([['the contract', 'contract throws'], ['the merge', 'merge throws']])(
    'thrown by %s: the batch goes on, the others are published, that record is dead-lettered (item failures on)',
    async (_label, message) => {
      // Prepare
      const publisher = new FakePublisher();
      const { lookup } = buildLookup(new FakeRemoteCache(), new FakeSource());
      const useCase = new EnrichBatch({ lookup, publisher, metrics: new RecordingMetrics(), topics: { complete: 'complete', partial: 'partial', deadLetter: 'dlq' }, reportBatchItemFailures: true, log: silentLog });
      const [before, bad, after] = [kafkaRecord(log('before'), { offset: 1 }), kafkaRecord(log(message), { offset: 2 }), kafkaRecord(log('after'), { offset: 3 })];
      // Act
      const result = await useCase.handle(kafkaEvent([before, bad, after]));
      // Assess
      expect(result).toEqual({ batchItemFailures: [] });
      expect(publisher.json('partial').map((event) => event.message)).toEqual(['before', 'after']);
      expect(publisher.json('dlq')).toEqual([
        expect.objectContaining({
          reason: 'invalid',
          event_id: derivedEventId(bad),
          problems: [{ field: expect.any(String), reason: expect.stringMatching(/^could not be (validated|enriched): (RangeError|TypeError): /) }],
          source: expect.objectContaining({ offset: 2 }),
          original: expect.objectContaining({ value: bad.value }),
        }),
      ]);
    },
  );
});
