/**
 * OTLP read the way a Collector reads it, independently of the pipeline's own code: protobufjs loads the
 * official .proto text vendored in layers/shared/proto (not the Protobuf-ES types generated from it, which
 * the encoder uses), so a test that decodes the pipeline's output here checks it against the definitions
 * themselves.
 *
 * - `decodeOtlpProto(bytes)`: an `ExportLogsServiceRequest` as a plain object in the OTLP/JSON form: keys
 *   lowerCamelCase, 64-bit integers as decimal strings, enums as numbers, bytes as base64 except trace and
 *   span ids, which are hex; a field left at its default is absent (as neither encoding writes it). So the
 *   otlp_json output of a log must equal, once parsed, the decoded otlp_proto output of the same log.
 * - `otlpJsonProblems(value)`: what breaks the OTLP/JSON encoding rules in a parsed otlp_json value, walking it
 *   with the .proto's field types (OTLP specification, "JSON Protobuf Encoding"): keys are the fields'
 *   lowerCamelCase names, never the proto names; traceId and spanId are hex (case-insensitive), of 16 and 8
 *   bytes (or empty), never base64; enums are integers, never names; 64-bit integers are decimal strings
 *   (the issue asks for them as strings, which is how proto3 JSON writes them) within their type's range
 *   (a time after 2554-07-21T23:34:33.709551615Z is no fixed64); other bytes are base64; a
 *   oneof (AnyValue) holds at most one member. An unknown key is a problem too: a receiver ignores it, so a
 *   value we meant to send would be lost.
 *
 * - `encodedResources(bytes)`: each resource's bytes as written, to compare two outputs' resources byte for byte.
 *
 * @example
 * const request = decodeOtlpProto(value);
 * const resource = attributesOf(request.resourceLogs?.[0]?.resource?.attributes);
 * expect(resource['host.name']).toEqual({ stringValue: 'web-01' });
 * expect(otlpJsonProblems(JSON.parse(json))).toEqual([]);
 */
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { REPO_ROOT } from '../../infra/cdk/lib/paths.ts';

export const PROTO_DIR = join(REPO_ROOT, 'layers/shared/proto');
const REQUEST = 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest';
/** The OTLP fields that hold trace and span ids, and their sizes in bytes. */
const ID_BYTES: Readonly<Record<string, number>> = { traceId: 16, spanId: 8, parentSpanId: 8 };

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number | string;
  bytesValue?: string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}
export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
export interface OtlpLogRecord {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  body?: OtlpAnyValue;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
  flags?: number;
  traceId?: string;
  spanId?: string;
  eventName?: string;
}
export interface OtlpScope {
  name?: string;
  version?: string;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
}
export interface OtlpRequest {
  resourceLogs?: {
    resource?: { attributes?: OtlpKeyValue[]; droppedAttributesCount?: number };
    schemaUrl?: string;
    scopeLogs?: { scope?: OtlpScope; schemaUrl?: string; logRecords?: OtlpLogRecord[] }[];
  }[];
}

let loaded: protobuf.Type | undefined;

/** ExportLogsServiceRequest from the vendored .proto text (its imports resolved in the same folder). */
export function requestType(): protobuf.Type {
  if (loaded !== undefined) return loaded;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('opentelemetry/proto/collector/logs/v1/logs_service.proto');
  root.resolveAll();
  loaded = root.lookupType(REQUEST);
  return loaded;
}

/** An otlp_proto value as a plain object in the OTLP/JSON form (module comment). */
export function decodeOtlpProto(bytes: Uint8Array): OtlpRequest {
  const type = requestType();
  const object = type.toObject(type.decode(bytes), { longs: String, enums: Number, bytes: String, defaults: false, json: true });
  return hexIds(object) as OtlpRequest;
}

/**
 * The bytes of each ResourceLogs' resource exactly as the value holds them (field 1 of each field 1), read with
 * protobufjs's wire reader after the whole value decodes: two outputs whose resources a Collector would
 * merge have byte-identical ones.
 */
export function encodedResources(bytes: Uint8Array): Buffer[] {
  requestType().decode(bytes);
  return fieldBytes(bytes, 1).flatMap((resourceLogs) => fieldBytes(resourceLogs, 1));
}

/** Every length-delimited occurrence of `field` in a message's bytes. */
function fieldBytes(bytes: Uint8Array, field: number): Buffer[] {
  const reader = protobuf.Reader.create(bytes);
  const found: Buffer[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === field && (tag & 7) === 2) found.push(Buffer.from(reader.bytes()));
    else reader.skipType(tag & 7);
  }
  return found;
}

/** Every trace and span id (base64 as protobufjs writes bytes) as hex. */
function hexIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hexIds);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    out[key] = key in ID_BYTES && typeof member === 'string' ? Buffer.from(member, 'base64').toString('hex') : hexIds(member);
  }
  return out;
}

/** A list of attributes by key (a repeated key would hide the first: `keysOf` shows repeats). */
export function attributesOf(attributes: readonly OtlpKeyValue[] | undefined): Record<string, OtlpAnyValue | undefined> {
  return Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, value]));
}

export function keysOf(attributes: readonly OtlpKeyValue[] | undefined): string[] {
  return (attributes ?? []).map(({ key }) => key);
}

/** The one log of a one-log request, with its resource and scope (throws when it holds another number). */
export function onlyLog(request: OtlpRequest): {
  resource: Record<string, OtlpAnyValue | undefined>;
  resourceKeys: string[];
  resourceSchemaUrl: string | undefined;
  scope: OtlpScope | undefined;
  scopeSchemaUrl: string | undefined;
  record: OtlpLogRecord;
  attributes: Record<string, OtlpAnyValue | undefined>;
} {
  const resourceLogs = request.resourceLogs ?? [];
  const scopeLogs = resourceLogs[0]?.scopeLogs ?? [];
  const records = scopeLogs[0]?.logRecords ?? [];
  const [record] = records;
  if (resourceLogs.length !== 1 || scopeLogs.length !== 1 || records.length !== 1 || record === undefined) {
    throw new Error(`expected one resource, one scope, one log record: ${JSON.stringify(request)}`);
  }
  return {
    resource: attributesOf(resourceLogs[0]?.resource?.attributes),
    resourceKeys: keysOf(resourceLogs[0]?.resource?.attributes),
    resourceSchemaUrl: resourceLogs[0]?.schemaUrl,
    scope: scopeLogs[0]?.scope,
    scopeSchemaUrl: scopeLogs[0]?.schemaUrl,
    record,
    attributes: attributesOf(record.attributes),
  };
}

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
/** A decoder reads a 64-bit integer beyond its type's range as other digits (protobufjs wraps 2^64 + n to n). */
const inRange = (value: bigint, unsigned: boolean) => (unsigned ? value >= 0n && value < 2n ** 64n : value >= -(2n ** 63n) && value < 2n ** 63n);
const INT32 = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$|^[A-Za-z0-9_-]*={0,2}$/;

/**
 * What breaks the OTLP/JSON rules in `value` (a parsed otlp_json ExportLogsServiceRequest), each as
 * `<path>: <problem>`; empty when it follows them.
 *
 * @example
 * otlpJsonProblems({ resourceLogs: [{ scope_logs: [] }] }); // ['resourceLogs[0].scope_logs: a proto field name: OTLP/JSON keys are lowerCamelCase (scopeLogs)']
 */
export function otlpJsonProblems(value: unknown): string[] {
  const problems: string[] = [];
  checkMessage(value, requestType(), '(request)', problems);
  return problems;
}

function checkMessage(value: unknown, type: protobuf.Type, path: string, problems: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${path}: must be a JSON object (${type.name})`);
    return;
  }
  const at = (key: string) => (path === '(request)' ? key : `${path}.${key}`);
  for (const [key, member] of Object.entries(value)) {
    const field = type.fields[key];
    if (field === undefined) {
      const camel = key.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
      problems.push(
        type.fields[camel] === undefined
          ? `${at(key)}: not a field of ${type.name}`
          : `${at(key)}: a proto field name: OTLP/JSON keys are lowerCamelCase (${camel})`,
      );
      continue;
    }
    if (member === null) continue; // proto3 JSON: null is the field's default
    if (field.repeated) {
      if (!Array.isArray(member)) problems.push(`${at(key)}: a repeated field must be an array`);
      else for (const [i, item] of member.entries()) checkField(item, field, `${at(key)}[${i}]`, problems);
    } else {
      checkField(member, field, at(key), problems);
    }
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => (value as Record<string, unknown>)[name] !== undefined);
    if (set.length > 1) problems.push(`${path}: one of ${oneof.name} only, found ${set.join(', ')}`);
  }
}

function checkField(value: unknown, field: protobuf.Field, path: string, problems: string[]): void {
  const resolved = field.resolve().resolvedType;
  if (resolved instanceof protobuf.Type) {
    checkMessage(value, resolved, path, problems);
  } else if (resolved instanceof protobuf.Enum) {
    if (typeof value !== 'number' || !Number.isInteger(value)) problems.push(`${path}: an enum must be an integer, not ${JSON.stringify(value)}`);
  } else if (field.type === 'bytes') {
    const size = ID_BYTES[field.name];
    if (typeof value !== 'string') problems.push(`${path}: bytes must be a string`);
    else if (size !== undefined) {
      if (value !== '' && !new RegExp(`^[0-9a-fA-F]{${2 * size}}$`).test(value)) problems.push(`${path}: must be ${2 * size} hex digits (not base64): ${JSON.stringify(value)}`);
    } else if (!BASE64.test(value)) problems.push(`${path}: bytes must be base64: ${JSON.stringify(value)}`);
  } else if (INT64.has(field.type)) {
    const unsigned = field.type.startsWith('u') || field.type === 'fixed64';
    if (typeof value !== 'string') problems.push(`${path}: a 64-bit integer must be a decimal string, not ${JSON.stringify(value)}`);
    else if (!(unsigned ? /^\d+$/ : /^-?\d+$/).test(value)) problems.push(`${path}: not a decimal ${field.type}: ${JSON.stringify(value)}`);
    else if (!inRange(BigInt(value), unsigned)) problems.push(`${path}: out of the range of ${field.type}: ${JSON.stringify(value)}`);
  } else if (INT32.has(field.type)) {
    if (typeof value !== 'number' || !Number.isInteger(value)) problems.push(`${path}: a ${field.type} must be an integer number, not ${JSON.stringify(value)}`);
  } else if (field.type === 'double' || field.type === 'float') {
    if (typeof value !== 'number' && !['NaN', 'Infinity', '-Infinity'].includes(value as string)) problems.push(`${path}: a ${field.type} must be a number`);
  } else if (field.type === 'bool') {
    if (typeof value !== 'boolean') problems.push(`${path}: must be true or false`);
  } else if (field.type === 'string') {
    if (typeof value !== 'string') problems.push(`${path}: must be a string`);
  } else {
    problems.push(`${path}: unchecked field type ${field.type}`);
  }
}
