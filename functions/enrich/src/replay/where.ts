/**
 * `--where` of `npm run replay` (no I/O): which records of the range are replayed. Each `--where` is one
 * condition, and a record is replayed when it meets every one of them (AND):
 * - `missing=<reason>` (partial): some field of `enrichment.missing` has that reason (`not_found`,
 *   `unavailable`, `stale`): `missing=not_found` is "metadata that arrived late".
 * - `field=<field>` (partial): that field is in `enrichment.missing` (`host.datacenter`, `service.team`…),
 *   whatever the reason; `field=<field>:<reason>` with that reason.
 * - `reason=<reason>` (dead letters): the dead letter's reason (`invalid`, `undecodable`, `malformed`).
 * Unknown names, reasons or fields are refused: a filter that silently matches everything would replay a
 * whole topic.
 */
import { REQUIRED_FIELDS } from '../enriched-log.ts';

export const MISSING_REASONS = ['not_found', 'unavailable', 'stale'] as const;
export const DEAD_LETTER_REASONS = ['invalid', 'undecodable', 'malformed'] as const;
/** Fields `enrichment.missing` can name: the required ones and the informative `host.zone`. */
export const MISSING_FIELDS: readonly string[] = [...REQUIRED_FIELDS, 'host.zone'];

export type Condition =
  | { kind: 'missing'; reason: string }
  | { kind: 'field'; field: string; reason?: string }
  | { kind: 'reason'; reason: string };

/** What a condition is tested on: a partial event's `enrichment.missing`, or a dead letter's `reason`. */
export interface Subject {
  missing?: Readonly<Record<string, unknown>>;
  reason?: string;
}

/**
 * @throws Error naming the bad condition and what is accepted
 * @example
 * parseWhere(['missing=not_found']); // [{ kind: 'missing', reason: 'not_found' }]
 * parseWhere(['field=host.datacenter:unavailable']); // [{ kind: 'field', field: 'host.datacenter', reason: 'unavailable' }]
 */
export function parseWhere(conditions: readonly string[]): Condition[] {
  return conditions.map((text) => {
    const equals = text.indexOf('=');
    const name = equals < 0 ? text : text.slice(0, equals);
    const value = equals < 0 ? '' : text.slice(equals + 1);
    if (name === 'missing') return { kind: 'missing', reason: oneOf(text, value, MISSING_REASONS) };
    if (name === 'reason') return { kind: 'reason', reason: oneOf(text, value, DEAD_LETTER_REASONS) };
    if (name === 'field') {
      const [field = '', reason] = value.split(':');
      oneOf(text, field, MISSING_FIELDS);
      return reason === undefined ? { kind: 'field', field } : { kind: 'field', field, reason: oneOf(text, reason, MISSING_REASONS) };
    }
    throw new Error(`--where ${text}: give missing=<${MISSING_REASONS.join('|')}>, field=<field>[:<reason>] or reason=<${DEAD_LETTER_REASONS.join('|')}>`);
  });
}

/**
 * Every condition holds (no condition: every record matches).
 *
 * @example
 * matches(parseWhere(['missing=not_found']), { missing: { 'host.cost_center': 'not_found' } }); // true
 */
export function matches(conditions: readonly Condition[], subject: Subject): boolean {
  return conditions.every((condition) => {
    if (condition.kind === 'reason') return subject.reason === condition.reason;
    const missing = subject.missing ?? {};
    if (condition.kind === 'missing') return Object.values(missing).includes(condition.reason);
    if (!Object.hasOwn(missing, condition.field)) return false;
    return condition.reason === undefined || missing[condition.field] === condition.reason;
  });
}

function oneOf(text: string, value: string, allowed: readonly string[]): string {
  if (allowed.includes(value)) return value;
  throw new Error(`--where ${text}: "${value}" is not one of ${allowed.join(', ')}`);
}
