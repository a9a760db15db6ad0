/**
 * The bulk use cases: import a CSV or NDJSON file of hosts, services or networks, and export every record of a
 * kind. The HTTP routes (`routes.ts`) and the CLI (`scripts/metadata.ts`) both call these, so a file behaves the
 * same whichever way it arrives; only the size limit is the HTTP path's own.
 *
 * Rules of an import:
 * - every row is validated with the schema of the single-record POST (`HostCreate`, `ServiceCreate`,
 *   `NetworkCreate`), each problem named by line, field and reason;
 * - a key (hostname, service name, CIDR; for hosts also the address) given on more than one line is a problem
 *   of every one of those lines, naming them all: which one was meant cannot be told, so none is applied;
 * - a host address held by another host already is that row's problem (the table allows one host per address);
 * - `all-or-nothing` (default): any problem and nothing is written; `upsert-valid`: the valid rows are written,
 *   the others reported. Either way the writes are one PostgreSQL transaction;
 * - a record already exactly so is not written again (its `updatedAt` stays);
 * - after the commit, ONE cache invalidation for the whole import, which bumps the metadata version once (and
 *   so every enrich instance drops its in-process cache at its next batch); none when nothing changed.
 */
import { canonicalIp } from '#shared/net/ip.ts';
import { zodProblems } from '#shared/schemas/problems.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { type CatalogContext, invalidateCache, RECORD_KINDS, type RecordKind } from './catalog.ts';
import {
  type BulkFormat,
  type BulkKind,
  csvHeader,
  exportLines,
  type ImportProblem,
  type ImportRow,
  parseImport,
} from './bulk-formats.ts';
import type { KindRecords, MetadataBulkStore } from './ports.ts';
import { HostCreate, NetworkCreate, ServiceCreate, toHost, toNetwork, toService } from './schemas.ts';

export type ImportMode = 'all-or-nothing' | 'upsert-valid';
export const IMPORT_MODES: readonly ImportMode[] = ['all-or-nothing', 'upsert-valid'];

export const BULK_LIMITS = {
  /**
   * The largest import body the HTTP route takes (bytes, as received). Lambda takes at most 6 MB for a
   * synchronous invocation, and the body travels JSON-escaped inside the API Gateway event (every `"` of an
   * NDJSON line or a quoted CSV cell gains a backslash): 4 MiB leaves that headroom. API Gateway's own 10 MB
   * is never reached. The CLI has no such limit.
   */
  importBytes: 4 * 1024 * 1024,
  /**
   * The largest export body one HTTP response carries, in bytes as the body travels: JSON-escaped inside the
   * buffered Lambda response (`sentBytes` in `routes.ts`: a quote-heavy CSV of tags is up to twice its raw
   * size), under Lambda's 6 MB response limit with room for the headers. A larger export is paged
   * (`nextCursor`, and a `Link: rel="next"` header).
   */
  exportBytes: 4 * 1024 * 1024,
  /** Problems listed in one report (the count of rejected rows is always complete). */
  reportedProblems: 1000,
  /** Records read from PostgreSQL per page of an export. */
  exportPage: 1000,
} as const;

export interface ImportReport {
  kind: BulkKind;
  mode: ImportMode;
  /** Records in the file (data rows or non-blank lines). */
  read: number;
  /** Valid records written or already so: created + updated + unchanged. 0 when the import was refused. */
  applied: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Records not applied because of a problem of their own. */
  rejected: number;
  /** The first `BULK_LIMITS.reportedProblems` problems, by line. */
  problems: ImportProblem[];
  /** Problems beyond those listed. */
  problemsOmitted: number;
  /** Whether anything was written: false when the mode or the file refused the whole import. */
  committed: boolean;
}

/** How one kind's rows become records: the single-record POST's schema and mapping. */
interface KindRules<T> {
  kind: RecordKind<T>;
  validate(input: unknown): { ok: true; record: T } | { ok: false; problems: { field: string; reason: string }[] };
  /** Unique values besides the key, each checked for repeats within the import (hosts: the address). */
  alsoUnique: { field: string; valueIn(record: T): string }[];
}

function rules<S extends typeof HostCreate | typeof ServiceCreate | typeof NetworkCreate, T>(
  schema: S,
  map: (input: ReturnType<S['parse']>) => T,
  kind: RecordKind<T>,
  alsoUnique: KindRules<T>['alsoUnique'] = [],
): KindRules<T> {
  return {
    kind,
    alsoUnique,
    validate: (input) => {
      const result = schema.safeParse(input);
      if (result.success) return { ok: true, record: map(result.data as ReturnType<S['parse']>) };
      const problems = zodProblems(result.error, input, { root: '(row)', notAnObject: 'must be an object', unknownKey: 'is not a known field' });
      return { ok: false, problems };
    },
  };
}

const RULES: { [K in BulkKind]: KindRules<KindRecords[K]> } = {
  hosts: rules(HostCreate, toHost, RECORD_KINDS.hosts, [{ field: 'ipAddress', valueIn: (host: Host) => canonicalIp(host.ipAddress) }]),
  services: rules(ServiceCreate, toService, RECORD_KINDS.services as RecordKind<Service>),
  networks: rules(NetworkCreate, toNetwork, RECORD_KINDS.networks as RecordKind<Network>),
};

export interface ImportRequest {
  kind: BulkKind;
  format: BulkFormat;
  text: string;
  mode: ImportMode;
}

/**
 * Import and export over one bulk store and one cache.
 *
 * @example
 * const bulk = new MetadataBulk(new PgMetadataBulkStore(pool), { invalidator, log, metrics });
 * const report = await bulk.import({ kind: 'hosts', format: 'csv', text, mode: 'all-or-nothing' });
 * for await (const page of bulk.export('hosts', 'ndjson')) for (const { line } of page) process.stdout.write(line);
 */
export class MetadataBulk {
  readonly #store: MetadataBulkStore;
  readonly #context: CatalogContext;

  constructor(store: MetadataBulkStore, context: CatalogContext) {
    this.#store = store;
    this.#context = context;
  }

  async import(request: ImportRequest): Promise<ImportReport> {
    const { kind, mode } = request;
    return this.#import(RULES[kind] as KindRules<KindRecords[typeof kind]>, request, mode);
  }

  async #import<T>(rules: KindRules<T>, request: ImportRequest, mode: ImportMode): Promise<ImportReport> {
    const parsed = parseImport(request.kind, request.format, request.text);
    const problems = [...parsed.problems];
    const valid = validRows(rules, parsed.rows, problems);
    const read = parsed.fatal ? 0 : parsed.rows.length + new Set(parsed.problems.map((problem) => problem.line)).size;
    const report = (committed: boolean, applied: T[] = [], created = 0, updated = 0): ImportReport => {
      const listed = [...problems].sort((a, b) => a.line - b.line);
      return {
        kind: request.kind,
        mode,
        read,
        applied: applied.length,
        created,
        updated,
        unchanged: applied.length - created - updated,
        rejected: new Set(problems.map((problem) => problem.line)).size,
        problems: listed.slice(0, BULK_LIMITS.reportedProblems),
        problemsOmitted: Math.max(0, listed.length - BULK_LIMITS.reportedProblems),
        committed,
      };
    };
    if (!parsed.fatal && read === 0) problems.push({ line: 1, field: '(body)', reason: 'holds no records' });
    if (parsed.fatal || read === 0 || (mode === 'all-or-nothing' && problems.length > 0)) return report(false);

    const outcome = await this.#store.transaction(async (transaction) => {
      let accepted = valid;
      if (request.kind === 'hosts') {
        accepted = await withoutTakenAddresses(transaction, valid as unknown as Valid<Host>[], problems) as unknown as Valid<T>[];
      }
      if (accepted.length === 0 || (mode === 'all-or-nothing' && problems.length > 0)) return undefined;
      const records = accepted.map((row) => row.record);
      const changes = await transaction.upsertMany(request.kind, records as unknown as KindRecords[BulkKind][]);
      return { records, changes: changes as { previous: T | undefined }[] };
    });
    if (outcome === undefined) return report(false);
    const { records, changes } = outcome;
    if (changes.length > 0) {
      // One invalidation for the whole import: every key an imported record may be cached under, and the
      // old ones of the records it replaced (a host that moved is cached under its old address too).
      const previous = changes.flatMap((change) => (change.previous === undefined ? [] : [change.previous]));
      await invalidateCache(this.#context, rules.kind.cacheEntries([...records, ...previous]));
    }
    const created = changes.filter((change) => change.previous === undefined).length;
    return report(true, records, created, changes.length - created);
  }

  /**
   * Every record of `kind`, in key order, page by page from one snapshot, as export lines (`line` ends in a line
   * break; CSV without its header: see `csvHeader`). Memory holds one page, whatever the table's size.
   *
   * @example
   * for await (const page of bulk.export('networks', 'csv', { after: '10.0.0.0/8' })) …
   */
  async *export(kind: BulkKind, format: BulkFormat, options: { after?: string } = {}): AsyncIterable<{ key: string; line: string }[]> {
    const keyOf = RECORD_KINDS[kind].keyOf as (record: object) => string;
    for await (const page of this.#store.pages(kind, BULK_LIMITS.exportPage, options.after)) {
      const lines = exportLines(kind, format, page);
      yield page.map((record, index) => ({ key: keyOf(record), line: lines[index] as string }));
    }
  }
}

export { csvHeader };

interface Valid<T> {
  line: number;
  record: T;
}

/** Rows that pass the schema and repeat no key; the others' problems are added to `problems`. */
function validRows<T>(rules: KindRules<T>, rows: readonly ImportRow[], problems: ImportProblem[]): Valid<T>[] {
  const valid: Valid<T>[] = [];
  for (const { line, input } of rows) {
    const result = rules.validate(input);
    if (result.ok) valid.push({ line, record: result.record });
    else for (const problem of result.problems) problems.push({ line, ...problem });
  }
  const unique = [{ field: rules.kind.keyField, valueIn: rules.kind.keyOf }, ...rules.alsoUnique];
  const repeated = new Set<number>();
  for (const { field, valueIn } of unique) {
    const lines = new Map<string, number[]>();
    for (const row of valid) {
      const value = valueIn(row.record);
      const seen = lines.get(value);
      if (seen === undefined) lines.set(value, [row.line]);
      else seen.push(row.line);
    }
    for (const [value, at] of lines) {
      if (at.length < 2) continue;
      for (const line of at) {
        repeated.add(line);
        const others = at.filter((other) => other !== line).join(', ');
        problems.push({ line, field, reason: `${JSON.stringify(value)} is also on line ${others}: each ${field} may appear once per import` });
      }
    }
  }
  return valid.filter((row) => !repeated.has(row.line));
}

/** Hosts whose address another (existing) host holds are refused with a problem; the rest are returned. */
async function withoutTakenAddresses(
  transaction: { hostsHoldingIps(ips: readonly string[]): Promise<Map<string, string>> },
  rows: Valid<Host>[],
  problems: ImportProblem[],
): Promise<Valid<Host>[]> {
  const holders = await transaction.hostsHoldingIps(rows.map((row) => canonicalIp(row.record.ipAddress)));
  return rows.filter(({ line, record }) => {
    const holder = holders.get(canonicalIp(record.ipAddress));
    if (holder === undefined || holder === record.hostname) return true;
    problems.push({
      line,
      field: 'ipAddress',
      reason: `${record.ipAddress} is registered to host ${JSON.stringify(holder)}: change or delete that host first`,
    });
    return false;
  });
}
