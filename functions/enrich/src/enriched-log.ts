/**
 * Stage 4 and 5: the enriched event (published as JSON Schema at layers/shared/schemas/enriched-log.v2.schema.json,
 * and v1 without provenance: enriched-log.v1.schema.json) and which topic it goes to.
 *
 * Completeness: an event is `complete` when every field of REQUIRED_FIELDS is filled from a fresh answer.
 * `host.zone` is informative only: many hosts live outside any registered network, so a missing zone is
 * listed in `enrichment.missing` but does not make the event partial.
 * Resolution order: the host is the one registered with the exact source IP, else the one named by the log's
 * `hostname`; datacenter and environment come from the host, else from the most specific network containing
 * the IP. A field nobody could fill is null, and `enrichment.missing[field]` says why:
 * `not_found` (the sources answered: unknown), `unavailable` (no source could answer), `stale` (filled from an
 * expired in-process value because the sources were down).
 * A log without a source IP (it named its host only by hostname) is looked up by hostname only: no network
 * lookup, `host.ip` null, and datacenter and environment only from the host; `host.zone` is then `not_found`
 * (no registered network contains an address the log does not have).
 * A log decoded from an OTLP request has its position in the request as `source.index` (its `origin` is not
 * part of the JSON event: the OTLP outputs encode from it, ./otlp/encode-otlp.ts).
 *
 * Provenance (schema v2, when the lookup reports it: `ResolvedMetadata.provenanceAt`, `ENRICH_PROVENANCE`):
 * `enrichment.provenance` says per field group which tier answered, how old the value was and whether it
 * was stale. Each group names the answer its fields came from: `host` the host found by IP, else by hostname,
 * else (nothing found) the weaker of the two lookups, as `missing` ranks them (unavailable, stale, not_found;
 * then the older); `network` the network lookup (null without a source IP, and `host` null when the log has
 * neither IP nor hostname: nothing was looked up); `service` the service lookup. Ages grow from batch to batch,
 * so they are computed per block and batch (like the enrichment JSON a block keeps), never per record; the
 * blocks themselves do not depend on them, so the BlockCache works as before. Without provenance the events
 * are v1, byte for byte as before it existed.
 */
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { LOG_LEVELS } from '#shared/schemas/log.ts';
import type { DerivedField, LogEvent } from './log-event.ts';
import { NOT_FOUND, type Resolution, type ResolvedMetadata, type Tier } from './ports.ts';

/** The schema version of events without provenance (enriched-log.v1.schema.json). */
export const SCHEMA_VERSION = 1;
/** The schema version of events with `enrichment.provenance` (enriched-log.v2.schema.json). */
export const PROVENANCE_SCHEMA_VERSION = 2;
export type SchemaVersion = typeof SCHEMA_VERSION | typeof PROVENANCE_SCHEMA_VERSION;

export type MissingReason = 'not_found' | 'unavailable' | 'stale';
export type EnrichmentStatus = 'complete' | 'partial';

export const REQUIRED_FIELDS = [
  'host.hostname',
  'host.datacenter',
  'host.environment',
  'host.cost_center',
  'service.team',
  'service.owner',
  'service.tier',
  'service.version',
  'service.cost_center',
] as const;

export type HostField = 'host.hostname' | 'host.datacenter' | 'host.environment' | 'host.cost_center' | 'host.zone';
export type ServiceField = 'service.team' | 'service.owner' | 'service.tier' | 'service.version' | 'service.cost_center';
export type Missing = Partial<Record<HostField | ServiceField, MissingReason>>;

export interface EnrichedHost {
  hostname: string | null;
  /** The log's source_ip; null when the log named its host only by hostname. */
  ip: string | null;
  datacenter: string | null;
  environment: string | null;
  cost_center: string | null;
  zone: string | null;
}

export interface EnrichedService {
  name: string;
  team: string | null;
  owner: string | null;
  tier: string | null;
  version: string | null;
  cost_center: string | null;
}

/** Where one field group's answer came from (schema v2). */
export interface FieldProvenance {
  /** The tier that answered; null when none could (unavailable). */
  tier: Tier | null;
  /** Milliseconds from the value's read from PostgreSQL to this batch's lookup; null when unknown (unavailable, or an entry stored without that time). */
  age_ms: number | null;
  /** Served from an expired in-process entry because the sources were down (as `missing` says `stale`). */
  stale: boolean;
}

/** Per field group; `host` null when the log named no host (no IP, no hostname), `network` null without a source IP. */
export interface Provenance {
  host: FieldProvenance | null;
  network: FieldProvenance | null;
  service: FieldProvenance;
}

export interface Enrichment {
  status: EnrichmentStatus;
  missing: Missing;
  /** Pipeline fields the raw record lacked, derived from its Kafka record (always present, often empty). */
  derived: readonly DerivedField[];
  /** Extra fields of the log that did not fit under `attributes` (always present, usually empty). */
  dropped_attributes: readonly string[];
  enriched_at: string;
  latency_ms: number;
  /**
   * Schema v2 only: which attempt at this log this output is, when it is not the first (the re-enricher's,
   * ./reenrich/); absent on enrich's own outputs. The `enrichment-attempt` header says the same in v1.
   */
  attempt?: number;
  /** Schema v2 only. */
  provenance?: Provenance;
}

export interface EnrichedLog extends Omit<LogEvent, 'service' | 'derived' | 'dropped_attributes' | 'origin'> {
  /** 2 with `enrichment.provenance`, 1 without. */
  schema_version: SchemaVersion;
  host: EnrichedHost;
  service: EnrichedService;
  enrichment: Enrichment;
  /** `index`: the log's position in its OTLP request (OTLP logs only). */
  source: { topic: string; partition: number; offset: number; index?: number };
}

/**
 * Every field of a LogEvent, each either written by `serialize`, moved into `enrichment`, or (`origin`) read
 * for `source.index`: adding a field to the contract without serialising it fails the type check here
 * instead of dropping it from every output.
 */
const SERIALIZED = ['level', 'message', 'service', 'source_ip', 'timestamp', 'hostname', 'trace_id', 'attributes', 'event_id', 'received_at', 'derived', 'dropped_attributes', 'origin'] as const;
type Unserialized = Exclude<keyof LogEvent, (typeof SERIALIZED)[number]>;
export const everyFieldSerialized: [Unserialized] extends [never] ? true : Unserialized = true;

interface Block<T> {
  value: T;
  missing: Missing | undefined;
  /** Some REQUIRED field of this block is in `missing`. */
  incomplete: boolean;
  /** `value` as JSON, made once per batch when the block is first serialised. */
  json?: string;
  /**
   * The enrichment block of a record whose only missing fields are this block's (the other block has none)
   * and that has nothing derived or dropped: the same for every such record of the batch whose Merger's
   * number is `enrichmentOf` (it holds the batch's enriched_at and latency; blocks outlive batches: BlockCache).
   * A number, not the Merger: a block kept the Merger, and with it its batch's whole ResolvedMetadata, alive.
   */
  enrichmentJson?: string;
  enrichmentOf?: number;
  /**
   * The answers its provenance tells of (ages aside), chosen when the block is built (references, nothing
   * allocated: blocks are rebuilt often, and with provenance off these are never read): a host block's host
   * answer (`null`: nothing was looked up) and network answer (`null`: no IP); a service block's answer.
   */
  readonly from: Answer | null;
  readonly networkFrom?: Answer | null;
  /**
   * The provenance with the ages of the batch whose Merger's number is `provenanceOf` (for `merge`), and as
   * this block's members of the `enrichment.provenance` JSON (`"host":{…},"network":null`, for `serialize`)
   * of the batch numbered `provenanceJsonOf`: each made once per block and batch.
   */
  provenance?: readonly (FieldProvenance | null)[];
  provenanceOf?: number;
  provenanceJson?: string;
  provenanceJsonOf?: number;
}

/** An answer a block's provenance is read from. */
type Answer = Resolution<unknown>;

/** A host block and the resolutions it was built from. */
interface CachedHost {
  byIp: Resolution<Host>;
  byName: Resolution<Host> | undefined;
  network: Resolution<Network>;
  block: Block<EnrichedHost>;
}

/**
 * Host and service blocks (and their JSON) kept from batch to batch. A block is a pure function of its key
 * (ip and hostname; service name) and of the resolution objects it was built from, and the lookup hands out
 * the same resolution object for as long as its in-process cache entry lives: a block is reused only when
 * every one of its resolutions is that same object (`===`), else it is built again. At `maxEntries` blocks
 * all are dropped (rebuilding is the only cost). Without it, each record's host block was built and
 * serialised once per batch, which at batch size 100 and mostly distinct hosts was once per record.
 */
export class BlockCache {
  readonly #hosts = new Map<string | typeof ABSENT_KEY, Map<string | typeof ABSENT_KEY, CachedHost>>();
  readonly #services = new Map<string, { resolution: Resolution<Service>; block: Block<EnrichedService> }>();
  readonly #maxEntries: number;
  #entries = 0;

  constructor(maxEntries = 20_000) {
    this.#maxEntries = maxEntries;
  }

  host(ip: string | undefined, hostname: string | undefined, metadata: ResolvedMetadata): Block<EnrichedHost> {
    // Without an IP nothing was looked up by address: neither a host nor a network can match one.
    const byIp: Resolution<Host> = ip === undefined ? NOT_FOUND : (metadata.hostsByIp.get(ip) ?? UNKNOWN);
    const byName: Resolution<Host> | undefined = hostname === undefined ? undefined : (metadata.hostsByName.get(hostname) ?? UNKNOWN);
    const network: Resolution<Network> = ip === undefined ? NOT_FOUND : (metadata.networks.get(ip) ?? UNKNOWN);
    // By IP, then by hostname (no key string is built per record); ABSENT_KEY stands for a missing one.
    const ipKey = ip ?? ABSENT_KEY;
    let byHostname = this.#hosts.get(ipKey);
    if (byHostname === undefined) {
      byHostname = new Map();
      this.#hosts.set(ipKey, byHostname);
    }
    const nameKey = hostname ?? ABSENT_KEY;
    const cached = byHostname.get(nameKey);
    if (cached !== undefined && cached.byIp === byIp && cached.byName === byName && cached.network === network) return cached.block;
    if (cached === undefined) this.#count();
    const block = hostBlock(ip, hostname, byIp, byName ?? UNKNOWN, network);
    byHostname.set(nameKey, { byIp, byName, network, block });
    return block;
  }

  service(name: string, metadata: ResolvedMetadata): Block<EnrichedService> {
    const resolution = metadata.services.get(name) ?? UNKNOWN;
    const cached = this.#services.get(name);
    if (cached !== undefined && cached.resolution === resolution) return cached.block;
    if (cached === undefined) this.#count();
    const block = buildService(name, resolution);
    this.#services.set(name, { resolution, block });
    return block;
  }

  #count(): void {
    if (++this.#entries <= this.#maxEntries) return;
    this.#hosts.clear();
    this.#services.clear();
    this.#entries = 1;
  }
}

/** An enriched event already serialised, and its status (for the branch). */
export interface SerializedEnrichedLog {
  status: EnrichmentStatus;
  json: string;
}

/** A record's coordinates, as `source` in the event. */
export interface SourceCoordinates {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * Levels `serialize` writes between quotes as they are: only those that JSON.stringify writes the same way
 * (every one of LOG_LEVELS is plain letters; checked here rather than assumed).
 */
const VERBATIM_LEVELS: ReadonlySet<string> = new Set(LOG_LEVELS.filter((level) => JSON.stringify(level) === `"${level}"`));

const isString = (value: unknown): value is string => typeof value === 'string';
const isOptionalString = (value: unknown) => value === undefined || typeof value === 'string';

/**
 * What `serialize`'s text building assumes of a log and its coordinates: a level written verbatim, every text
 * field a string (JSON.stringify of anything else may write nothing, `undefined`, where a value must be),
 * coordinates and an OTLP log's index finite numbers (a template writes NaN as `NaN`, JSON as `null`), `derived` and
 * `dropped_attributes` lists. Decoded logs always hold; anything else takes the plain path.
 */
function fitsFastPath(log: LogEvent, source: SourceCoordinates): boolean {
  return (
    VERBATIM_LEVELS.has(log.level) &&
    isString(log.event_id) &&
    isString(log.message) &&
    isString(log.service) &&
    isString(log.timestamp) &&
    isString(log.received_at) &&
    isOptionalString(log.source_ip) &&
    isOptionalString(log.hostname) &&
    isOptionalString(log.trace_id) &&
    Array.isArray(log.derived) &&
    Array.isArray(log.dropped_attributes) &&
    (log.origin === undefined || Number.isSafeInteger(log.origin.index)) &&
    isString(source.topic) &&
    Number.isFinite(source.partition) &&
    Number.isFinite(source.offset)
  );
}

const NO_MISSING: Missing = Object.freeze({});
const UNKNOWN: Resolution<never> = Object.freeze({ state: 'unavailable' });
const ABSENT_KEY: unique symbol = Symbol('none');

function reasonOf(resolution: Resolution<unknown>): MissingReason {
  if (resolution.state === 'unavailable') return 'unavailable';
  return resolution.stale ? 'stale' : 'not_found';
}

/** The more telling of two reasons: unavailable > stale > not_found (an unanswered source may know). */
function worst(a: MissingReason, b: MissingReason | undefined): MissingReason {
  if (b === undefined || a === 'unavailable') return a;
  if (b === 'unavailable') return b;
  return a === 'stale' || b === 'stale' ? 'stale' : 'not_found';
}

/**
 * Merges per batch: the host and service blocks are built once per distinct (ip, hostname) and service name,
 * and kept across batches while their resolutions are the same (`BlockCache`), then shared by every record
 * that has them (they are only serialised, never mutated: the host and service of a merged event are shared).
 */
export class Merger {
  static #made = 0;
  /** Tells this batch's enrichment JSON kept on a block from another batch's (see Block#enrichmentOf). */
  readonly #id = ++Merger.#made;
  readonly #metadata: ResolvedMetadata;
  readonly #blocks: BlockCache;
  readonly #enrichedAt: string;
  readonly #latencyMs: number;
  /** `metadata.provenanceAt`: the time ages are measured to; undefined writes v1 events. */
  readonly #provenanceAt: number | undefined;
  readonly #version: SchemaVersion;
  /** Written (v2) when above 1. */
  readonly #attempt: number;

  /**
   * @param blocks the blocks of earlier batches (one cache per EnrichBatch); a new one by default.
   * @param attempt the attempt at these logs (the re-enricher's are above 1: `enrichment.attempt`, v2 only).
   * @example
   * const merger = new Merger(await lookup.resolve(request), new Date().toISOString(), 1.5, blocks);
   * const { status, json } = merger.serialize(log, record); // v2 (with enrichment.provenance) when the lookup reports provenance
   */
  constructor(metadata: ResolvedMetadata, enrichedAt: string, latencyMs: number, blocks: BlockCache = new BlockCache(), attempt = 1) {
    this.#attempt = attempt;
    this.#metadata = metadata;
    this.#blocks = blocks;
    this.#enrichedAt = enrichedAt;
    this.#latencyMs = latencyMs;
    this.#provenanceAt = metadata.provenanceAt;
    this.#version = metadata.provenanceAt === undefined ? SCHEMA_VERSION : PROVENANCE_SCHEMA_VERSION;
  }

  /**
   * The event as an object. Only the log's LogEvent fields are taken (listed, not spread: `serialize` writes
   * exactly these, and a stray property of a log object must not reach one path and not the other).
   */
  merge(log: LogEvent, source: SourceCoordinates): EnrichedLog {
    const host = this.#host(log.source_ip, log.hostname);
    const service = this.#service(log.service);
    let missing: Missing;
    if (host.missing === undefined) missing = service.missing ?? NO_MISSING;
    else if (service.missing === undefined) missing = host.missing;
    else missing = { ...host.missing, ...service.missing };
    const status: EnrichmentStatus = host.incomplete || service.incomplete ? 'partial' : 'complete';
    const enriched = { schema_version: this.#version, level: log.level, message: log.message, service: service.value } as EnrichedLog;
    if (log.source_ip !== undefined) enriched.source_ip = log.source_ip;
    enriched.timestamp = log.timestamp;
    if (log.hostname !== undefined) enriched.hostname = log.hostname;
    if (log.trace_id !== undefined) enriched.trace_id = log.trace_id;
    if (log.attributes !== undefined) enriched.attributes = log.attributes;
    enriched.event_id = log.event_id;
    enriched.received_at = log.received_at;
    enriched.host = host.value;
    const enrichment = this.#enrichment(status, missing, log);
    if (this.#provenanceAt !== undefined) {
      const [hostProvenance = null, networkProvenance = null] = this.#provenance(host);
      enrichment.provenance = { host: hostProvenance, network: networkProvenance, service: this.#provenance(service)[0] as FieldProvenance };
    }
    enriched.enrichment = enrichment;
    enriched.source =
      log.origin === undefined
        ? { topic: source.topic, partition: source.partition, offset: source.offset }
        : { topic: source.topic, partition: source.partition, offset: source.offset, index: log.origin.index };
    return enriched;
  }

  /**
   * `JSON.stringify(this.merge(log, source))` with the same content (key order aside), built from fragments
   * serialised once per batch: the host and service blocks, and the enrichment block of events with nothing
   * derived or dropped whose missing fields come from one block (or none). Per record only the log's own
   * values are serialised, field by field, so the service block is written in its place by construction (no
   * search in the log's JSON that could miss); `SERIALIZED` above makes a forgotten field a type error. A log
   * or coordinates the text building cannot write safely (`fitsFastPath`) take `JSON.stringify(merge(…))`.
   * tests/unit/enrich/serialize.test.ts checks, over generated events, that every output is valid against
   * the published schema and equal, as parsed JSON, to the plain path's.
   */
  serialize(log: LogEvent, source: SourceCoordinates): SerializedEnrichedLog {
    if (!fitsFastPath(log, source)) return this.#plain(log, source);
    const host = this.#host(log.source_ip, log.hostname);
    const service = this.#service(log.service);
    host.json ??= JSON.stringify(host.value);
    service.json ??= JSON.stringify(service.value);
    const status: EnrichmentStatus = host.incomplete || service.incomplete ? 'partial' : 'complete';
    let enrichment: string;
    if (log.derived.length > 0 || log.dropped_attributes.length > 0 || (host.missing !== undefined && service.missing !== undefined)) {
      const missing = host.missing === undefined ? (service.missing ?? NO_MISSING) : service.missing === undefined ? host.missing : { ...host.missing, ...service.missing };
      enrichment = this.#enrichmentJson(status, missing, log);
    } else if (host.missing !== undefined) {
      // Only the host block decides status and missing here (a block with nothing missing is never incomplete).
      if (host.enrichmentOf !== this.#id || host.enrichmentJson === undefined) {
        host.enrichmentJson = this.#enrichmentJson(status, host.missing, log);
        host.enrichmentOf = this.#id;
      }
      enrichment = host.enrichmentJson;
    } else if (service.missing !== undefined) {
      if (service.enrichmentOf !== this.#id || service.enrichmentJson === undefined) {
        service.enrichmentJson = this.#enrichmentJson(status, service.missing, log);
        service.enrichmentOf = this.#id;
      }
      enrichment = service.enrichmentJson;
    } else {
      this.#completeJson ??= this.#enrichmentJson(status, NO_MISSING, log);
      enrichment = this.#completeJson;
    }
    if (this.#provenanceAt !== undefined) {
      // The enrichment JSON above is v1's; provenance goes last, from the blocks' fragments of this batch.
      enrichment = `${enrichment.slice(0, -1)},"provenance":{${this.#provenanceJson(host, HOST_GROUPS)},${this.#provenanceJson(service, SERVICE_GROUPS)}}}`;
    }
    // `level` is one of LOG_LEVELS (plain letters); every other string goes through JSON.stringify.
    let json = `{"schema_version":${this.#version},"event_id":${JSON.stringify(log.event_id)},"level":"${log.level}","message":${JSON.stringify(log.message)}`;
    if (log.source_ip !== undefined) json += `,"source_ip":${JSON.stringify(log.source_ip)}`;
    json += `,"timestamp":${JSON.stringify(log.timestamp)},"received_at":${JSON.stringify(log.received_at)}`;
    if (log.hostname !== undefined) json += `,"hostname":${JSON.stringify(log.hostname)}`;
    if (log.trace_id !== undefined) json += `,"trace_id":${JSON.stringify(log.trace_id)}`;
    if (log.attributes !== undefined) {
      const attributes: string | undefined = JSON.stringify(log.attributes);
      // Only an object with a `toJSON` that returns nothing writes nothing; the plain path omits it.
      if (attributes === undefined) return this.#plain(log, source);
      json += `,"attributes":${attributes}`;
    }
    json += `,"service":${service.json},"host":${host.json},"enrichment":${enrichment},"source":{"topic":${JSON.stringify(source.topic)},"partition":${source.partition},"offset":${source.offset}`;
    json += log.origin === undefined ? '}}' : `,"index":${log.origin.index}}}`;
    return { status, json };
  }

  /** The plain path: the merged object, serialised whole. */
  #plain(log: LogEvent, source: SourceCoordinates): SerializedEnrichedLog {
    const enriched = this.merge(log, source);
    return { status: enriched.enrichment.status, json: JSON.stringify(enriched) };
  }

  #completeJson: string | undefined;

  #enrichmentJson(status: EnrichmentStatus, missing: Missing, log: LogEvent): string {
    return JSON.stringify(this.#enrichment(status, missing, log));
  }

  /** The enrichment block, in the one key order both paths write. */
  #enrichment(status: EnrichmentStatus, missing: Missing, log: LogEvent): Enrichment {
    const enrichment: Enrichment = {
      status,
      missing,
      derived: log.derived,
      dropped_attributes: log.dropped_attributes,
      enriched_at: this.#enrichedAt,
      latency_ms: this.#latencyMs,
    };
    // v1 has no room for it (its enrichment takes no other member): the header carries it there.
    if (this.#attempt > 1 && this.#version === PROVENANCE_SCHEMA_VERSION) enrichment.attempt = this.#attempt;
    return enrichment;
  }

  /** The block's provenance with this batch's ages, made on its first use in the batch (`merge`). */
  #provenance(block: Block<unknown>): readonly (FieldProvenance | null)[] {
    if (block.provenanceOf === this.#id && block.provenance !== undefined) return block.provenance;
    const at = this.#provenanceAt as number;
    const provenance = block.networkFrom === undefined ? [aged(block.from, at)] : [aged(block.from, at), aged(block.networkFrom, at)];
    block.provenance = provenance;
    block.provenanceOf = this.#id;
    return provenance;
  }

  /** The block's members of the provenance JSON with this batch's ages, made on its first use in the batch (`serialize`). */
  #provenanceJson(block: Block<unknown>, names: readonly (keyof Provenance)[]): string {
    if (block.provenanceJsonOf === this.#id && block.provenanceJson !== undefined) return block.provenanceJson;
    const at = this.#provenanceAt as number;
    let json = `"${names[0]}":${answerJson(block.from, at)}`;
    if (names.length > 1) json += `,"${names[1]}":${answerJson(block.networkFrom ?? null, at)}`;
    block.provenanceJson = json;
    block.provenanceJsonOf = this.#id;
    return json;
  }

  #host(ip: string | undefined, hostname: string | undefined): Block<EnrichedHost> {
    return this.#blocks.host(ip, hostname, this.#metadata);
  }

  #service(name: string): Block<EnrichedService> {
    return this.#blocks.service(name, this.#metadata);
  }
}

/** The groups of `enrichment.provenance` each kind of block holds: `from`, then (a host block) `networkFrom`. */
const HOST_GROUPS = ['host', 'network'] as const;
const SERVICE_GROUPS = ['service'] as const;

/** The JSON of an answer before and after its age: constants (a tier is one of three plain words), never built per block. */
const JSON_HEAD: Record<Tier | 'null', string> = {
  memory: '{"tier":"memory","age_ms":',
  redis: '{"tier":"redis","age_ms":',
  postgres: '{"tier":"postgres","age_ms":',
  null: '{"tier":null,"age_ms":',
};
const JSON_TAIL = { stale: ',"stale":true}', fresh: ',"stale":false}' } as const;

/** The answer's provenance as JSON with its age at `at`: the same text as JSON.stringify(aged(answer, at)). */
function answerJson(answer: Answer | null, at: number): string {
  if (answer === null) return 'null';
  if (answer.state === 'unavailable') return UNANSWERED_JSON;
  const age = answer.fetchedAt === undefined || answer.fetchedAt === null ? 'null' : ageAt(answer.fetchedAt, at);
  return `${JSON_HEAD[answer.tier ?? 'null']}${age}${answer.stale ? JSON_TAIL.stale : JSON_TAIL.fresh}`;
}
const UNANSWERED_JSON = `${JSON_HEAD.null}null${JSON_TAIL.fresh}`;

/** The answer's provenance with its age at `at` (ms); unavailable: no tier, no age. */
function aged(answer: Answer | null, at: number): FieldProvenance | null {
  if (answer === null) return null;
  if (answer.state === 'unavailable') return { tier: null, age_ms: null, stale: false };
  return { tier: answer.tier ?? null, age_ms: answer.fetchedAt === undefined || answer.fetchedAt === null ? null : ageAt(answer.fetchedAt, at), stale: answer.stale };
}

/** Whole milliseconds from `fetchedAt` to `at`; the clocks of two instances may differ a little: never below 0. */
function ageAt(fetchedAt: number, at: number): number {
  return Math.max(0, Math.round(at - fetchedAt));
}

/** Ranks as `worst` does (unavailable > stale > not_found), then the older (an unknown time counts as oldest). */
function weaker(a: Answer, b: Answer): Answer {
  const rank = (answer: Answer) => (answer.state === 'unavailable' ? 2 : answer.stale ? 1 : 0);
  if (rank(a) !== rank(b)) return rank(a) > rank(b) ? a : b;
  const at = (answer: Answer) => (answer.state === 'unavailable' ? null : (answer.fetchedAt ?? null));
  const timeA = at(a);
  const timeB = at(b);
  if (timeA === null) return a;
  if (timeB === null) return b;
  return timeA <= timeB ? a : b;
}

/**
 * The host group's answer: the one its fields came from (found by IP, else by hostname), else the weaker of
 * the lookups made (none without IP and hostname).
 */
function hostAnswer(ip: string | undefined, hostname: string | undefined, byIp: Resolution<Host>, byName: Resolution<Host>): Answer | null {
  if (ip !== undefined && byIp.state === 'found') return byIp;
  if (hostname !== undefined && byName.state === 'found') return byName;
  if (ip === undefined) return hostname === undefined ? null : byName;
  return hostname === undefined ? byIp : weaker(byIp, byName);
}

/** The host block from its resolutions (`byName` is read only when there is a hostname and byIp found none). */
function hostBlock(ip: string | undefined, hostname: string | undefined, byIp: Resolution<Host>, byName: Resolution<Host>, network: Resolution<Network>): Block<EnrichedHost> {
  let hostResolution: Resolution<Host> = byIp;
  let hostReason: MissingReason | undefined;
  if (byIp.state !== 'found') {
    hostReason = reasonOf(byIp);
    if (hostname !== undefined) {
      if (byName.state === 'found') {
        hostResolution = byName;
        hostReason = undefined;
      } else {
        hostReason = worst(hostReason, reasonOf(byName));
      }
    }
  }
  const missing: Missing = {};
  let incomplete = false;
  const value: EnrichedHost = { hostname: null, ip: ip ?? null, datacenter: null, environment: null, cost_center: null, zone: null };

  if (hostResolution.state === 'found') {
    const host = hostResolution.value;
    value.hostname = host.hostname;
    value.datacenter = host.datacenter;
    value.environment = host.environment;
    value.cost_center = host.costCenter;
    if (hostResolution.stale) {
      missing['host.hostname'] = missing['host.datacenter'] = missing['host.environment'] = missing['host.cost_center'] = 'stale';
      incomplete = true;
    }
  } else {
    const reason = hostReason ?? 'unavailable';
    incomplete = true;
    if (hostname === undefined) missing['host.hostname'] = reason;
    else value.hostname = hostname; // the log names itself; only its metadata is unknown
    missing['host.cost_center'] = reason;
    if (network.state === 'found') {
      value.datacenter = network.value.datacenter;
      value.environment = network.value.environment;
      if (network.stale) missing['host.datacenter'] = missing['host.environment'] = 'stale';
    } else {
      missing['host.datacenter'] = missing['host.environment'] = worst(reason, reasonOf(network));
    }
  }
  if (network.state === 'found') {
    value.zone = network.value.zone;
    if (network.stale) missing['host.zone'] = 'stale';
  } else {
    missing['host.zone'] = reasonOf(network);
  }
  const from = hostAnswer(ip, hostname, byIp, byName);
  return { value, missing: isEmpty(missing) ? undefined : missing, incomplete, from, networkFrom: ip === undefined ? null : network };
}

export function buildService(name: string, resolution: Resolution<Service>): Block<EnrichedService> {
  if (resolution.state === 'found') {
    const service = resolution.value;
    const value: EnrichedService = {
      name,
      team: service.team,
      owner: service.owner,
      tier: service.tier,
      version: service.version,
      cost_center: service.costCenter,
    };
    if (!resolution.stale) return { value, missing: undefined, incomplete: false, from: resolution };
    return { value, missing: serviceMissing('stale'), incomplete: true, from: resolution };
  }
  const value: EnrichedService = { name, team: null, owner: null, tier: null, version: null, cost_center: null };
  return { value, missing: serviceMissing(reasonOf(resolution)), incomplete: true, from: resolution };
}

function serviceMissing(reason: MissingReason): Missing {
  return {
    'service.team': reason,
    'service.owner': reason,
    'service.tier': reason,
    'service.version': reason,
    'service.cost_center': reason,
  };
}

function isEmpty(missing: Missing): boolean {
  for (const _ in missing) return false;
  return true;
}

/** Stage 5: complete → complete topic, anything else → partial topic. */
export function topicFor(status: EnrichmentStatus, topics: { complete: string; partial: string }): string {
  return status === 'complete' ? topics.complete : topics.partial;
}
