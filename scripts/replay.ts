/**
 * `npm run replay -- --from partial|dlq|unprocessed --since <time> [--until <time>] [--where …] [--dry-run]
 * [--brokers host:port,…] [--topic <name>]`: re-reads a time range of the partial, dead-letter or on-failure
 * topic and sends what it holds through enrich again, in this process, with the enrich function's own
 * dependencies (`createEnrichDependencies` over the environment, as the local runner builds them): the
 * outputs go to the normal complete, partial and dead-letter topics, through the same publisher, lookups and
 * breakers. What each record becomes is decided by functions/enrich/src/replay/rebuild.ts: every record is
 * presented at its ORIGINAL raw-logs coordinates, so the event ids (and output keys) are those of the first
 * run, however often the replay runs. A partial's outputs are its log's next attempt (one above the partial's,
 * functions/enrich/src/reenrich/policy.ts), so downstream the replay wins over the partial it mends.
 *
 * The range: per partition, from the first record whose timestamp is at or after `--since` to the first at or
 * after `--until` (exclusive; default: the end of the partition when the replay starts), found with Kafka's
 * ListOffsets by timestamp. Nothing is committed (a throwaway consumer group). Records are sent through
 * enrich in batches of `batchSize` as they are read (at most HIGH_WATER read ahead), so a range of any size
 * runs in bounded memory. Records read back whole from their source topic (a truncated dead letter, a log of
 * an OTLP request, an OTLP partial) are read at their offset there after the range; one that topic no longer
 * holds (past its retention) is counted unrecoverable. A record met twice in the range (the partial output
 * of an earlier replay) is sent once; one both rebuilt and read back (the index-0 letter and a later letter
 * of one OTLP request) is sent twice, with the same event ids.
 *
 * It prints a progress line every `--progress` records read (default 1000) and after each enrich batch, and
 * a summary; `--dry-run` reads, matches and reads back, and publishes nothing. Exit code 0, 1 when a batch
 * could not be published (the replay stops there; run it again: it is idempotent), 2 for a usage error.
 *
 * @example
 * npm run replay -- --from partial --since 2h --where missing=not_found
 * npm run replay -- --from dlq --since 2026-12-01T16:00:00Z --until 2026-12-01T17:00:00Z --dry-run
 */
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Consumer, ListOffsetTimestamps, type Message, MessagesStreamModes } from '@platformatic/kafka';
import { kafkaEnv, readConfig, topicsEnv } from '#shared/config.ts';
import { connectionOptions, resolveBrokers } from '#shared/kafka/connection.ts';
import type { Log } from '#shared/log-port.ts';
import { createEnrichDependencies } from '../functions/enrich/dependencies.ts';
import { KafkaRecordReader } from '../functions/enrich/src/adapters/kafka-record-reader.ts';
import type { KafkaEventRecord } from '../functions/enrich/src/kafka-event.ts';
import type { BatchReport, EnrichMetrics } from '../functions/enrich/src/ports.ts';
import { checkWhere, plan, type ReadRecord, REPLAY_SOURCES, type ReplaySource } from '../functions/enrich/src/replay/rebuild.ts';
import { Tally, coordinatesKey, count } from '../functions/enrich/src/replay/tally.ts';
import { factsOf } from '../functions/enrich/src/reenrich/policy.ts';
import { parseTime } from '../functions/enrich/src/replay/time.ts';
import { type Condition, parseWhere } from '../functions/enrich/src/replay/where.ts';
import { kafkaEventOf, type RunnerMessage } from '../functions/enrich/src/adapters/poller-event.ts';

export interface ReplayOptions {
  from: ReplaySource;
  /** Epoch milliseconds. */
  since: number;
  until?: number;
  where?: readonly Condition[];
  dryRun?: boolean;
  /** KAFKA_*, topics and the enrich settings; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The topic read; default PARTIAL_TOPIC, DLQ_TOPIC or UNPROCESSED_TOPIC (raw-logs-unprocessed). */
  topic?: string;
  /** Records per enrich invocation (default 100, the mapping's batch size). */
  batchSize?: number;
  /** A progress line every this many records read (default 1000). */
  progressEvery?: number;
  /** A partition that sends nothing for this long is taken as read to its end (gaps: markers, compaction). */
  idleMs?: number;
  /** Where progress lines go; default stderr. */
  print?: (line: string) => void;
}

/**
 * Each record read from the range is counted once (functions/enrich/src/replay/tally.ts):
 * `read = matched + unmatched + Σ skipped`.
 */
export interface ReplaySummary {
  topic: string;
  dryRun: boolean;
  /** Records read from the topic's range. */
  read: number;
  /** Of those, the ones `--where` selected with something new to this replay (sent, read back, or unrecoverable). */
  matched: number;
  /** The ones `--where` tested and did not select. */
  unmatched: number;
  /** Raw records presented to enrich (rebuilt or read back), and of those, read back whole from their source topic. */
  records: number;
  readBack: number;
  /** Logs enrich made of them (an OTLP record holds many): complete, still partial, dead-lettered. */
  complete: number;
  partial: number;
  deadLettered: number;
  /** Records read that could not be tested or sent, or were already in this replay: why, and how many. */
  skipped: Record<string, number>;
  /** Selected records that cannot be sent (no coordinates, no payload, gone from their source topic): why, and how many. */
  unrecoverable: Record<string, number>;
}

const DEFAULT_UNPROCESSED_TOPIC = 'raw-logs-unprocessed';
const PATIENT = { retries: 20, retryDelay: 250 } as const;
/** Records read ahead of enrich at most (then the range's stream is paused). */
const HIGH_WATER = 2000;

/**
 * @throws Error when a batch could not be published (what was published before it stays: run it again).
 * @example
 * const summary = await replay({ from: 'partial', since: Date.now() - 3_600_000, where: parseWhere(['missing=not_found']) });
 */
export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  const env = options.env ?? process.env;
  const kafka = readConfig(kafkaEnv, env);
  const topics = readConfig(topicsEnv, env);
  const topic =
    options.topic ?? (options.from === 'partial' ? topics.PARTIAL_TOPIC : options.from === 'dlq' ? topics.DLQ_TOPIC : (env.UNPROCESSED_TOPIC ?? DEFAULT_UNPROCESSED_TOPIC));
  checkWhere(options.from, options.where ?? []);
  const print = options.print ?? ((line: string) => process.stderr.write(`${line}\n`));
  const progressEvery = options.progressEvery ?? 1000;
  const batchSize = options.batchSize ?? 100;
  const summary: ReplaySummary = {
    topic,
    dryRun: options.dryRun === true,
    read: 0,
    matched: 0,
    unmatched: 0,
    records: 0,
    readBack: 0,
    complete: 0,
    partial: 0,
    deadLettered: 0,
    skipped: {},
    unrecoverable: {},
  };
  const tally = new Tally();
  // The tally's buckets are the summary's: read-back failures are counted in the same one.
  summary.skipped = tally.skipped;
  summary.unrecoverable = tally.unrecoverable;

  const bootstrapServers = (await resolveBrokers(kafka)).join(',');
  // Enrich, in process, with the function's own dependencies; the counts come from its batch report.
  const counts: EnrichMetrics = {
    batch(report: BatchReport) {
      if (!report.published) return;
      summary.complete += report.complete;
      summary.partial += report.partial;
      summary.deadLettered += report.deadLettered;
    },
  };
  const dependencies = summary.dryRun ? undefined : createEnrichDependencies(env, { metrics: counts, log: stderrLog });
  /** Records to send, each with the attempt its outputs are (a partial's next one; 1 for the other sources). */
  let pending: { record: KafkaEventRecord; attempt: number; logs?: ReadonlySet<number> | undefined }[] = [];
  /** Sends the records gathered so far through enrich, in one call (in a dry run: counts them). */
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    summary.records += batch.length;
    if (dependencies === undefined) return;
    const byRecord = new Map(batch.map((each) => [each.record, each]));
    // Throws when the outputs could not be published: the replay stops there (it is idempotent).
    await dependencies.enrichBatch.enrich(
      kafkaEventOf(
        batch.map((each) => each.record),
        bootstrapServers,
      ),
      { attemptOf: (record) => byRecord.get(record)?.attempt, logsOf: (record) => byRecord.get(record)?.logs },
    );
    print(`replay: enriched ${summary.records} records: complete ${summary.complete}, partial ${summary.partial}, dead-lettered ${summary.deadLettered}`);
  };
  /** The attempt of a read-back record, by its coordinates: the highest of the partials that asked for it. */
  const rereadAttempts = new Map<string, number>();
  /**
   * The logs of a read-back record (an OTLP request) that the records read are about, by its coordinates:
   * only those are enriched again (a letter of one log must not republish its siblings); absent: all.
   */
  const rereadLogs = new Map<string, Set<number> | 'all'>();
  try {
    // 1. The range, read, matched and sent batch by batch as it is read.
    const consumer = new Consumer({ ...(await connectionOptions(kafka, `replay-${randomUUID()}`)), ...PATIENT, groupId: `replay-${randomUUID()}`, maxWaitTime: 200 });
    try {
      for await (const message of await readRange(consumer, topic, options.since, options.until, options.idleMs ?? 10_000)) {
        const headers = message.headerEntries.map(([name, value]) => [name.toString('utf8'), value ?? undefined] as const);
        const read = { value: message.value, headers };
        const plans = plan(options.from, read, options.where ?? []);
        // A replayed partial is its log's next attempt (README "Re-enrichment": downstream, the latest attempt wins).
        const attempt = options.from === 'partial' ? nextAttempt(read) : 1;
        for (const each of plans) {
          if (each.kind !== 'reread') continue;
          const key = coordinatesKey(each.source);
          rereadAttempts.set(key, Math.max(attempt, rereadAttempts.get(key) ?? 1));
          const logs = rereadLogs.get(key);
          if (each.index === undefined) rereadLogs.set(key, 'all');
          else if (logs === undefined) rereadLogs.set(key, new Set([each.index]));
          else if (logs !== 'all') logs.add(each.index);
        }
        for (const record of tally.add(plans)) {
          pending.push({ record, attempt });
          if (pending.length >= batchSize) await flush();
        }
        summary.read = tally.read;
        summary.matched = tally.matched;
        summary.unmatched = tally.unmatched;
        if (summary.read % progressEvery === 0) print(`replay: read ${summary.read} from ${topic}, matched ${summary.matched}`);
      }
      await flush();
    } finally {
      await consumer.close(true).catch(() => undefined);
    }
    print(`replay: read ${summary.read} from ${topic}, matched ${summary.matched}; ${tally.rereads.size} records to read back from their source topic`);

    // 2. Records read back whole from their source topic (rare: truncated letters, logs of OTLP requests).
    if (tally.rereads.size > 0) {
      const reader = new KafkaRecordReader(kafka, { groupPrefix: 'replay-read-back-', bootstrapServers });
      for (const [key, result] of await reader.read([...tally.rereads.values()])) {
        if (typeof result === 'string') count(summary.unrecoverable, result);
        else {
          summary.readBack++;
          const logs = rereadLogs.get(key);
          pending.push({ record: result, attempt: rereadAttempts.get(key) ?? 1, logs: logs === 'all' ? undefined : logs });
          if (pending.length >= batchSize) await flush();
        }
      }
      await flush();
    }
  } finally {
    await dependencies?.close();
  }
  if (summary.dryRun) print(`replay: dry run, ${summary.records} records would be enriched again; nothing published`);
  return summary;
}

/** The attempt a replayed partial's outputs are: the one after its own (1 when it cannot be read). */
function nextAttempt(message: ReadRecord): number {
  const facts = factsOf(message);
  return typeof facts === 'string' ? 1 : facts.attempt + 1;
}

/** The summary as the CLI prints it. */
export function summaryText(summary: ReplaySummary): string {
  const list = (bucket: Record<string, number>) => {
    const entries = Object.entries(bucket);
    return entries.length === 0 ? '0' : `${entries.reduce((sum, [, n]) => sum + n, 0)} (${entries.map(([why, n]) => `${why}: ${n}`).join('; ')})`;
  };
  return [
    `replay of ${summary.topic}${summary.dryRun ? ' (dry run: nothing published)' : ''}`,
    `  read            ${summary.read}`,
    `  matched         ${summary.matched}`,
    `  unmatched       ${summary.unmatched}`,
    `  ${summary.dryRun ? 'records to send' : 'records sent   '} ${summary.records}${summary.readBack > 0 ? ` (${summary.readBack} read back whole from their source topic)` : ''}`,
    `  complete        ${summary.complete}`,
    `  still partial   ${summary.partial}`,
    `  dead-lettered   ${summary.deadLettered}`,
    `  skipped         ${list(summary.skipped)}`,
    `  unrecoverable   ${list(summary.unrecoverable)}`,
  ].join('\n');
}

/**
 * The records of `topic` from `since` to `until` (exclusive), every partition, as they arrive: offsets by
 * timestamp per partition (ListOffsets answers -1 where no record is that recent: then the partition's end).
 */
async function readRange(consumer: Consumer, topic: string, since: number, until: number | undefined, idleMs: number): Promise<AsyncIterable<RunnerMessage>> {
  const latest = (await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST })).get(topic);
  if (latest === undefined) throw new Error(`topic ${topic} does not exist`);
  const at = async (time: number) => ((await consumer.listOffsets({ topics: [topic], timestamp: BigInt(time) })).get(topic) ?? []).map((offset, partition) => (offset < 0n ? (latest[partition] ?? 0n) : offset));
  const starts = await at(since);
  const ends = until === undefined ? [...latest] : await at(until);
  const open = new Map<number, bigint>();
  starts.forEach((start, partition) => {
    const end = ends[partition] ?? 0n;
    if (start < end) open.set(partition, end);
  });
  return (async function* () {
    if (open.size === 0) return;
    const stream = await consumer.consume({
      topics: [topic],
      autocommit: false,
      mode: MessagesStreamModes.MANUAL,
      offsets: [...open.keys()].map((partition) => ({ topic, partition, offset: starts[partition] ?? 0n })),
    });
    const queue: RunnerMessage[] = [];
    let wake: (() => void) | undefined;
    // Read ahead at most HIGH_WATER records while enrich works through them (the stream is paused above it).
    let paused = false;
    stream.on('data', (message: Message) => {
      queue.push(message as unknown as RunnerMessage);
      if (queue.length >= HIGH_WATER && !paused) {
        paused = true;
        stream.pause();
      }
      wake?.();
    });
    try {
      while (open.size > 0) {
        if (queue.length === 0) {
          const arrived = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), idleMs);
            wake = () => {
              clearTimeout(timer);
              resolve(true);
            };
          });
          wake = undefined;
          // Nothing more came: the rest of the range holds no records (transaction markers, compaction).
          if (!arrived) break;
          continue;
        }
        const message = queue.shift() as RunnerMessage;
        if (paused && queue.length < HIGH_WATER / 10) {
          paused = false;
          stream.resume();
        }
        const end = open.get(message.partition);
        if (end === undefined || message.offset >= end) continue;
        if (message.offset >= end - 1n) open.delete(message.partition);
        yield message;
      }
    } finally {
      await stream.close().catch(() => undefined);
    }
  })();
}

/** Enrich's own log lines, warnings and errors only (a dead-lettered record, a failed publish), on stderr. */
const stderrLog: Log = {
  debug: () => {},
  info: () => {},
  warn: (message, ...attributes) => process.stderr.write(`${JSON.stringify({ level: 'WARN', message, ...Object.assign({}, ...attributes) })}\n`),
  error: (message, ...attributes) => process.stderr.write(`${JSON.stringify({ level: 'ERROR', message, ...Object.assign({}, ...attributes), error: String(Object.assign({}, ...attributes).error ?? '') })}\n`),
};

const USAGE =
  'usage: npm run replay -- --from partial|dlq|unprocessed --since <time> [--until <time>] [--where missing=<reason>|field=<field>[:<reason>]|reason=<reason> …] [--dry-run] [--brokers host:port,…] [--topic <name>] [--progress N]';

/**
 * The environment with npm start's services where it names none (as `npm run metadata` does): `--brokers`,
 * else KAFKA_BROKERS or MSK_CLUSTER_ARN, else 127.0.0.1:9092; REDIS_URL, else redis://127.0.0.1:6379/0;
 * DATABASE_URL or the RDS Proxy parts (DATABASE_HOST…), else postgres://postgres@127.0.0.1:5432/log_enrichment.
 */
export function localDefaults(env: NodeJS.ProcessEnv, brokers: string | undefined): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  if (brokers !== undefined) out.KAFKA_BROKERS = brokers;
  else if (out.KAFKA_BROKERS === undefined && out.MSK_CLUSTER_ARN === undefined) out.KAFKA_BROKERS = '127.0.0.1:9092';
  out.REDIS_URL ??= 'redis://127.0.0.1:6379/0';
  if (out.DATABASE_URL === undefined && out.DATABASE_HOST === undefined) out.DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/log_enrichment';
  return out;
}

async function main(): Promise<void> {
  let options: ReplayOptions;
  try {
    const { values } = parseArgs({
      options: {
        from: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        where: { type: 'string', multiple: true, default: [] },
        'dry-run': { type: 'boolean', default: false },
        brokers: { type: 'string' },
        topic: { type: 'string' },
        progress: { type: 'string', default: '1000' },
      },
    });
    if (!REPLAY_SOURCES.includes(values.from as ReplaySource)) throw new Error(`--from must be one of ${REPLAY_SOURCES.join(', ')}`);
    if (values.since === undefined) throw new Error('--since is required');
    const progressEvery = Number(values.progress);
    if (!Number.isInteger(progressEvery) || progressEvery < 1) throw new Error('--progress must be a positive integer');
    const since = parseTime(values.since);
    const until = values.until === undefined ? undefined : parseTime(values.until);
    if (until !== undefined && until <= since) throw new Error('--until must be after --since');
    const where = parseWhere(values.where);
    checkWhere(values.from as ReplaySource, where);
    options = {
      from: values.from as ReplaySource,
      since,
      ...(until === undefined ? {} : { until }),
      where,
      dryRun: values['dry-run'],
      env: localDefaults(process.env, values.brokers),
      ...(values.topic === undefined ? {} : { topic: values.topic }),
      progressEvery,
    };
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    console.error(USAGE);
    process.exit(2);
  }
  try {
    console.log(summaryText(await replay(options)));
  } catch (error) {
    console.error(`replay failed: ${error instanceof Error ? error.message : String(error)} (what was published stays; the replay is idempotent: run it again)`);
    process.exitCode = 1;
  }
}

// Run as a command (`node scripts/replay.ts`), not when imported (the integration test calls `replay`).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
