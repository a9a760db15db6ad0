/**
 * The runner's batching decision (the mapping's BatchSize and batching window over the partitions with no
 * batch in flight), without I/O or timers.
 */
import { nextBatch } from '../../../scripts/local/event-source/batching.ts';

const options = { batchSize: 100, windowMs: 500, now: 1_000, flush: false };

describe('nextBatch', () => {
  it('does nothing when no free lane has records', () => {
    expect(nextBatch([], options)).toEqual({ kind: 'idle' });
    expect(nextBatch([{ partition: 0, buffered: 0, since: 0 }], options)).toEqual({ kind: 'idle' });
  });

  it('waits for the window of the oldest record while the free lanes hold less than a batch', () => {
    // Prepare: 30 + 20 records, the oldest arrived at 800
    const free = [
      { partition: 0, buffered: 30, since: 900 },
      { partition: 1, buffered: 20, since: 800 },
    ];
    // Act
    const decision = nextBatch(free, options);
    // Assess
    expect(decision).toEqual({ kind: 'wait', wakeAt: 1_300 });
  });

  it('gathers one batch from several partitions as soon as together they fill it, fullest first', () => {
    // Prepare
    const free = [
      { partition: 0, buffered: 30, since: 900 },
      { partition: 1, buffered: 50, since: 950 },
      { partition: 2, buffered: 40, since: 990 },
    ];
    // Act
    const decision = nextBatch(free, options);
    // Assess: 50 + 40 + 10 = 100, no more
    expect(decision).toEqual({
      kind: 'invoke',
      take: [
        { partition: 1, count: 50 },
        { partition: 2, count: 40 },
        { partition: 0, count: 10 },
      ],
    });
  });

  it('gives a partition that alone fills a batch a batch of its own', () => {
    // Prepare: a backlog on partition 3
    const free = [
      { partition: 0, buffered: 10, since: 990 },
      { partition: 3, buffered: 450, since: 995 },
    ];
    // Act
    const decision = nextBatch(free, options);
    // Assess
    expect(decision).toEqual({ kind: 'invoke', take: [{ partition: 3, count: 100 }] });
  });

  it('invokes with what there is once the window of the oldest record has passed', () => {
    // Prepare
    const free = [
      { partition: 0, buffered: 5, since: 400 },
      { partition: 1, buffered: 7, since: 900 },
    ];
    // Act
    const decision = nextBatch(free, { ...options, now: 900 });
    // Assess
    expect(decision).toEqual({
      kind: 'invoke',
      take: [
        { partition: 0, count: 5 },
        { partition: 1, count: 7 },
      ],
    });
  });

  it('puts the lanes whose window has passed first, so fuller lanes cannot keep them waiting', () => {
    // Prepare: partition 0 has waited beyond its window; partitions 1 and 2 alone would fill the batch
    const free = [
      { partition: 1, buffered: 80, since: 990 },
      { partition: 0, buffered: 3, since: 100 },
      { partition: 2, buffered: 80, since: 980 },
    ];
    // Act
    const decision = nextBatch(free, options);
    // Assess
    expect(decision.kind === 'invoke' && decision.take[0]).toEqual({ partition: 0, count: 3 });
  });

  it('does not wait out the window when no more records can arrive (the stream is paused)', () => {
    // Prepare
    const free = [{ partition: 0, buffered: 5, since: 990 }];
    // Act
    const decision = nextBatch(free, { ...options, flush: true });
    // Assess
    expect(decision).toEqual({ kind: 'invoke', take: [{ partition: 0, count: 5 }] });
  });
});
