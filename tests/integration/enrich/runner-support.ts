/**
 * Helpers of the runner's integration tests (rebalance, broker restart): a steady producer through the ingest
 * use case, a reader that keeps every delivery of the output topics (duplicates included), a watcher of the
 * group's committed offsets, and a runner B started as a child process. All of them take the broker list, so a
 * test can point them at a broker of its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Admin, Consumer, MessagesStreamModes } from '@platformatic/kafka';
import type { KafkaEnv } from '#shared/config.ts';
import { connectionOptions } from '#shared/kafka/connection.ts';
import type { KafkaPublisher } from '#shared/kafka/publisher.ts';
import { freePort, ingest, logFor, type Topics } from './support.ts';

/** One output record: which raw record it came from. */
export interface Seen {
  partition: number;
  offset: number;
}

/** Reads the three output topics from the start, keeping every delivery (duplicates included). */
export class OutputRecorder {
  readonly deliveries = new Map<string, Seen[]>();
  #consumer: Consumer | undefined;

  async start(kafka: KafkaEnv, topics: Topics): Promise<void> {
    this.#consumer = new Consumer({
      ...(await connectionOptions(kafka, `runner-test-reader-${randomUUID()}`)),
      groupId: `runner-test-reader-${randomUUID()}`,
      retries: 40,
      retryDelay: 250,
      maxWaitTime: 200,
    });
    const stream = await this.#consumer.consume({ topics: [topics.complete, topics.partial, topics.dlq], autocommit: false, mode: MessagesStreamModes.EARLIEST });
    stream.on('data', (message) => {
      const value = JSON.parse(message.value.toString('utf8')) as { event_id?: string; source?: Seen };
      const id = String(value.event_id);
      const list = this.deliveries.get(id) ?? [];
      list.push({ partition: value.source?.partition ?? -1, offset: value.source?.offset ?? -1 });
      this.deliveries.set(id, list);
    });
  }

  async close(): Promise<void> {
    await this.#consumer?.close(true);
  }
}

/** Polls the group's committed offsets and records every move backwards. */
export class CommitWatcher {
  readonly last = new Map<number, bigint>();
  readonly backwards: string[] = [];
  samples = 0;
  #admin: Admin | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;

  async start(kafka: KafkaEnv, groupId: string, topic: string): Promise<void> {
    this.#admin = new Admin({ ...(await connectionOptions(kafka, `runner-test-admin-${randomUUID()}`)), retries: 1, retryDelay: 200 });
    const poll = async () => {
      try {
        const [group] = await (this.#admin as Admin).listConsumerGroupOffsets({ groups: [groupId] });
        for (const found of group?.topics ?? []) {
          if (found.name !== topic) continue;
          for (const { partitionIndex, committedOffset } of found.partitions) {
            if (committedOffset < 0n) continue;
            const previous = this.last.get(partitionIndex);
            if (previous !== undefined && committedOffset < previous) this.backwards.push(`${topic}-${partitionIndex}: ${previous} → ${committedOffset}`);
            this.last.set(partitionIndex, committedOffset);
          }
        }
        this.samples++;
      } catch {
        // a sample missed while the group coordinator is busy: the next one sees the same offsets
      }
    };
    const loop = () => {
      this.#polling = poll().then(() => {
        if (this.#timer !== undefined) this.#timer = setTimeout(loop, 100);
      });
    };
    this.#timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#polling;
    await this.#admin?.close();
  }
}

/** A runner B: `node scripts/local/event-source/main.ts` (what `npm run runner` starts) with its health port. */
export class ChildRunner {
  readonly process: ChildProcess;
  /** Its log lines (warnings and errors), for a failure's diagnosis. */
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #health: string;

  private constructor(env: NodeJS.ProcessEnv, port: number) {
    this.#health = `http://127.0.0.1:${port}/health`;
    const childEnv = { ...env, ENRICH_HEALTH_PORT: String(port), POWERTOOLS_LOG_LEVEL: 'WARN' };
    this.process = spawn(process.execPath, ['scripts/local/event-source/main.ts'], { cwd: process.cwd(), env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.process.once('exit', (code, signal) => resolve({ code, signal })));
    const read = (chunk: Buffer) => this.output.push(...chunk.toString('utf8').split('\n').filter((line) => line.length > 0));
    this.process.stdout?.on('data', read);
    this.process.stderr?.on('data', read);
  }

  static async start(env: NodeJS.ProcessEnv): Promise<ChildRunner> {
    return new ChildRunner(env, await freePort());
  }

  /** Records this runner invoked the function for, from its own GET /health. */
  async records(): Promise<number> {
    try {
      const body = (await (await fetch(this.#health)).json()) as { consumer: { records: number } };
      return body.consumer.records;
    } catch {
      return 0; // not listening yet
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
  }
}

/** Produces logs through the ingest use case at a steady rate until stopped; keeps every accepted id. */
export class SteadyProducer {
  readonly ids: string[] = [];
  readonly refused: string[] = [];
  #running = true;
  #loop: Promise<void> | undefined;

  start(publisher: KafkaPublisher, topic: string): void {
    this.#loop = (async () => {
      while (this.#running) {
        try {
          this.ids.push(...(await ingest(publisher, topic, Array.from({ length: 10 }, () => logFor({})))));
        } catch (error) {
          // Not accepted (503), so not counted; the shared broker is slow now and then under a full suite.
          this.refused.push(String(error));
        }
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

