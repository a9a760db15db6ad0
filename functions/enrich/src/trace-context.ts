/**
 * The W3C trace context a raw record arrived with, for its outputs. Ingest writes `traceparent` (and a client's
 * `tracestate`) on every record; other producers (Fluent Bit, OpenTelemetry collectors) may or may not. Enrich
 * forwards it unchanged (the spec's forwarding mode: it records no span of its own that a trace could point
 * to), on complete, partial and dead-letter outputs alike. An absent or invalid `traceparent` means no trace
 * headers on the outputs, never a failed record. Header names are matched in any case, as the spec asks.
 */
import type { OutgoingMessage } from '#shared/kafka/publisher.ts';
import { forwardTrace, MAX_TRACE_HEADER_LENGTH, TRACEPARENT, TRACESTATE, type TraceHeaders } from '#shared/tracing/traceparent.ts';
import type { KafkaHeaders } from './kafka-event.ts';

/**
 * Reads only the two trace headers; a name repeated across entries keeps its last value (as `decodeHeaders`).
 *
 * @example
 * forwardedTrace([{ traceparent: [...Buffer.from('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')] }]);
 * // { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }
 */
export function forwardedTrace(headers: KafkaHeaders | null | undefined): TraceHeaders | undefined {
  if (headers === undefined || headers === null) return undefined;
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  for (const entry of headers) {
    for (const name in entry) {
      if (name === TRACEPARENT) traceparent = printable(entry[name]);
      else if (name === TRACESTATE) tracestate = printable(entry[name]);
      else if (name.length === TRACEPARENT.length && name.toLowerCase() === TRACEPARENT) traceparent = printable(entry[name]);
      else if (name.length === TRACESTATE.length && name.toLowerCase() === TRACESTATE) tracestate = printable(entry[name]);
    }
  }
  return traceparent === undefined ? undefined : forwardTrace({ traceparent, tracestate });
}

/**
 * The header's bytes as text when every one is printable ASCII, which both headers must be (anything else would
 * be refused by their grammar anyway); undefined otherwise. Cheaper than a UTF-8 decode on every record.
 */
function printable(bytes: number[] | null | undefined): string | undefined {
  // Neither header may be longer (traceparent is 55 characters in version 00, tracestate at most 512); a
  // foreign producer's huge header must not reach fromCharCode.apply, which throws past ~100k arguments.
  if (bytes === null || bytes === undefined || bytes.length > MAX_TRACE_HEADER_LENGTH) return undefined;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (byte < 0x20 || byte > 0x7e) return undefined;
  }
  return String.fromCharCode.apply(null, bytes);
}

/**
 * `message` with the trace headers added (none when there is no trace). `forwardTrace` builds its headers with
 * no undefined member, so a message without headers of its own needs no merge.
 */
export function withTrace(message: OutgoingMessage, trace: TraceHeaders | undefined): OutgoingMessage {
  if (trace === undefined) return message;
  return { ...message, headers: message.headers === undefined ? { ...trace } : { ...message.headers, ...trace } };
}
