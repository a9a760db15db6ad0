import { createHash, timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import {
  ForbiddenError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.ts';

/** Header lookup that ignores case (API Gateway passes headers as the client sent them). */
export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** The media type of the request without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(event: APIGatewayProxyEvent): string | undefined {
  return header(event, 'content-type')?.split(';')[0]?.trim().toLowerCase();
}

/** The raw body as bytes (base64-decoded when API Gateway encoded it), refusing more than `maxBytes` with 413. */
export function bodyBytes(event: APIGatewayProxyEvent, maxBytes: number): Buffer {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > maxBytes) {
    throw new PayloadTooLargeError(`request body is ${bytes.length} bytes; the limit is ${maxBytes} bytes`, maxBytes);
  }
  return bytes;
}

/** The raw body as text, refusing bodies larger than `maxBytes` with 413. */
export function bodyText(event: APIGatewayProxyEvent, maxBytes: number): string {
  return bodyBytes(event, maxBytes).toString('utf8');
}

/** Parses a JSON body, requiring `application/json` (415 otherwise) and valid JSON (400 otherwise). */
export function jsonBody(event: APIGatewayProxyEvent, maxBytes: number): unknown {
  const type = mediaType(event);
  if (type !== 'application/json') {
    throw new UnsupportedMediaTypeError(`content-type must be application/json, got ${type ?? 'none'}`);
  }
  return parseJson(bodyText(event, maxBytes));
}

export function parseJson(text: string, field = 'body', index?: number): unknown {
  if (text.trim() === '') {
    throw new ValidationError([{ field, reason: 'is empty; a JSON document is required', index }], 400);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = `is not valid JSON (${error instanceof Error ? error.message : String(error)})`;
    throw new ValidationError([{ field, reason, index }], 400);
  }
}

/**
 * Local-runtime API key check (in AWS, API Gateway checks keys before the function runs).
 * `keys` undefined means the check is off.
 */
export function requireApiKey(event: APIGatewayProxyEvent, keys: readonly string[] | undefined): void {
  if (keys === undefined || keys.length === 0) return;
  const given = header(event, 'x-api-key');
  if (given === undefined) throw new UnauthorizedError('missing x-api-key header');
  if (!isOneOf(given, keys)) throw new ForbiddenError('x-api-key is not valid for this API');
}

/**
 * Whether `given` equals one of `keys`, in time that does not depend on where they differ: digests of equal
 * length compared with `timingSafeEqual`, and every key compared (no early exit that would tell which key,
 * or how many, matched).
 */
export function isOneOf(given: string, keys: readonly string[]): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  const wanted = digest(given);
  let found = false;
  for (const key of keys) found = timingSafeEqual(wanted, digest(key)) || found;
  return found;
}
