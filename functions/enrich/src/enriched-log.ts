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
 */
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import type { RawLogRecord } from '#shared/schemas/log.ts';
import type { Resolution, ResolvedMetadata } from './ports.ts';

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
  ip: string;
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

export interface EnrichedLog extends Omit<RawLogRecord, 'service'> {
  schema_version: typeof SCHEMA_VERSION;
  host: EnrichedHost;
  service: EnrichedService;
  enrichment: { status: EnrichmentStatus; missing: Missing; enriched_at: string; latency_ms: number };
  source: { topic: string; partition: number; offset: number };
}

interface Block<T> {
  value: T;
  missing: Missing | undefined;
  /** Some REQUIRED field of this block is in `missing`. */
  incomplete: boolean;
  /** `value` as JSON, made once per batch when the block is first serialised. */
  json?: string;
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

  merge(log: RawLogRecord, source: { topic: string; partition: number; offset: number }): EnrichedLog {
    const host = this.#host(log.source_ip, log.hostname);
    const service = this.#service(log.service);
    let missing: Missing;
    if (host.missing === undefined) missing = service.missing ?? NO_MISSING;
    else if (service.missing === undefined) missing = host.missing;
    else missing = { ...host.missing, ...service.missing };
    const status: EnrichmentStatus = host.incomplete || service.incomplete ? 'partial' : 'complete';
    return {
      schema_version: SCHEMA_VERSION,
      ...log,
      host: host.value,
      service: service.value,
      enrichment: { status, missing, enriched_at: this.#enrichedAt, latency_ms: this.#latencyMs },
      source,
    };
  }

  /**
   * `JSON.stringify(this.merge(log, source))` with the same content (key order aside), built from fragments
   * serialised once per batch: the host and service blocks, the enrichment block of events with nothing
   * missing. Only the log itself is serialised per record. The top-level `"service":"<name>"` is the first
   * occurrence of that text in the log's JSON: `level` and `message` precede it and, being JSON strings,
   * cannot contain an unescaped quote.
   */
  serialize(log: RawLogRecord, source: { topic: string; partition: number; offset: number }): SerializedEnrichedLog {
    const host = this.#host(log.source_ip, log.hostname);
    const service = this.#service(log.service);
    host.json ??= JSON.stringify(host.value);
    service.json ??= JSON.stringify(service.value);
    const status: EnrichmentStatus = host.incomplete || service.incomplete ? 'partial' : 'complete';
    let enrichment: string;
    if (host.missing === undefined && service.missing === undefined) {
      if (this.#completeJson === undefined) this.#completeJson = this.#enrichmentJson('complete', NO_MISSING);
      enrichment = status === 'complete' ? this.#completeJson : this.#enrichmentJson(status, NO_MISSING);
    } else {
      enrichment = this.#enrichmentJson(status, host.missing === undefined ? (service.missing as Missing) : service.missing === undefined ? host.missing : { ...host.missing, ...service.missing });
    }
    const logJson = JSON.stringify(log);
    const serviceField = `"service":${JSON.stringify(log.service)}`;
    const at = logJson.indexOf(serviceField);
    const body = `${logJson.slice(1, at)}"service":${service.json}${logJson.slice(at + serviceField.length, -1)}`;
    const json = `{"schema_version":${SCHEMA_VERSION},${body},"host":${host.json},"enrichment":${enrichment},"source":{"topic":${JSON.stringify(source.topic)},"partition":${source.partition},"offset":${source.offset}}}`;
    return { status, json };
  }

  #completeJson: string | undefined;

  #enrichmentJson(status: EnrichmentStatus, missing: Missing): string {
    return JSON.stringify({ status, missing, enriched_at: this.#enrichedAt, latency_ms: this.#latencyMs });
  }

  #host(ip: string, hostname: string | undefined): Block<EnrichedHost> {
    const cacheKey = hostname === undefined ? ip : `${ip}\u0000${hostname}`;
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

export function buildHost(ip: string, hostname: string | undefined, metadata: ResolvedMetadata): Block<EnrichedHost> {
  const byIp: Resolution<Host> = metadata.hostsByIp.get(ip) ?? UNKNOWN;
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
  const network: Resolution<Network> = metadata.networks.get(ip) ?? UNKNOWN;
  const missing: Missing = {};
  let incomplete = false;
  const value: EnrichedHost = { hostname: null, ip, datacenter: null, environment: null, cost_center: null, zone: null };

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
