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
 */
import type { Host, Network, Service } from '#shared/metadata/model.ts';
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

export interface EnrichedLog extends Omit<LogEvent, 'service' | 'derived' | 'dropped_attributes'> {
  schema_version: typeof SCHEMA_VERSION;
  host: EnrichedHost;
  service: EnrichedService;
  enrichment: Enrichment;
  source: { topic: string; partition: number; offset: number };
}

/**
 * Every field of a LogEvent, each either written by `serialize` or moved into `enrichment`: adding a field to
 * the contract without serialising it fails the type check here instead of dropping it from every output.
 */
const SERIALIZED = ['level', 'message', 'service', 'source_ip', 'timestamp', 'hostname', 'trace_id', 'attributes', 'event_id', 'received_at', 'derived', 'dropped_attributes'] as const;
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
   * and that has nothing derived or dropped: the same for every such record of the batch.
   */
  enrichmentJson?: string;
}

/** An enriched event already serialised, and its status (for the branch). */
export interface SerializedEnrichedLog {
  status: EnrichmentStatus;
  json: string;
}

const NO_MISSING: Missing = Object.freeze({});
const UNKNOWN: Resolution<never> = Object.freeze({ state: 'unavailable' });

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
 * then shared by every record that has them (they are only serialised, never mutated).
 */
export class Merger {
  readonly #metadata: ResolvedMetadata;
  readonly #hosts = new Map<string, Block<EnrichedHost>>();
  readonly #services = new Map<string, Block<EnrichedService>>();
  readonly #enrichedAt: string;
  readonly #latencyMs: number;

  constructor(metadata: ResolvedMetadata, enrichedAt: string, latencyMs: number) {
    this.#metadata = metadata;
    this.#enrichedAt = enrichedAt;
    this.#latencyMs = latencyMs;
  }

  merge(log: LogEvent, source: { topic: string; partition: number; offset: number }): EnrichedLog {
    const host = this.#host(log.source_ip, log.hostname);
    const service = this.#service(log.service);
    let missing: Missing;
    if (host.missing === undefined) missing = service.missing ?? NO_MISSING;
    else if (service.missing === undefined) missing = host.missing;
    else missing = { ...host.missing, ...service.missing };
    const status: EnrichmentStatus = host.incomplete || service.incomplete ? 'partial' : 'complete';
    const { derived, dropped_attributes, ...fields } = log;
    return {
      schema_version: SCHEMA_VERSION,
      ...fields,
      host: host.value,
      service: service.value,
      enrichment: { status, missing, derived, dropped_attributes, enriched_at: this.#enrichedAt, latency_ms: this.#latencyMs },
      source,
    };
  }

  /**
   * `JSON.stringify(this.merge(log, source))` with the same content (key order aside), built from fragments
   * serialised once per batch: the host and service blocks, and the enrichment block of events with nothing
   * derived or dropped whose missing fields come from one block (or none). Per record only the log's own
   * values are serialised, field by field, so the service block is written in its place by construction (no
   * search in the log's JSON that could miss); `SERIALIZED` above makes a forgotten field a type error.
   */
  serialize(log: LogEvent, source: { topic: string; partition: number; offset: number }): SerializedEnrichedLog {
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
      host.enrichmentJson ??= this.#enrichmentJson(status, host.missing, log);
      enrichment = host.enrichmentJson;
    } else if (service.missing !== undefined) {
      service.enrichmentJson ??= this.#enrichmentJson(status, service.missing, log);
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
    if (log.attributes !== undefined) json += `,"attributes":${JSON.stringify(log.attributes)}`;
    json += `,"service":${service.json},"host":${host.json},"enrichment":${enrichment},"source":{"topic":${JSON.stringify(source.topic)},"partition":${source.partition},"offset":${source.offset}}}`;
    return { status, json };
  }

  #completeJson: string | undefined;

  #enrichmentJson(status: EnrichmentStatus, missing: Missing, log: LogEvent): string {
    return JSON.stringify({
      status,
      missing,
      derived: log.derived,
      dropped_attributes: log.dropped_attributes,
      enriched_at: this.#enrichedAt,
      latency_ms: this.#latencyMs,
    });
  }

  #host(ip: string | undefined, hostname: string | undefined): Block<EnrichedHost> {
    // IPs are never empty, so `\u0000name` (no IP) cannot collide with `ip\u0000name`.
    const cacheKey = hostname === undefined ? (ip as string) : `${ip ?? ''}\u0000${hostname}`;
    let block = this.#hosts.get(cacheKey);
    if (block === undefined) {
      block = buildHost(ip, hostname, this.#metadata);
      this.#hosts.set(cacheKey, block);
    }
    return block;
  }

  #service(name: string): Block<EnrichedService> {
    let block = this.#services.get(name);
    if (block === undefined) {
      block = buildService(name, this.#metadata.services.get(name) ?? UNKNOWN);
      this.#services.set(name, block);
    }
    return block;
  }
}

export function buildHost(ip: string | undefined, hostname: string | undefined, metadata: ResolvedMetadata): Block<EnrichedHost> {
  // Without an IP nothing was looked up by address: neither a host nor a network can match one.
  const byIp: Resolution<Host> = ip === undefined ? NOT_FOUND : (metadata.hostsByIp.get(ip) ?? UNKNOWN);
  let hostResolution: Resolution<Host> = byIp;
  let hostReason: MissingReason | undefined;
  if (byIp.state !== 'found') {
    hostReason = reasonOf(byIp);
    if (hostname !== undefined) {
      const byName: Resolution<Host> = metadata.hostsByName.get(hostname) ?? UNKNOWN;
      if (byName.state === 'found') {
        hostResolution = byName;
        hostReason = undefined;
      } else {
        hostReason = worst(hostReason, reasonOf(byName));
      }
    }
  }
  const network: Resolution<Network> = ip === undefined ? NOT_FOUND : (metadata.networks.get(ip) ?? UNKNOWN);
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
