/**
 * The event an AWS Lambda Kafka event source mapping delivers (MSK: `aws:kafka`; self-managed:
 * `SelfManagedKafka`), checked at two levels:
 *
 * - the envelope (`KafkaEvent`): an event source and a `records` object whose every entry is an array. An event
 *   that fails this is not a Kafka event at all (a wiring error): the invocation fails.
 * - each record (`checkRecord`): coordinates, timestamp, key, value and headers, in one pass, by hand. A record
 *   that fails is returned as a `MalformedRecord` and dead-lettered on its own; it never fails the envelope,
 *   because one bad record failing the invocation would have the mapping retry the whole batch until it gives
 *   up, stalling every partition in it.
 *
 * The poller is a Java program: header bytes arrive as Java's signed `byte` (-128..127), so `é` (0xC3 0xA9) is
 * `[-61, -87]`. Both signed and unsigned bytes (-128..255) are accepted and decoded with `b & 0xff`.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { FieldProblem } from '#shared/errors.ts';

/** `[{ name: [bytes] }]`, one object per header in record order; a header whose value is null may arrive as `null`. */
export type KafkaHeaders = Record<string, number[] | null>[];

/** A record that passed `checkRecord`: every field has the type the poller documents. */
export interface KafkaEventRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: string;
  /** Base64; absent or null for a record without a key. */
  key?: string | null;
  /** Base64; absent or null for a tombstone (the decoder dead-letters it as empty). */
  value?: string | null;
  /** Absent or null (a producer's record without headers, as key and value may be null) means none. */
  headers?: KafkaHeaders | null;
}

/**
 * Checked without zod on purpose: zod copies every array and object it parses, and an array-of-record check
 * cost ~11 µs per record for one traceparent header, more than enriching the record. Entries are checked
 * record by record in `checkRecord` instead.
 */
function isRecordsMap(value: unknown): value is Record<string, unknown[]> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  for (const key in value) if (!Array.isArray((value as Record<string, unknown>)[key])) return false;
  return true;
}
const records = z.custom<Record<string, unknown[]>>(isRecordsMap, { message: 'must be an object of record arrays keyed "<topic>-<partition>"' });

export const KafkaEvent = z.discriminatedUnion('eventSource', [
  z.object({ eventSource: z.literal('aws:kafka'), eventSourceArn: z.string().min(1), bootstrapServers: z.string().optional(), records }),
  z.object({ eventSource: z.literal('SelfManagedKafka'), bootstrapServers: z.string().optional(), records }),
]);
/** The envelope; its records are unchecked until `checkRecord` (a `KafkaEventRecord[]` is assignable to it). */
export type KafkaEvent = z.infer<typeof KafkaEvent>;

/** Partial batch response (ReportBatchItemFailures); Kafka identifies an item by partition key and offset. */
export interface KafkaBatchItemFailure {
  itemIdentifier: { partition: string; offset: number };
}
export interface KafkaBatchResponse {
  batchItemFailures: KafkaBatchItemFailure[];
}

/** Where a record came from; `null` for what neither the record nor its records-map key could tell. */
export interface RecordCoordinates {
  topic: string | null;
  partition: number | null;
  offset: number | null;
  timestamp: number | null;
}

/** How logs and dead-letter keys name a record: `<topic>-<partition>@<offset>` (`?` for what is unknown). */
export function recordId(record: { topic: string | null; partition: number | null; offset: number | null }): string {
  return `${record.topic ?? '?'}-${record.partition ?? '?'}@${record.offset ?? '?'}`;
}

/**
 * A record that is not what the poller documents, with every problem found and whatever could still be read:
 * its coordinates (the partition and topic from the records-map key when the record's own are unusable), its
 * well-formed key/value/headers, and every other field exactly as received.
 */
export class MalformedRecord {
  readonly partitionKey: string;
  readonly problems: FieldProblem[];
  readonly source: RecordCoordinates;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: KafkaHeaders | null;
  /** The fields named in `problems`, as received (the whole record under `record` when it is not an object). */
  readonly malformed: Record<string, unknown>;
  readonly #raw: unknown;
  #id: string | undefined;

  constructor(partitionKey: string, raw: unknown, problems: FieldProblem[]) {
    this.partitionKey = partitionKey;
    this.problems = problems;
    this.#raw = raw;
    const fields = isPlainObject(raw) ? raw : {};
    const fromKey = parsePartitionKey(partitionKey);
    const topic = fields.topic;
    const partition = fields.partition;
    const offset = fields.offset;
    const timestamp = fields.timestamp;
    this.source = {
      topic: isTopic(topic) ? topic : (fromKey?.topic ?? null),
      partition: isCount(partition) ? partition : (fromKey?.partition ?? null),
      offset: isCount(offset) ? offset : null,
      timestamp: isTimestamp(timestamp) ? timestamp : null,
    };
    this.key = isBase64(fields.key) ? fields.key : null;
    this.value = isBase64(fields.value) ? fields.value : null;
    this.headers = headerProblem(fields.headers) === undefined && fields.headers !== undefined ? (fields.headers as KafkaHeaders) : null;
    this.malformed = {};
    if (!isPlainObject(raw)) this.malformed.record = raw;
    else for (const name of RECORD_FIELDS) if (problems.some((problem) => problemField(problem) === name) && name in raw) this.malformed[name] = raw[name];
  }

  /** Stable across redeliveries (same coordinates, or same bytes when the offset is unknown), distinct per record. */
  get id(): string {
    if (this.#id === undefined) {
      this.#id =
        this.source.offset !== null
          ? recordId(this.source)
          : `${recordId(this.source)}#${createHash('sha256').update(safeJson(this.#raw)).digest('hex').slice(0, 16)}`;
    }
    return this.#id;
  }
}

const RECORD_FIELDS = ['topic', 'partition', 'offset', 'timestamp', 'timestampType', 'key', 'value', 'headers'] as const;

/**
 * Checks one entry of `records["<topic>-<partition>"]` in one pass. Returns the entry itself (no copy) when it is
 * a well-formed record, else a `MalformedRecord` listing every problem (fields `record.<name>`).
 *
 * @example
 * const checked = checkRecord(event.records['raw-logs-0'][0], 'raw-logs-0');
 * if (checked instanceof MalformedRecord) deadLetters.push(malformedRecordMessage(checked, topic, now));
 * else decodeRecord(checked);
 */
export function checkRecord(raw: unknown, partitionKey: string): KafkaEventRecord | MalformedRecord {
  if (!isPlainObject(raw)) return new MalformedRecord(partitionKey, raw, [{ field: 'record', reason: 'must be an object' }]);
  const { topic, partition, offset, timestamp, timestampType, key, value, headers } = raw;
  // The common case: every check passes and nothing is allocated.
  if (
    isTopic(topic) &&
    isCount(partition) &&
    isCount(offset) &&
    isTimestamp(timestamp) &&
    typeof timestampType === 'string' &&
    (key === undefined || key === null || isBase64(key)) &&
    (value === undefined || value === null || isBase64Value(value)) &&
    (headers === undefined || headers === null || headerProblem(headers) === undefined)
  ) {
    return raw as unknown as KafkaEventRecord;
  }
  const problems: FieldProblem[] = [];
  if (!isTopic(topic)) problems.push(required(topic, 'record.topic', 'must be a non-empty string'));
  if (!isCount(partition)) problems.push(required(partition, 'record.partition', 'must be a non-negative integer'));
  if (!isCount(offset)) problems.push(required(offset, 'record.offset', 'must be a non-negative integer'));
  if (!isTimestamp(timestamp)) problems.push(required(timestamp, 'record.timestamp', 'must be epoch milliseconds (a finite number)'));
  if (typeof timestampType !== 'string') problems.push(required(timestampType, 'record.timestampType', 'must be a string'));
  const keyProblem = base64Problem(key);
  if (keyProblem !== undefined) problems.push({ field: 'record.key', reason: keyProblem });
  const valueProblem = base64Problem(value);
  if (valueProblem !== undefined) problems.push({ field: 'record.value', reason: valueProblem });
  const headersProblem = headers === undefined || headers === null ? undefined : headerProblem(headers);
  if (headersProblem !== undefined) problems.push(headersProblem);
  return new MalformedRecord(partitionKey, raw, problems);
}

/**
 * Decodes a record's header list (`[{name: [bytes]}]`) into strings; absent or empty → undefined. Bytes may be
 * signed (the poller's Java bytes) or unsigned: `Buffer.from(number[])` keeps `b & 0xff` of each, so `[122,-61,-87]`
 * and `[122,195,169]` both decode to "zé". A name repeated across entries (Kafka allows it) keeps the last value;
 * a null value decodes as "". The enrich path reads only the trace headers (./trace-context.ts, which decodes
 * those two alone); dead letters keep every header as received.
 *
 * @example
 * decodeHeaders([{ tenant: [122, -61, -87] }]); // { tenant: 'zé' }
 */
export function decodeHeaders(headers: KafkaEventRecord['headers']): Record<string, string> | undefined {
  if (headers === undefined || headers === null || headers.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const entry of headers) {
    for (const name in entry) {
      const bytes = entry[name];
      // A null header value (Kafka allows it) decodes as empty, as the local runner builds it.
      if (bytes !== undefined) out[name] = bytes === null ? '' : Buffer.from(bytes).toString('utf8');
    }
  }
  return out;
}

/**
 * Header bytes as the AWS poller sends them: Java's signed bytes, -128..127. For a local runner (or a test)
 * that builds the event from broker records and should look exactly like AWS.
 *
 * @example
 * toPollerHeaderBytes(Buffer.from('zé')); // [122, -61, -87]
 */
export function toPollerHeaderBytes(bytes: Uint8Array): number[] {
  return Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** The offset of an unchecked record, or undefined when it is not a usable offset. */
export function readOffset(raw: unknown): number | undefined {
  if (!isPlainObject(raw)) return undefined;
  const offset = raw.offset;
  return isCount(offset) ? offset : undefined;
}

/** `"raw-logs-0"` → `{ topic: "raw-logs", partition: 0 }` (topic names may contain dashes: the last one splits). */
export function parsePartitionKey(partitionKey: string): { topic: string; partition: number } | undefined {
  const dash = partitionKey.lastIndexOf('-');
  if (dash <= 0) return undefined;
  const digits = partitionKey.slice(dash + 1);
  if (!/^\d{1,10}$/.test(digits)) return undefined;
  const partition = Number(digits);
  return Number.isSafeInteger(partition) ? { topic: partitionKey.slice(0, dash), partition } : undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
function isTopic(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
function isTimestamp(value: unknown): value is number {
  // Kafka's "no timestamp" is -1, so negative values are allowed.
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Standard alphabet, padded, no whitespace: exactly what Java's Base64.getEncoder() (the poller) and
 * Buffer#toString('base64') write. Node's decoder silently skips anything else, turning a corrupt value into
 * different bytes, so it is checked first. `atob` is strict about the alphabet and padding and runs in native
 * code: ~60 ns for a 340-character log value where an anchored regex took ~680 ns, and that was the whole cost
 * of this check. It does skip ASCII whitespace, though, and then accepts unpadded input: checking the length
 * before it made `"abcd efg="` refused but `"ab cd e="` accepted. Whitespace is refused, always, in O(1): a
 * string of n characters with p padding characters decodes to exactly 3n/4 - p bytes when every character is
 * data, and to fewer when atob skipped any.
 */
function isBase64(value: unknown): value is string {
  return base64Bytes(value) !== undefined;
}

/** atob's bytes (one character per byte) of strict base64, else undefined. */
function base64Bytes(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length % 4 !== 0) return undefined;
  let decoded: string;
  try {
    decoded = atob(value);
  } catch {
    return undefined;
  }
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  return decoded.length === (value.length / 4) * 3 - padding ? decoded : undefined;
}

/**
 * The last record value `checkRecord` found to be base64, and its bytes: decoding the value follows checking
 * it (enrich-batch: checkRecord, then decodeRecord), and atob has already decoded it (a one-entry memo of a
 * pure function: `valueBytes` of any other string decodes it again).
 */
let checkedValue: string | undefined;
let checkedBytes = '';

function isBase64Value(value: unknown): value is string {
  const bytes = base64Bytes(value);
  if (bytes === undefined) return false;
  checkedValue = value as string;
  checkedBytes = bytes;
  return true;
}

/**
 * A record value's bytes, one character per byte (atob's "binary string"), or undefined when it is not strict
 * base64 (see isBase64).
 *
 * @example
 * valueBytes('aGk='); // 'hi'
 */
export function valueBytes(value: string): string | undefined {
  return value === checkedValue ? checkedBytes : base64Bytes(value);
}
function base64Problem(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return 'must be a base64 string or null';
  return isBase64(value) ? undefined : 'is not base64';
}

/** The first problem of a header list, or undefined when it is `[{ name: [bytes -128..255] }]`. */
function headerProblem(headers: unknown): FieldProblem | undefined {
  if (!Array.isArray(headers)) return { field: 'record.headers', reason: 'must be a list of { name: [bytes] } objects' };
  for (let i = 0; i < headers.length; i++) {
    const entry: unknown = headers[i];
    if (!isPlainObject(entry)) return { field: `record.headers[${i}]`, reason: 'must be a { name: [bytes] } object' };
    for (const name in entry) {
      const bytes = entry[name];
      // Kafka header values may be null: no reason to refuse a log (a null traceparent is only no trace).
      if (bytes === null) continue;
      if (!Array.isArray(bytes)) return { field: `record.headers[${i}].${name}`, reason: 'must be a list of bytes or null' };
      for (let b = 0; b < bytes.length; b++) {
        const byte: unknown = bytes[b];
        if (typeof byte !== 'number' || !Number.isInteger(byte) || byte < -128 || byte > 255) {
          return { field: `record.headers[${i}].${name}[${b}]`, reason: 'must be a byte (-128..255)' };
        }
      }
    }
  }
  return undefined;
}

function required(value: unknown, field: string, reason: string): FieldProblem {
  return { field, reason: value === undefined ? 'is required' : reason };
}

/** `record.headers[0].x[3]` → `headers`. */
function problemField(problem: FieldProblem): string {
  const rest = problem.field.startsWith('record.') ? problem.field.slice('record.'.length) : problem.field;
  const end = rest.search(/[.[]/);
  return end === -1 ? rest : rest.slice(0, end);
}

/** JSON of what was received; a bigint (from a runner that forgot `Number()`) must not throw on the dead-letter path. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item)) ?? 'undefined';
}
