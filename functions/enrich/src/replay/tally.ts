/**
 * How `npm run replay` counts what it reads, and which records it sends (no I/O). Each record read from the
 * range is counted ONCE, in exactly one of three, so that `read = matched + unmatched + Σ skipped`:
 * - matched: `--where` selected it and something of it is new to this replay (a record to send, one to read
 *   back from its source topic, or an unrecoverable one: selected, but it cannot be sent);
 * - unmatched: `--where` tested it and did not select it;
 * - skipped (by reason): nothing of it could be tested or sent (not JSON, not an event or a dead letter…), or
 *   all of it is already in this replay (the partial output of an earlier replay, an on-failure document
 *   of a batch retried twice): `already in this replay`.
 * A record of many plans (an on-failure document's records, an OTLP partial's logs) is matched when any plan
 * is new; its plans already taken are not sent twice (they are sent, so nothing is lost) and not counted
 * apart. The three never count by log or by plan: what the matched records came to is `records` (sent),
 * `readBack` and `unrecoverable` (which also counts a record the read back could not find).
 */
import { createHash } from 'node:crypto';
import type { KafkaEventRecord } from '../kafka-event.ts';
import type { Coordinates, Plan } from './rebuild.ts';

export const ALREADY = 'already in this replay';

export class Tally {
  read = 0;
  matched = 0;
  unmatched = 0;
  readonly skipped: Record<string, number> = {};
  /** By reason; a selected record, or (counted by the caller) one the read back could not find. */
  readonly unrecoverable: Record<string, number> = {};
  /** Records to read back whole from their source topic after the range, each once, by coordinates. */
  readonly rereads = new Map<string, Coordinates>();
  /** Coordinates and value of each record taken to send: the range may hold one twice. */
  private readonly sent = new Set<string>();

  /**
   * Counts one record read, from its plans (rebuild.ts `plan`).
   *
   * @returns the records to send through enrich now (new ones only); rereads are kept in `rereads`
   * @example
   * const tally = new Tally();
   * for (const record of tally.add(plan('dlq', message, where))) pending.push(record);
   */
  add(plans: readonly Plan[]): KafkaEventRecord[] {
    this.read++;
    const records: KafkaEventRecord[] = [];
    const unrecoverable: string[] = [];
    let skipped: string | undefined;
    let rereads = 0;
    for (const each of plans) {
      if (each.kind === 'unmatched') continue;
      if (each.kind === 'skip') skipped ??= each.why;
      else if (each.kind === 'unrecoverable') unrecoverable.push(each.why);
      else if (each.kind === 'reread') {
        const key = coordinatesKey(each.source);
        if (this.rereads.has(key)) skipped ??= ALREADY;
        else {
          this.rereads.set(key, each.source);
          rereads++;
        }
      } else {
        const key = `${coordinatesKey(each.record)}/${createHash('sha1').update(each.record.value ?? '').digest('hex')}`;
        if (this.sent.has(key)) skipped ??= ALREADY;
        else {
          this.sent.add(key);
          records.push(each.record);
        }
      }
    }
    for (const why of unrecoverable) count(this.unrecoverable, why);
    if (records.length > 0 || rereads > 0 || unrecoverable.length > 0) this.matched++;
    else if (skipped !== undefined) count(this.skipped, skipped);
    else this.unmatched++;
    return records;
  }
}

export function count(bucket: Record<string, number>, why: string): void {
  bucket[why] = (bucket[why] ?? 0) + 1;
}

export function coordinatesKey(record: Coordinates): string {
  return `${record.topic}/${record.partition}/${record.offset}`;
}
