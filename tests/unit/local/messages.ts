/** A typed factory for the records the runner's consumer stream delivers (no broker involved). */
import type { RunnerMessage } from '../../../functions/enrich/src/adapters/poller-event.ts';

export interface MessageParts {
  topic?: string;
  partition?: number;
  offset?: bigint;
  key?: Buffer | undefined;
  value?: Buffer | undefined;
  headers?: [string, Buffer | undefined][];
  timestamp?: bigint;
  leaderEpoch?: number;
}

export function message(parts: MessageParts = {}): RunnerMessage {
  const headerEntries = (parts.headers ?? []).map(([name, value]) => [Buffer.from(name), value] as [Buffer, Buffer]);
  return {
    topic: parts.topic ?? 'raw-logs',
    partition: parts.partition ?? 0,
    offset: parts.offset ?? 0n,
    key: parts.key as Buffer,
    value: parts.value as Buffer,
    headers: new Map(headerEntries),
    headerEntries,
    timestamp: parts.timestamp ?? 1_764_590_000_000n,
    leaderEpoch: parts.leaderEpoch ?? 0,
    metadata: {},
    commit: () => {
      throw new Error('the runner commits through the consumer, never through a message');
    },
    toJSON: () => {
      throw new Error('not used');
    },
  } as RunnerMessage;
}

/** Records `from`..`to` (inclusive) of one partition. */
export function range(from: number, to: number, parts: MessageParts = {}): RunnerMessage[] {
  return Array.from({ length: to - from + 1 }, (_, index) => message({ ...parts, offset: BigInt(from + index) }));
}
