/**
 * zod issues as field problems a client can act on: the one mapper for every input the functions validate
 * (a log at ingest or on `raw-logs`, a Kafka event envelope, a metadata body, query string or path).
 */
import type { z } from 'zod';
import type { FieldProblem } from '../errors.ts';

/** How to name what an issue's path does not: the input itself, and the record's place in a batch. */
export interface ProblemContext {
  /** The field an issue about the whole input names: `(record)` unless told (`body`, `query`). */
  root?: string;
  /** The reason when the whole input has the wrong type; zod's own message unless told. */
  notAnObject?: string;
  /** The reason for a key a strict object does not know; zod's own message unless told. */
  unknownKey?: string;
  /** The record's position in a batch, copied onto every problem. */
  index?: number;
}

/**
 * @example
 * const result = HostCreate.safeParse(body);
 * if (!result.success) throw new ValidationError(zodProblems(result.error, body, { root: 'body' }));
 * // [{ field: 'datacenter', reason: 'is required' }, { field: 'ip_address', reason: 'is not a known field' }, …]
 */
export function zodProblems(error: z.ZodError, input: unknown, context: ProblemContext = {}): FieldProblem[] {
  const { root = '(record)', index } = context;
  const at = (field: string, reason: string): FieldProblem => (index === undefined ? { field, reason } : { field, reason, index });
  return error.issues.flatMap((issue): FieldProblem[] => {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => at(field === '' ? key : `${field}.${key}`, context.unknownKey ?? issue.message));
    }
    if (issue.path.length === 0) {
      return [at(root, issue.code === 'invalid_type' ? (context.notAnObject ?? issue.message) : issue.message)];
    }
    if (issue.code === 'invalid_key') {
      return [at(field, `is not a valid key: it ${issue.issues[0]?.message ?? 'is not valid'}`)];
    }
    // A missing field fails whichever check comes first (type, union, enum): say what the client must fix.
    // A custom rule (a timestamp, the origin rule, host bits in a CIDR) says it better itself.
    const missing = issue.code !== 'custom' && valueAt(input, issue.path) === undefined;
    return [at(field, missing ? 'is required' : issue.message)];
  });
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
