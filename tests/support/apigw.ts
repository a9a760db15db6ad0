/**
 * API Gateway REST proxy events for tests, built from the real-shaped fixtures in `tests/fixtures/`
 * (`apigw-rest-*.json`). Each call returns a fresh deep copy, so a test can change it freely.
 *
 * @example
 * const event = restEvent('apigw-rest-post-logs', { body: '[]', headers: { 'Content-Type': 'application/x-ndjson' } });
 * const response = await handler(event, lambdaContext('ingest'));
 */
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { createLambdaContext } from '../../scripts/local/api-gateway/index.ts';

const cache = new Map<string, APIGatewayProxyEvent>();

export interface RestEventChanges {
  httpMethod?: string;
  path?: string;
  body?: string | null;
  isBase64Encoded?: boolean;
  /** Set (or, with `undefined`, remove) headers, matching names without regard to case as API Gateway does. */
  headers?: Record<string, string | undefined>;
}

/** A copy of fixture `tests/fixtures/<name>.json` with `changes` applied (single- and multi-value headers alike). */
export function restEvent(name: string, changes: RestEventChanges = {}): APIGatewayProxyEvent {
  let fixture = cache.get(name);
  if (fixture === undefined) {
    fixture = JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8')) as APIGatewayProxyEvent;
    cache.set(name, fixture);
  }
  const event = structuredClone(fixture);
  if (changes.httpMethod !== undefined) {
    event.httpMethod = changes.httpMethod;
    event.requestContext.httpMethod = changes.httpMethod;
  }
  if (changes.path !== undefined) {
    event.path = changes.path;
    event.resource = changes.path;
    event.requestContext.resourcePath = changes.path;
    event.requestContext.path = `/${event.requestContext.stage}${changes.path}`;
  }
  if (changes.body !== undefined) event.body = changes.body;
  if (changes.isBase64Encoded !== undefined) event.isBase64Encoded = changes.isBase64Encoded;
  for (const [header, value] of Object.entries(changes.headers ?? {})) setHeader(event, header, value);
  return event;
}

function setHeader(event: APIGatewayProxyEvent, name: string, value: string | undefined): void {
  const lower = name.toLowerCase();
  for (const key of Object.keys(event.headers)) if (key.toLowerCase() === lower) delete event.headers[key];
  for (const key of Object.keys(event.multiValueHeaders)) if (key.toLowerCase() === lower) delete event.multiValueHeaders[key];
  if (value === undefined) return;
  event.headers[name] = value;
  event.multiValueHeaders[name] = [value];
}

/** A Lambda context as the local runtime builds it. */
export function lambdaContext(functionName = 'test-function'): Context {
  return createLambdaContext(functionName);
}
