/**
 * Stage 4 and 5: the enriched event (published as JSON Schema at layers/shared/schemas/enriched-log.v1.schema.json)
 * and which topic it goes to.
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
 */
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { LOG_LEVELS } from '#shared/schemas/log.ts';
import type { DerivedField, LogEvent } from './log-event.ts';
import { NOT_FOUND, type Resolution, type ResolvedMetadata } from './ports.ts';

export const SCHEMA_VERSION = 1;

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

export interface Enrichment {
  status: EnrichmentStatus;
  missing: Missing;
  /** Pipeline fields the raw record lacked, derived from its Kafka record (always present, often empty). */
  derived: readonly DerivedField[];
  /** Extra fields of the log that did not fit under `attributes` (always present, usually empty). */
  dropped_attributes: readonly string[];
  enriched_at: string;
  latency_ms: number;
}

export interface EnrichedLog extends Omit<LogEvent, 'service' | 'derived' | 'dropped_attributes' | 'origin'> {
  schema_version: typeof SCHEMA_VERSION;
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
}

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

  /** @param blocks the blocks of earlier batches (one cache per EnrichBatch); a new one by default. */
  constructor(metadata: ResolvedMetadata, enrichedAt: string, latencyMs: number, blocks: BlockCache = new BlockCache()) {
    this.#metadata = metadata;
    this.#blocks = blocks;
    this.#enrichedAt = enrichedAt;
    this.#latencyMs = latencyMs;
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
    const enriched = { schema_version: SCHEMA_VERSION, level: log.level, message: log.message, service: service.value } as EnrichedLog;
    if (log.source_ip !== undefined) enriched.source_ip = log.source_ip;
    enriched.timestamp = log.timestamp;
    if (log.hostname !== undefined) enriched.hostname = log.hostname;
    if (log.trace_id !== undefined) enriched.trace_id = log.trace_id;
    if (log.attributes !== undefined) enriched.attributes = log.attributes;
    enriched.event_id = log.event_id;
    enriched.received_at = log.received_at;
    enriched.host = host.value;
    enriched.enrichment = this.#enrichment(status, missing, log);
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
    // `level` is one of LOG_LEVELS (plain letters); every other string goes through JSON.stringify.
    let json = `{"schema_version":${SCHEMA_VERSION},"event_id":${JSON.stringify(log.event_id)},"level":"${log.level}","message":${JSON.stringify(log.message)}`;
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
    return {
      status,
      missing,
      derived: log.derived,
      dropped_attributes: log.dropped_attributes,
      enriched_at: this.#enrichedAt,
      latency_ms: this.#latencyMs,
    };
  }

  #host(ip: string | undefined, hostname: string | undefined): Block<EnrichedHost> {
    return this.#blocks.host(ip, hostname, this.#metadata);
  }

  #service(name: string): Block<EnrichedService> {
    return this.#blocks.service(name, this.#metadata);
  }
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
  return { value, missing: isEmpty(missing) ? undefined : missing, incomplete };
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
    if (!resolution.stale) return { value, missing: undefined, incomplete: false };
    return { value, missing: serviceMissing('stale'), incomplete: true };
  }
  const value: EnrichedService = { name, team: null, owner: null, tier: null, version: null, cost_center: null };
  return { value, missing: serviceMissing(reasonOf(resolution)), incomplete: true };
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
