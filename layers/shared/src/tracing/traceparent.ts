/**
 * W3C Trace Context (`traceparent`, `tracestate`) and the X-Ray trace header it is derived from on AWS.
 * Parsing follows the spec's grammar: lowercase hex only, version `ff` refused, version 00 exactly four
 * fields, a later version read by its first four, trace id and parent id not all zeros. Anything else is "no
 * traceparent" (undefined), never an error: a header a client or producer got wrong must not cost its log.
 * A regex and a formatter are all the pipeline needs, so no tracing SDK is pulled in for them.
 */
import { randomBytes } from 'node:crypto';

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/** One position in a distributed trace: the trace, the span that is the parent of the next hop, and its sampled flag. */
export interface TraceContext {
  /** 32 lowercase hex characters, not all zeros. */
  traceId: string;
  /** 16 lowercase hex characters, not all zeros. */
  parentId: string;
  /** The caller may have recorded this trace (flag bit 0). */
  sampled: boolean;
}

/** The headers one hop passes on: always a `traceparent`, a `tracestate` only when one came with a valid traceparent. */
export interface TraceHeaders {
  traceparent: string;
  tracestate?: string;
}

const TRACEPARENT_PATTERN = /^(?!ff)([\da-f]{2})-((?![0]{32})[\da-f]{32})-((?![0]{16})[\da-f]{16})-([\da-f]{2})(-.*)?$/;
/** `Root=1-<8 hex epoch seconds>-<24 hex>`: the two parts joined are the W3C trace id. */
const XRAY_ROOT_PATTERN = /^1-([\da-f]{8})-([\da-f]{24})$/;
const SPAN_ID_PATTERN = /^(?![0]{16})[\da-f]{16}$/;
/** The spec asks vendors to pass on at least 512 characters; a longer or non-printable one is dropped whole. */
const TRACESTATE_MAX_CHARS = 512;

/** The longest trace header read at all (a later-version traceparent, a tracestate); longer ones are ignored. */
export const MAX_TRACE_HEADER_LENGTH = TRACESTATE_MAX_CHARS;
const TRACESTATE_PATTERN = /^[\x20-\x7e]*$/;

/**
 * @example
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
 * // { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', sampled: true }
 * parseTraceparent('00-4BF92F35…'); // undefined (upper case is not the spec's hex)
 */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (value === undefined || value.length > MAX_TRACE_HEADER_LENGTH) return undefined;
  const match = TRACEPARENT_PATTERN.exec(value.trim());
  if (match === null) return undefined;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  // Version 00 has exactly four fields; a later version may add fields after them, which are not ours to read.
  if (version === '00' && rest !== undefined) return undefined;
  return { traceId, parentId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

/** Version 00; flags other than `sampled` are written as zero, as the spec requires of version 00. */
export function formatTraceparent(context: TraceContext): string {
  return `00-${context.traceId}-${context.parentId}-${context.sampled ? '01' : '00'}`;
}

/** What an X-Ray trace header says; its parent is optional (a root alone still names the trace). */
export interface XRayTrace {
  traceId: string;
  parentId: string | undefined;
  sampled: boolean;
}

/**
 * The trace an X-Ray trace header names (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`,
 * as Lambda sets `_X_AMZN_TRACE_ID`): trace id = the root's two hex parts joined, parent = `Parent` when it is a
 * span id, sampled = `Sampled=1` (`0` and `?`, a deferred decision, are not). Undefined without a well-formed root.
 *
 * @example
 * parseXRayTraceHeader('Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1');
 * // { traceId: '5759e988bd862e3fe1be46a994272793', parentId: '53995c3f42cd8ad8', sampled: true }
 */
export function parseXRayTraceHeader(value: string | undefined): XRayTrace | undefined {
  if (value === undefined) return undefined;
  const fields = new Map<string, string>();
  for (const part of value.split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0) fields.set(part.slice(0, equals).trim().toLowerCase(), part.slice(equals + 1).trim());
  }
  const root = XRAY_ROOT_PATTERN.exec(fields.get('root') ?? '');
  if (root === null) return undefined;
  const traceId = `${root[1]}${root[2]}`;
  if (/^0+$/.test(traceId)) return undefined;
  const parent = fields.get('parent');
  return { traceId, parentId: isSpanId(parent) ? parent : undefined, sampled: fields.get('sampled') === '1' };
}

/** 16 lowercase hex characters, not all zeros: a span id as W3C and X-Ray write it. */
export function isSpanId(value: string | undefined): value is string {
  return value !== undefined && SPAN_ID_PATTERN.test(value);
}

/**
 * Random bytes for ids, drawn from the CSPRNG a block at a time (as Node's own `randomUUID` does): one
 * `randomBytes` call per id is a system call, and ingest takes two ids per request (its span, and a trace id
 * when the client sent none), which the request profile showed at ~25 µs per request.
 */
const RANDOM_BLOCK_BYTES = 4096;
let randomBlock = Buffer.alloc(0);
let randomOffset = 0;

function randomHex(bytes: number): string {
  if (randomOffset + bytes > randomBlock.length) {
    randomBlock = randomBytes(RANDOM_BLOCK_BYTES);
    randomOffset = 0;
  }
  const hex = randomBlock.toString('hex', randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return hex;
}

/** A random span id (8 bytes, never all zeros). */
export function newSpanId(): string {
  const id = randomHex(8);
  return id === '0000000000000000' ? newSpanId() : id;
}

/** A random trace id (16 bytes, never all zeros). */
export function newTraceId(): string {
  const id = randomHex(16);
  return /^0+$/.test(id) ? newTraceId() : id;
}

/** A `tracestate` worth passing on: printable ASCII of at most 512 characters, not blank. */
export function validTracestate(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > TRACESTATE_MAX_CHARS || !TRACESTATE_PATTERN.test(trimmed)) return undefined;
  return trimmed;
}

/** What arrived with a request: its headers (any may be absent or invalid) and the X-Ray header of the invocation. */
export interface IncomingTrace {
  traceparent?: string;
  tracestate?: string;
  xray?: string;
}

/**
 * The trace context of the next hop, for a service that takes part in the trace (W3C "participation mode"):
 * - a valid incoming `traceparent` is continued: same trace id and sampled flag, `spanId` as the new parent, its
 *   `tracestate` passed on;
 * - else the X-Ray trace of the invocation: the root as trace id, `spanId` as parent, X-Ray's sampled decision;
 * - else a new trace (random trace id, `spanId`, not sampled: nobody recorded it).
 * An invalid `traceparent` is ignored, and its `tracestate` with it (the spec's rule).
 *
 * @example
 * continueTrace({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, 'b7ad6b7169203331');
 * // { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01' }
 */
export function continueTrace(incoming: IncomingTrace, spanId: string): TraceHeaders {
  const parent = parseTraceparent(incoming.traceparent);
  if (parent !== undefined) {
    const traceparent = formatTraceparent({ ...parent, parentId: spanId });
    const tracestate = validTracestate(incoming.tracestate);
    return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
  }
  const xray = parseXRayTraceHeader(incoming.xray);
  if (xray !== undefined) return { traceparent: formatTraceparent({ traceId: xray.traceId, parentId: spanId, sampled: xray.sampled }) };
  return { traceparent: formatTraceparent({ traceId: newTraceId(), parentId: spanId, sampled: false }) };
}

/**
 * The trace context a service passes on unchanged (W3C "forwarding mode"): the `traceparent` exactly as it
 * came when it is valid, with its `tracestate`; nothing when it is absent or invalid.
 */
export function forwardTrace(incoming: Omit<IncomingTrace, 'xray'>): TraceHeaders | undefined {
  if (incoming.traceparent === undefined || parseTraceparent(incoming.traceparent) === undefined) return undefined;
  const traceparent = incoming.traceparent.trim();
  const tracestate = validTracestate(incoming.tracestate);
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}
