/**
 * Turning the parts of an API Gateway request (body, query string, path parameters, cursors) into
 * validated values, or a `ValidationError` whose problems name the field and the reason.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { z } from 'zod';
import { type FieldProblem, ValidationError } from '#shared/errors.ts';

type Source = 'body' | 'query';

/**
 * Parses `input` with `schema`, or throws a 422 listing every problem.
 *
 * @example
 * const query = parseInput(ServiceListQuery, event.queryStringParameters ?? {}, 'query');
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, source: Source): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(problemsOf(result.error, input, source));
}

/** Validates one value (a path parameter or a cursor's key) as `field`; the first problem is the reason. */
export function parseValue<S extends z.ZodType>(schema: S, value: unknown, field: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError([{ field, reason: result.error.issues[0]?.message ?? 'is not valid' }]);
}

/**
 * A path parameter, percent-decoded. API Gateway REST passes `event.path` still encoded, so a CIDR's
 * `%2F` reaches the router as such; a parameter it decoded already holds no `%` and decodes to itself.
 */
export function pathParameter(event: APIGatewayProxyEvent, name: string): string {
  const raw = event.pathParameters?.[name];
  if (raw === undefined) throw new ValidationError([{ field: name, reason: 'is required in the path' }]);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ValidationError([{ field: name, reason: 'is not valid percent-encoding' }]);
  }
}

/** The opaque `nextCursor` for a keyset page that continues after `key`. */
export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

/** The key a cursor continues after, validated with the record's key schema (so it is safe to bind). */
export function decodeCursor<S extends z.ZodType>(cursor: string, key: S): z.output<S> {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const result = key.safeParse(decoded);
  // Re-encoding catches text that is not base64url at all (Buffer.from skips what it cannot read).
  if (!result.success || encodeCursor(decoded) !== cursor) {
    throw new ValidationError([{ field: 'cursor', reason: 'is not a cursor returned by this API' }]);
  }
  return result.data;
}

function problemsOf(error: z.ZodError, input: unknown, source: Source): FieldProblem[] {
  return error.issues.flatMap((issue): FieldProblem[] => {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const reason = source === 'query' ? 'is not a known query parameter' : 'is not a known field';
      return issue.keys.map((key) => ({ field: field === '' ? key : `${field}.${key}`, reason }));
    }
    if (issue.path.length === 0) {
      return [{ field: source, reason: issue.code === 'invalid_type' ? 'must be a JSON object' : issue.message }];
    }
    if (issue.code === 'invalid_key') {
      return [{ field, reason: `is not a valid key: it ${issue.issues[0]?.message ?? 'is not valid'}` }];
    }
    return [{ field, reason: valueAt(input, issue.path) === undefined ? 'is required' : issue.message }];
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
