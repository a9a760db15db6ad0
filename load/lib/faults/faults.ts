/**
 * The faults `npm run faults` injects, each in the middle of a load run against the lab's pipeline. A fault
 * is three steps: `inject` (break something real: kill a process, cut a connection, change a broker
 * setting), `clear` (undo it; returns when the thing answers again), and optional `prepare`/`cleanup`
 * around the run. Checks beyond the accounting (a breaker that must stay closed, a poison record that must
 * come out where it belongs) are `findings` with a verdict.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';
import { kafkaEnv, readConfig } from '#shared/config.ts';
import { KafkaPublisher } from '#shared/kafka/publisher.ts';
import type { Outcome } from '../accounting.ts';
import { type Child, FAULT_TOPICS, type Lab, runnerHealth } from './lab.ts';

export interface Finding {
  ok: boolean;
  text: string;
}

/** What one fault saw of the outputs while the load ran (fed by the load run's output reader). */
export interface FaultRun {
  lab: Lab;
  log: (line: string) => void;
  /** Every output record of the run, in the order read. */
  outputs: { outcome: Outcome; value: Buffer; timestampMs: number }[];
}

export interface Fault {
  readonly name: string;
  /** What the fault does, one line (printed before it runs). */
  readonly what: string;
  /** Seconds the load run goes on beyond the suite's duration, for a fault that is slow to clear. */
  readonly extraLoadSeconds?: number;
  prepare?(run: FaultRun): Promise<void>;
  inject(run: FaultRun): Promise<void>;
  clear(run: FaultRun): Promise<void>;
  cleanup?(run: FaultRun): Promise<void>;
  /** Checks of its own, after the drain. */
  findings?(run: FaultRun): Finding[];
}

const redisDown: Fault = {
  name: 'Redis down and back',
  what: 'SIGKILL the redis-server; start it again (empty: no persistence)',
  inject: ({ lab }) => lab.redis.stop(),
  clear: ({ lab }) => lab.redis.start(),
};

const postgresDown: Fault = {
  name: 'PostgreSQL down and back',
  what: 'cut the TCP proxy in front of PostgreSQL (every connection dropped, new ones refused); restore it',
  inject: ({ lab }) => lab.postgres.cut(),
  clear: ({ lab }) => lab.postgres.restore(),
};

const brokerKilled: Fault = {
  name: 'broker SIGKILL and restart',
  what: 'SIGKILL the Kafka broker; start it again on the same port and data',
  // A killed broker answers again only ~12 s after its restart (the controller waits out the dead
  // registration): the load must outlast that for the table to see ingest accept again.
  extraLoadSeconds: 15,
  inject: ({ lab }) => lab.broker.kill('SIGKILL'),
  clear: ({ lab }) => lab.broker.restart(),
};

/** A second runner shares the partitions; it is SIGKILLed under load and a fresh one takes its place. */
function runnerKilled(): Fault {
  let extra: Child | undefined;
  let replacement: Child | undefined;
  return {
    name: 'enrich runner SIGKILL mid-batch',
    what: 'a second runner in the group is SIGKILLed under load (its in-flight batch uncommitted); a new one joins',
    async prepare({ lab }) {
      extra = (await lab.startRunner('runner-extra')).child;
    },
    inject: async () => extra?.kill('SIGKILL'),
    // Cleared once the new process is spawned: getting the dead one's partitions (after its group session
    // times out) is part of the recovery the table measures.
    async clear({ lab }) {
      replacement = (await lab.startRunner('runner-replacement', { wait: false })).child;
    },
    cleanup: async () => replacement?.kill('SIGTERM'),
  };
}

/**
 * max.message.bytes=64 on the output topics: every enriched record and dead letter is refused by the broker
 * (RECORD_TOO_LARGE), as when a topic is misconfigured or its writes are refused; the setting is removed to
 * clear it. (min.insync.replicas above the replication factor would be the natural choice, but Kafka 4
 * caps the effective minimum ISR at the replication factor, so on one broker it refuses nothing.)
 */
function outputsFailing(): Fault {
  const outputs = [FAULT_TOPICS.complete, FAULT_TOPICS.partial, FAULT_TOPICS.deadLetter];
  const alter = async (lab: Lab, value: string | undefined) => {
    const admin = new Admin({ clientId: 'faults', bootstrapBrokers: [lab.broker.bootstrap], retries: 5, retryDelay: 200 });
    try {
      await admin.incrementalAlterConfigs({
        resources: outputs.map((topic) => ({
          resourceType: 2, // TOPIC (ConfigResourceTypes.TOPIC)
          resourceName: topic,
          configs: [
            value === undefined
              ? { name: 'max.message.bytes', configOperation: 1 } // DELETE
              : { name: 'max.message.bytes', configOperation: 0, value }, // SET
          ],
        })),
      });
    } finally {
      await admin.close();
    }
  };
  // The fault must bite: the runner's failed invocations (retried, never skipped) are counted across it.
  let failedBefore: number | undefined;
  let failedAfter: number | undefined;
  return {
    name: 'producing outputs failing',
    what: 'max.message.bytes=64 on the output topics (every write refused by the broker); removed',
    async inject({ lab }) {
      failedBefore = (await runnerHealth(lab.healthUrl))?.failedInvocations;
      await alter(lab, '64');
    },
    async clear({ lab }) {
      failedAfter = (await runnerHealth(lab.healthUrl))?.failedInvocations;
      await alter(lab, undefined);
    },
    findings: () => {
      const failed = failedBefore === undefined || failedAfter === undefined ? undefined : failedAfter - failedBefore;
      return [
        {
          ok: failed !== undefined && failed > 0,
          text:
            failed === undefined
              ? 'failed invocations during the fault: unknown (the runner did not answer /health)'
              : `${failed} enrich invocation(s) failed during the fault and were retried${failed === 0 ? ' (the fault did not bite)' : ''}`,
        },
      ];
    },
  };
}

/**
 * Two records no ingest would write, produced straight onto raw-logs: bytes that are not JSON, and a valid
 * log with a non-ASCII header value (the runner hands it to the function as signed bytes, as AWS's poller
 * does). The first must be dead-lettered with its bytes, the second enriched; neither may stall anything.
 */
function poisonRecords(): Fault {
  const marker = `poison-${randomUUID()}`;
  const eventId = randomUUID();
  const found = { deadLetter: false, enriched: false };
  return {
    name: 'poison records',
    what: 'an undecodable value and a log with a non-ASCII header (signed bytes) produced onto raw-logs',
    async inject({ lab }) {
      const publisher = new KafkaPublisher(readConfig(kafkaEnv, { KAFKA_BROKERS: lab.broker.bootstrap }), 'faults');
      try {
        await publisher.publish([
          { topic: FAULT_TOPICS.raw, key: marker, value: Buffer.from([0xff, 0xfe, ...Buffer.from(` not json ${marker}`)]) },
          {
            topic: FAULT_TOPICS.raw,
            key: marker,
            value: JSON.stringify({
              event_id: eventId,
              received_at: new Date().toISOString(),
              timestamp: new Date().toISOString(),
              level: 'WARN',
              message: `poison test ${marker}`,
              service: 'payment-service',
              source_ip: '192.168.1.100',
            }),
            headers: { 'x-origin': `zé ☃ ${marker}` },
          },
        ]);
      } finally {
        await publisher.close();
      }
    },
    clear: async () => undefined,
    findings({ outputs }) {
      for (const output of outputs) {
        const text = output.value.toString('utf8');
        if (output.outcome === 'deadLetter' && !found.deadLetter) {
          const original = (JSON.parse(text) as { original?: { value?: string } }).original?.value;
          if (original !== undefined && Buffer.from(original, 'base64').toString('latin1').includes(marker)) found.deadLetter = true;
        } else if (output.outcome !== 'deadLetter' && text.includes(eventId)) {
          found.enriched = true;
        }
      }
      return [
        { ok: found.deadLetter, text: `undecodable value ${found.deadLetter ? 'dead-lettered with its bytes' : 'NOT found on the dead-letter topic'}` },
        { ok: found.enriched, text: `signed-header log ${found.enriched ? 'enriched' : 'NOT found on complete/partial'}` },
      ];
    },
  };
}

/**
 * One runner whose PostgreSQL is unreachable (its own proxy, cut) next to the healthy pipeline runner, both
 * sharing breaker state through Redis. The healthy instance's PostgreSQL breaker must stay closed.
 */
function sickInstance(): Fault {
  let sick: { child: Child; healthUrl: string } | undefined;
  let watching = false;
  let watcher: Promise<void> | undefined;
  const seen = { healthyOpened: 0, sickOpened: 0, samples: 0 };
  const postgresState = (breakers: { name: string; state: string }[] | undefined) => breakers?.find((b) => b.name === 'postgres')?.state;
  return {
    name: 'one instance with a broken PostgreSQL',
    what: 'a second runner reaches PostgreSQL through a cut proxy; the first one is healthy',
    async inject({ lab }) {
      await lab.sickPostgres.cut();
      sick = await lab.startRunner('runner-sick', { sickPostgres: true });
      watching = true;
      watcher = (async () => {
        while (watching) {
          const [healthy, ill] = await Promise.all([runnerHealth(lab.healthUrl), sick === undefined ? undefined : runnerHealth(sick.healthUrl)]);
          seen.samples++;
          if (postgresState(healthy?.breakers) === 'open') seen.healthyOpened++;
          if (postgresState(ill?.breakers) === 'open') seen.sickOpened++;
          await sleep(250);
        }
      })();
    },
    async clear({ lab }) {
      watching = false;
      await watcher;
      await sick?.child.kill('SIGTERM');
      await lab.sickPostgres.restore();
    },
    findings: () => [
      {
        ok: seen.healthyOpened === 0,
        text: `healthy runner's postgres breaker open in ${seen.healthyOpened} of ${seen.samples} samples`,
      },
      // Informative: whether the sick one opened depends on how many lookups missed Redis while it ran.
      { ok: true, text: `sick runner's breaker open in ${seen.sickOpened} of ${seen.samples} samples` },
    ],
  };
}

/** Every fault, in the order the suite runs them (fresh state objects per call). */
export function allFaults(): Fault[] {
  return [redisDown, postgresDown, brokerKilled, runnerKilled(), outputsFailing(), poisonRecords(), sickInstance()];
}
