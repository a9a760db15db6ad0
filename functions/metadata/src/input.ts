/**
 * Turning the parts of an API Gateway request (body, query string, path parameters, cursors) into
 * validated values, or a `ValidationError` whose problems name the field and the reason.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { z } from 'zod';
import { ValidationError } from '#shared/errors.ts';
import { zodProblems } from '#shared/schemas/problems.ts';

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
  throw new ValidationError(
    zodProblems(result.error, input, {
      root: source,
      notAnObject: 'must be a JSON object',
      unknownKey: source === 'query' ? 'is not a known query parameter' : 'is not a known field',
    }),
  );
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
