/**
 * The runner's at-least-once contract, without a broker: what an invocation lets it commit, how a partition's
 * progress moves (never backwards, redeliveries skipped), and what an assignment change revokes.
 */
import { committable, diffAssignment, PartitionProgress, partitionsOf } from '../../../scripts/local/event-source/offsets.ts';
import { range } from './messages.ts';

describe('committable', () => {
  it('lets the whole batch be committed when the invocation succeeded', () => {
    // Prepare
    const batch = range(10, 14);
    // Act
    const done = committable(batch, []);
    // Assess
    expect(done.map((record) => record.offset)).toEqual([10n, 11n, 12n, 13n, 14n]);
  });

  it('lets nothing be committed when the invocation threw', () => {
    expect(committable(range(10, 14), undefined)).toEqual([]);
  });

  it('keeps the records before the first reported failure of each partition', () => {
    // Prepare: two partitions, failures reported out of order
    const batch = [...range(10, 14, { partition: 0 }), ...range(20, 22, { partition: 1 })];
    const failures = [
      { itemIdentifier: { partition: 'raw-logs-0', offset: 13 } },
      { itemIdentifier: { partition: 'raw-logs-0', offset: 12 } },
      { itemIdentifier: { partition: 'raw-logs-1', offset: 20 } },
    ];
    // Act
    const done = committable(batch, failures);
    // Assess: partition 0 up to 11; partition 1 failed on its first record
    expect(done.map((record) => `${record.partition}@${record.offset}`)).toEqual(['0@10', '0@11']);
  });

  it('does not match a failure of another topic with the same partition number', () => {
    // Prepare
    const batch = range(10, 12, { topic: 'raw-logs' });
    // Act
    const done = committable(batch, [{ itemIdentifier: { partition: 'other-0', offset: 10 } }]);
    // Assess
    expect(done).toHaveLength(3);
  });
});

describe('PartitionProgress', () => {
  it('commits the offset after the last acknowledged record, with its leader epoch', () => {
    // Prepare
    const progress = new PartitionProgress();
    for (const record of range(0, 4)) progress.accept(record.offset);
    // Act
    progress.acknowledge(4n, 3);
    // Assess: Kafka stores the next offset to read
    expect(progress.toCommit()).toEqual({ offset: 5n, leaderEpoch: 3 });
  });

  it('has nothing to commit before an acknowledgement, and nothing once the broker confirmed it', () => {
    // Prepare
    const progress = new PartitionProgress();
    progress.accept(0n);
    const before = progress.toCommit();
    progress.acknowledge(0n, 0);
    // Act
    progress.committed(1n);
    // Assess
    expect(before).toBeUndefined();
    expect(progress.toCommit()).toBeUndefined();
  });

  it('never moves the offset to commit backwards', () => {
    // Prepare: a later batch acknowledged, then an older acknowledgement arrives (e.g. a partial retry)
    const progress = new PartitionProgress();
    progress.acknowledge(199n, 0);
    // Act
    progress.acknowledge(99n, 0);
    // Assess
    expect(progress.toCommit()).toEqual({ offset: 200n, leaderEpoch: 0 });
  });

  it('keeps the highest confirmed commit when responses arrive out of order', () => {
    // Prepare
    const progress = new PartitionProgress();
    progress.acknowledge(299n, 0);
    // Act: the commit of 300 is confirmed, then an older one of 200
    progress.committed(300n);
    progress.committed(200n);
    // Assess: nothing left to send; 200 would have moved the group backwards
    expect(progress.toCommit()).toBeUndefined();
  });

  it('asks for the newer offset again after a commit that was not confirmed', () => {
    // Prepare
    const progress = new PartitionProgress();
    progress.acknowledge(99n, 0);
    progress.committed(50n);
    // Act
    const next = progress.toCommit();
    // Assess
    expect(next?.offset).toBe(100n);
  });

  it('skips records the stream redelivers after a rejoin, and accepts what follows', () => {
    // Prepare: 0..9 received (some in flight, some buffered); the group committed 5 when it rejoined
    const progress = new PartitionProgress();
    progress.startAt(0n);
    for (const record of range(0, 9)) progress.accept(record.offset);
    // Act: the stream re-fetches from the committed offset
    const accepted = range(5, 12).filter((record) => progress.accept(record.offset));
    // Assess
    expect(accepted.map((record) => record.offset)).toEqual([10n, 11n, 12n]);
  });

  it('accepts a gap in offsets (compaction, transaction markers) rather than waiting for it', () => {
    // Prepare
    const progress = new PartitionProgress();
    progress.startAt(4n);
    progress.accept(4n);
    // Act
    const accepted = progress.accept(9n);
    // Assess
    expect(accepted).toBe(true);
    expect(progress.accept(5n)).toBe(false);
  });

  it('starts at the committed offset for a new ownership, which may be far on', () => {
    // Prepare: a partition given back to this runner starts from the committed offset
    const progress = new PartitionProgress();
    progress.startAt(1_000n);
    // Act
    const accepted = progress.accept(1_000n);
    // Assess
    expect(accepted).toBe(true);
    expect(progress.toCommit()).toBeUndefined();
  });

  it('accepts nothing for a new ownership until it knows where the ownership starts', () => {
    // Prepare
    const progress = new PartitionProgress();
    // Act
    const verdicts = [progress.offer(0n), progress.offer(50n)];
    // Assess: no position to re-fetch from yet either
    expect(verdicts).toEqual(['out-of-sync', 'out-of-sync']);
    expect(progress.fetchFrom()).toBeUndefined();
  });

  it('refuses a late fetch from an older ownership that lands above the committed offset, and asks for the committed one', () => {
    // Prepare: the runner had fetched partition 0 up to 300 (committed 100), lost it and got it back within
    // one fetch round trip; the new lane starts at the committed offset 100
    const progress = new PartitionProgress();
    progress.startAt(100n);
    // Act: the fetch sent from 300 before the rebalance lands first, then the one from the committed offset
    const late = range(300, 349).map((record) => progress.offer(record.offset));
    const refetchFrom = progress.fetchFrom();
    const fresh = range(100, 349).filter((record) => progress.offer(record.offset) === 'accepted');
    // Assess: nothing of 100..299 is skipped
    expect(new Set(late)).toEqual(new Set(['out-of-sync']));
    expect(refetchFrom).toBe(100n);
    expect(fresh.map((record) => record.offset)).toEqual(range(100, 349).map((record) => record.offset));
    expect(progress.fetchFrom()).toBeUndefined();
  });

  it('starts after a transaction marker at the committed offset once the re-fetch shows it again', () => {
    // Prepare: a transactional producer's commit marker sits at 100 (the committed offset); the stream never
    // delivers an offset that holds only a control record
    const progress = new PartitionProgress();
    progress.startAt(100n);
    // Act: the first fetch from 100 starts at 101; the runner re-fetches from 100 and it starts at 101 again
    const first = [progress.offer(101n), progress.offer(102n)];
    const refetchFrom = progress.fetchFrom();
    const second = [progress.offer(101n), progress.offer(102n)];
    // Assess: no stall, nothing skipped
    expect(first).toEqual(['out-of-sync', 'out-of-sync']);
    expect(refetchFrom).toBe(100n);
    expect(second).toEqual(['accepted', 'accepted']);
    expect(progress.fetchFrom()).toBeUndefined();
  });

  it('takes the lowest offset seen twice, not a late fetch from further on, as the start after a gap', () => {
    // Prepare: records 100-104 were removed (compaction or retention); a late fetch from 300 lands first
    const progress = new PartitionProgress();
    progress.startAt(100n);
    // Act
    const verdicts = [progress.offer(300n), progress.offer(105n), progress.offer(300n), progress.offer(105n), progress.offer(106n)];
    // Assess: 300 is never taken for the start; 105 is, on its second sight
    expect(verdicts).toEqual(['out-of-sync', 'out-of-sync', 'out-of-sync', 'accepted', 'accepted']);
  });

  it('skips records below the committed offset from a late fetch, then takes the committed one', () => {
    // Prepare
    const progress = new PartitionProgress();
    progress.startAt(100n);
    // Act
    const verdicts = [progress.offer(98n), progress.offer(99n), progress.offer(100n)];
    // Assess
    expect(verdicts).toEqual(['redelivered', 'redelivered', 'accepted']);
  });
});

describe('PartitionProgress with a bounded lane (a partition whose batch keeps failing)', () => {
  it('drops a record it has no room for and then waits for exactly that offset', () => {
    // Prepare: 0..199 buffered, the lane is full
    const progress = new PartitionProgress();
    progress.startAt(0n);
    for (const record of range(0, 199)) progress.offer(record.offset);
    // Act: the stream keeps reading forward while the lane is full, then the lane has room again
    const whileFull = range(200, 260).map((record) => progress.offer(record.offset, false));
    const refetchFrom = progress.fetchFrom();
    const lateForward = progress.offer(261n);
    const again = range(200, 210).map((record) => progress.offer(record.offset));
    // Assess
    expect(new Set(whileFull)).toEqual(new Set(['dropped']));
    expect(refetchFrom).toBe(200n);
    expect(lateForward).toBe('out-of-sync');
    expect(new Set(again)).toEqual(new Set(['accepted']));
    expect(progress.fetchFrom()).toBeUndefined();
  });

  it('fetches buffered records again from the first one dropped from the buffer, never committing past it', () => {
    // Prepare: 0..99 in flight, 100..499 buffered; the batch fails and the lane keeps 100..299
    const progress = new PartitionProgress();
    progress.startAt(0n);
    for (const record of range(0, 499)) progress.offer(record.offset);
    // Act
    progress.rewindTo(300n);
    const redelivered = progress.offer(150n);
    const skippedAhead = progress.offer(500n);
    const resumed = progress.offer(300n);
    progress.acknowledge(299n, 0);
    // Assess
    expect(progress.fetchFrom()).toBeUndefined();
    expect([redelivered, skippedAhead, resumed]).toEqual(['redelivered', 'out-of-sync', 'accepted']);
    expect(progress.toCommit()?.offset).toBe(300n);
  });
});

describe('at-least-once over a rebalance (pure walk-through)', () => {
  it('commits only acknowledged records and processes each received record once per owner', () => {
    // Prepare: a runner owns partition 0, receives 0..299 and invokes 0..99 (acknowledged) and 100..199 (in flight)
    const progress = new PartitionProgress();
    progress.startAt(0n);
    const received = range(0, 299);
    for (const record of received) progress.accept(record.offset);
    progress.acknowledge(99n, 0);
    const sent = progress.toCommit();
    progress.committed(sent?.offset ?? -1n);
    // Act: a rejoin keeps the partition; the stream redelivers from the committed offset 100
    const redelivered = range(100, 349).filter((record) => progress.accept(record.offset));
    progress.acknowledge(199n, 0);
    // Assess: only 300..349 are new; the commit follows acknowledgements, not receipts
    expect(sent?.offset).toBe(100n);
    expect(redelivered[0]?.offset).toBe(300n);
    expect(redelivered).toHaveLength(50);
    expect(progress.toCommit()?.offset).toBe(200n);
  });
});

describe('partitionsOf and diffAssignment', () => {
  it('reads the partitions of one topic from a group assignment', () => {
    // Act
    const owned = partitionsOf(
      [
        { topic: 'raw-logs', partitions: [0, 3] },
        { topic: 'other', partitions: [1] },
      ],
      'raw-logs',
    );
    // Assess
    expect([...owned]).toEqual([0, 3]);
  });

  it('reads no partitions from a missing assignment (after leaving the group)', () => {
    expect(partitionsOf(null, 'raw-logs').size).toBe(0);
    expect(partitionsOf(undefined, 'raw-logs').size).toBe(0);
  });

  it('revokes what the new assignment leaves out and adds what it brings, keeping the rest', () => {
    // Act
    const change = diffAssignment(new Set([0, 1, 2]), new Set([2, 3]));
    // Assess
    expect(change).toEqual({ revoked: [0, 1], added: [3] });
  });

  it('changes nothing when the assignment is the same', () => {
    expect(diffAssignment(new Set([0, 1]), new Set([1, 0]))).toEqual({ revoked: [], added: [] });
  });
});
