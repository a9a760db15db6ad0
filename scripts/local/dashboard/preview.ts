/**
 * "Why is this log partial?": POST /api/enrich/preview. One log, as JSON, through the pipeline's own code,
 * right now, and nothing published:
 * - decode: the body becomes the value of a synthetic Kafka record (topic `preview`, partition 0, offset 0,
 *   timestamp now) that goes through enrich's checkRecord and decodeRecord, so whatever enrich accepts from
 *   raw-logs is accepted here (our shape, ECS, the shippers' fields, an OTLP/JSON request of ONE log record),
 *   fields are derived as enrich derives them (`event_id` from those coordinates, `received_at` now), and what
 *   enrich would dead-letter is a 422 with the reason and problems its dead letter would carry;
 * - lookup: the runner's own TieredMetadataLookup (its in-process cache, Redis, PostgreSQL and breakers), with a
 *   trace of what each tier did per key. It is a real lookup: what it reads lands in the caches as any batch's
 *   would, and its failures count in the breakers;
 * - merge: enriched-log.ts's Merger (`merge`: the event as our JSON, whatever OUTPUT_ENCODING says) over a
 *   BlockCache of its own (the batches' blocks are not touched), and `topicFor` for where it would go.
 * The body arrives parsed (health.ts); it is written back with JSON.stringify, so an integer beyond 2^53
 * written as a JSON number (an OTLP timeUnixNano) has already lost digits, as it would have in any JSON client.
 */
import type { EnrichConfig } from '../../../functions/enrich/config.ts';
import { boundedProblems } from '../../../functions/enrich/src/dead-letter.ts';
import { type DecodedLog, type DecodeFailure, decodeRecord } from '../../../functions/enrich/src/decode.ts';
import { BlockCache, Merger, topicFor } from '../../../functions/enrich/src/enriched-log.ts';
import { checkRecord, type KafkaEventRecord, MalformedRecord } from '../../../functions/enrich/src/kafka-event.ts';
import type { MetadataKind, Resolution } from '../../../functions/enrich/src/ports.ts';
import { LookupTrace, type TieredMetadataLookup, type TraceStep } from '../../../functions/enrich/src/tiered-lookup.ts';
import type { PreviewLookup, PreviewRejection, PreviewResponse, TierOutcome } from './contract.ts';

/** What the preview uses of enrich's dependencies: an `EnrichDependencies` (functions/enrich/dependencies.ts) is one. */
export interface PreviewDependencies {
  lookup: TieredMetadataLookup;
  config: Pick<EnrichConfig, 'COMPLETE_TOPIC' | 'PARTIAL_TOPIC'>;
}

export interface PreviewOptions {
  dependencies: PreviewDependencies;
  /** Wall clock (the record's timestamp, `received_at`, `enriched_at`); injectable for tests. */
  clock?: () => number;
}

export type PreviewAnswer = { status: 200; body: PreviewResponse } | { status: 422; body: PreviewRejection };

/** The synthetic coordinates of a previewed log (its `source`, and what a derived `event_id` is derived from). */
export const PREVIEW_SOURCE = { topic: 'preview', partition: 0, offset: 0 } as const;

/**
 * @example
 * const preview = createPreview({ dependencies: createEnrichDependencies(process.env) });
 * const { status, body } = await preview({ level: 'INFO', message: 'hi', service: 'payment-api', source_ip: '10.0.0.1' }); // or the body's bytes
 * // 200: { published: false, topic: 'enriched-logs-partial', status: 'partial', missing: { 'host.zone': 'not_found', … }, lookups: […], event: {…} }
 */
export function createPreview(options: PreviewOptions): (body: unknown) => Promise<PreviewAnswer> {
  const { lookup, config } = options.dependencies;
  const topics = { complete: config.COMPLETE_TOPIC, partial: config.PARTIAL_TOPIC };
  const clock = options.clock ?? Date.now;

  return async (body: unknown): Promise<PreviewAnswer> => {
    const started = performance.now();
    const now = clock();
    const decoded = decodeOne(recordOf(body, now));
    if (!decoded.ok) return { status: 422, body: decoded.rejection };
    const { log } = decoded;

    // The keys enrich's batch would ask for this log (EnrichBatch `accept`).
    const ips = new Set<string>(log.source_ip === undefined ? [] : [log.source_ip]);
    const hostnames = new Set<string>(log.hostname === undefined ? [] : [log.hostname]);
    const services = new Set<string>([log.service]);
    const trace = new LookupTrace();
    const metadata = await lookup.resolve({ ips, hostnames, services }, { trace });
    const latencyMs = Math.round((performance.now() - started) * 1000) / 1000;

    const merger = new Merger(metadata, new Date(now).toISOString(), latencyMs, new BlockCache());
    const event = merger.merge(log, PREVIEW_SOURCE);
    const lookups: PreviewLookup[] = [];
    const add = (kind: MetadataKind, key: string, resolution: Resolution<unknown> | undefined) => {
      lookups.push(previewLookup(kind, key, resolution, trace.steps(kind, key)));
    };
    // In the order the lookup asks them (TieredMetadataLookup `visit`).
    for (const ip of ips) {
      add('hostsByIp', ip, metadata.hostsByIp.get(ip));
      add('networks', ip, metadata.networks.get(ip));
    }
    for (const name of hostnames) add('hostsByName', name, metadata.hostsByName.get(name));
    for (const name of services) add('services', name, metadata.services.get(name));

    return {
      status: 200,
      body: {
        published: false,
        topic: topicFor(event.enrichment.status, topics),
        status: event.enrichment.status,
        missing: { ...event.enrichment.missing },
        lookups,
        // A plain copy: the merged event shares its host and service blocks with the Merger's cache.
        event: structuredClone(event) as unknown as Record<string, unknown>,
      },
    };
  };
}

/**
 * The body as a raw-logs record would carry it, base64, at the preview's coordinates: the bytes as received
 * when given (the health server's; re-serialising parsed JSON would round an integer past 2^53, such as an
 * OTLP `timeUnixNano` written as a number), else the value as JSON.
 */
function recordOf(body: unknown, now: number): KafkaEventRecord {
  // JSON.stringify(undefined) is undefined: an empty value, which decodeRecord calls `(value): is empty`.
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body) ?? '', 'utf8');
  return {
    ...PREVIEW_SOURCE,
    timestamp: now,
    timestampType: 'CREATE_TIME',
    key: null,
    value: bytes.toString('base64'),
    headers: [],
  };
}

/** One log decoded as enrich decodes it, or the 422 a dead letter (or a request of more than one log) makes. */
function decodeOne(record: KafkaEventRecord): DecodedLog | { ok: false; rejection: PreviewRejection } {
  // The record is well formed by construction; checkRecord is run anyway because enrich runs it first.
  const checked = checkRecord(record, `${record.topic}-${record.partition}`);
  if (checked instanceof MalformedRecord) return rejected('malformed', checked.problems);
  const decoded = decodeRecord(checked);
  if (decoded.ok === true) return decoded;
  if (decoded.ok === false) return rejected(decoded.reason, decoded.problems);
  const [only, ...more] = decoded.logs;
  if (only === undefined || more.length > 0) {
    const count = decoded.logs.length;
    return {
      ok: false,
      rejection: {
        message: `This OTLP request holds ${count} log records; the preview explains one log: send a request with exactly one log record.`,
        reason: 'not_one_log',
        problems: [{ field: 'resourceLogs', reason: `holds ${count} log records; send one` }],
      },
    };
  }
  return only.ok ? only : rejected(only.reason, only.problems);
}

function rejected(reason: DecodeFailure['reason'] | 'malformed', problems: DecodeFailure['problems']): { ok: false; rejection: PreviewRejection } {
  // As the dead letter keeps them (bounded); `field: reason` of the first in the message.
  const kept = boundedProblems(problems).map(({ field, reason: why }) => ({ field, reason: why }));
  const first = kept[0];
  const what = first === undefined ? '' : `: ${first.field}: ${first.reason}${kept.length > 1 ? ` (and ${kept.length - 1} more)` : ''}`;
  return { ok: false, rejection: { message: `Enrich would dead-letter this log (${reason})${what}`, reason, problems: kept } };
}

function outcomeOf(step: Exclude<TraceStep, { outcome: 'outdated' }>): TierOutcome {
  return 'detail' in step ? { tier: step.tier, outcome: step.outcome, detail: step.detail } : { tier: step.tier, outcome: step.outcome };
}

/**
 * One key's answer and what each tier did for it, in the order asked. Tiers the lookup never asked for this
 * key (the in-process cache answered: Redis and PostgreSQL; Redis answered: PostgreSQL) are listed as
 * `skipped`, so every key shows all three. An in-process entry read under an older metadata version than
 * Redis reported (`outdated` in the trace) is shown as a memory `miss`: it was read again from Redis.
 * A stale answer adds a last memory `stale` step (after the remote tiers that failed).
 */
export function previewLookup(kind: MetadataKind, key: string, resolution: Resolution<unknown> | undefined, steps: readonly TraceStep[]): PreviewLookup {
  const tiers: TierOutcome[] = [];
  for (const step of steps) {
    if (step.tier === 'memory' && step.outcome === 'outdated') {
      const last = tiers[tiers.length - 1];
      if (last !== undefined && last.tier === 'memory') tiers.pop();
      tiers.push({ tier: 'memory', outcome: 'miss' });
    } else {
      tiers.push(outcomeOf(step));
    }
  }
  const firstMemory = tiers.findIndex((outcome) => outcome.tier === 'memory');
  if (!tiers.some((outcome) => outcome.tier === 'redis')) tiers.splice(firstMemory + 1, 0, { tier: 'redis', outcome: 'skipped' });
  if (!tiers.some((outcome) => outcome.tier === 'postgres')) {
    const lastRedis = tiers.findLastIndex((outcome) => outcome.tier === 'redis');
    tiers.splice(lastRedis + 1, 0, { tier: 'postgres', outcome: 'skipped' });
  }
  // Absent only if the lookup answered nothing for the key (it always does): reported as unavailable.
  const answer = resolution ?? { state: 'unavailable' };
  if (answer.state === 'unavailable') return { kind, key, state: 'unavailable', stale: false, answeredBy: null, tiers };
  return { kind, key, state: answer.state, stale: answer.stale, answeredBy: answer.tier ?? null, tiers };
}
