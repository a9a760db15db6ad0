import { Ledger, observationFrom, type OutputObservation } from '../../../load/lib/accounting.ts';

const output = (eventId: string | undefined, overrides: Partial<OutputObservation> = {}): OutputObservation => ({
  outcome: 'complete',
  eventId,
  recordTimestampMs: 1_000,
  pipelineLatencyMs: undefined,
  ...overrides,
});

describe('Ledger', () => {
  it('classifies each accepted id by the output topic it first reached', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a', 'b', 'c'], 900);

    // Act
    ledger.observe(output('a'));
    ledger.observe(output('b', { outcome: 'partial' }));
    ledger.observe(output('c', { outcome: 'deadLetter' }));

    // Assess
    expect(ledger.summary()).toMatchObject({ accepted: 3, complete: 1, partial: 1, deadLetter: 1, lost: 0, duplicates: 0 });
  });

  it('counts an accepted id that never came out as lost and names it', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a', 'b'], 900);

    // Act
    ledger.observe(output('a'));

    // Assess
    expect(ledger.pending).toBe(1);
    expect(ledger.summary()).toMatchObject({ lost: 1, lostSample: ['b'] });
  });

  it('counts a second output for the same id as a duplicate, on the same or another topic', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a'], 900);

    // Act
    ledger.observe(output('a'));
    ledger.observe(output('a'));
    ledger.observe(output('a', { outcome: 'partial' }));

    // Assess: the first outcome counts, the others are duplicates
    expect(ledger.summary()).toMatchObject({ complete: 1, partial: 0, duplicates: 2, lost: 0 });
  });

  it('settles an output read before its 202 reached the client', () => {
    // Prepare
    const ledger = new Ledger();

    // Act
    ledger.observe(output('a', { recordTimestampMs: 950 }));
    ledger.accept(['a'], 900);

    // Assess
    expect(ledger.summary()).toMatchObject({ complete: 1, lost: 0, foreign: 0, acceptedToOutputMs: [50] });
  });

  it('ignores outputs of ids this run did not accept, duplicates included', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['mine'], 900);

    // Act
    ledger.observe(output('mine'));
    ledger.observe(output('theirs'));
    ledger.observe(output('theirs'));
    ledger.observe(output(undefined, { outcome: 'deadLetter' }));

    // Assess
    expect(ledger.summary()).toMatchObject({ accepted: 1, complete: 1, duplicates: 0, foreign: 3 });
  });

  it('measures latency from the 202 to the first output, and the pipeline’s own received→enriched time', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a'], 1_000);
    ledger.accept(['b'], 1_010);

    // Act
    ledger.observe(output('a', { recordTimestampMs: 1_004, pipelineLatencyMs: 6 }));
    ledger.observe(output('b', { recordTimestampMs: 1_030, pipelineLatencyMs: 25 }));
    ledger.observe(output('b', { recordTimestampMs: 5_000, pipelineLatencyMs: 4000 }));

    // Assess
    const summary = ledger.summary();
    expect(summary.acceptedToOutputMs).toEqual([4, 20]);
    expect(summary.receivedToEnrichedMs).toEqual([6, 25]);
  });

  it('keeps the first accept time of an id accepted twice', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a'], 1_000);
    ledger.accept(['a'], 2_000);

    // Act
    ledger.observe(output('a', { recordTimestampMs: 1_100 }));

    // Assess
    expect(ledger.summary()).toMatchObject({ accepted: 1, acceptedToOutputMs: [100] });
  });
});

describe('observationFrom', () => {
  it('reads the id and received→enriched latency from an enriched record', () => {
    // Prepare
    const value = JSON.stringify({
      event_id: 'e-1',
      received_at: '2026-11-20T10:00:00.000Z',
      enrichment: { enriched_at: '2026-11-20T10:00:00.012Z' },
    });

    // Act
    const observation = observationFrom('partial', Buffer.from(value), 1_234);

    // Assess
    expect(observation).toEqual({ outcome: 'partial', eventId: 'e-1', recordTimestampMs: 1_234, pipelineLatencyMs: 12 });
  });

  it('reads the id of a dead letter from its event_id', () => {
    const value = JSON.stringify({ reason: 'invalid-record', event_id: 'e-2', original: { value: null } });

    expect(observationFrom('deadLetter', value, 1).eventId).toBe('e-2');
  });

  it('falls back to the id inside the original bytes of a dead letter whose event_id is null', () => {
    // Prepare
    const original = Buffer.from(JSON.stringify({ event_id: 'e-3', level: 'NOPE' })).toString('base64');
    const value = JSON.stringify({ reason: 'invalid-record', event_id: null, original: { key: null, value: original } });

    // Act
    const observation = observationFrom('deadLetter', value, 1);

    // Assess
    expect(observation.eventId).toBe('e-3');
    expect(observation.pipelineLatencyMs).toBeUndefined();
  });

  it('gives no id for a value that is not JSON', () => {
    expect(observationFrom('deadLetter', Buffer.from([0xff, 0x00]), 1).eventId).toBeUndefined();
  });
});

describe('Ledger when not every output record could be read', () => {
  it('counts ids not seen as unknown, not lost, and names them', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a', 'b', 'c'], 900);
    ledger.observe(output('a'));

    // Act
    const summary = ledger.summary({ readAll: false });

    // Assess
    expect(summary).toMatchObject({ accepted: 3, complete: 1, lost: 0, unknown: 2, lostSample: [] });
    expect([...summary.unknownSample].sort()).toEqual(['b', 'c']);
  });

  it('counts the same ids as lost once every output record was read', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a', 'b'], 900);
    ledger.observe(output('a'));

    // Act
    const summary = ledger.summary({ readAll: true });

    // Assess
    expect(summary).toMatchObject({ lost: 1, unknown: 0, lostSample: ['b'], unknownSample: [] });
  });

  it('has nothing unknown when every accepted id was seen, read in full or not', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a'], 900);
    ledger.observe(output('a', { outcome: 'partial' }));

    // Act
    const summary = ledger.summary({ readAll: false });

    // Assess: what was seen is settled whatever could not be read afterwards
    expect(summary).toMatchObject({ partial: 1, lost: 0, unknown: 0 });
  });

  it('assumes a complete read when told nothing (the callers that read their outputs in full)', () => {
    // Prepare
    const ledger = new Ledger();
    ledger.accept(['a'], 900);

    // Act
    const summary = ledger.summary();

    // Assess
    expect(summary).toMatchObject({ lost: 1, unknown: 0 });
  });
});
