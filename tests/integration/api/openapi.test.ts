/**
 * The OpenAPI description is checked against the real handlers: every documented operation is served and
 * every served route is documented, and real responses (status and body) match what the description says.
 * Runs against the real Kafka and the test database, because that is where the handlers' answers come from.
 */
import { randomUUID } from 'node:crypto';
import { dereference, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createIngestDependencies } from '../../../functions/ingest/dependencies.ts';
import { createIngestHandler, ROUTES as ingestRoutes } from '../../../functions/ingest/src/http-handler.ts';
import { createMetadataDependencies } from '../../../functions/metadata/dependencies.ts';
import { createMetadataApi } from '../../../functions/metadata/src/routes.ts';
import { lambdaContext, restEvent } from '../../support/apigw.ts';
import { type ApiRequest, apiEvent } from '../../support/metadata-api.ts';

const SPEC = 'api/openapi.yaml';
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

interface MediaType {
  schema?: object;
}
interface Operation {
  responses: Record<string, { content?: Record<string, MediaType> }>;
}
type PathItem = Partial<Record<(typeof METHODS)[number], Operation>>;
interface Document {
  paths: Record<string, PathItem>;
}

// Both functions as their handler.ts wires them, over the test environment.
const ingestDependencies = createIngestDependencies(process.env);
const ingest = { ...createIngestHandler(ingestDependencies), routes: ingestRoutes };
const metadataDependencies = createMetadataDependencies(process.env);
const metadata = createMetadataApi(metadataDependencies);

let document: Document;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);

beforeAll(async () => {
  document = (await dereference(SPEC)) as unknown as Document;
});

afterAll(async () => {
  await Promise.all([ingestDependencies.close(), metadataDependencies.close()]);
});

/** `/api/metadata/hosts/{hostname}` → `/api/metadata/hosts/{}`: parameter names don't matter for matching. */
const shape = (template: string) => template.replace(/\{[^}]+\}/g, '{}');

function documentedOperations(): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map((method) => `${method.toUpperCase()} ${shape(path)}`),
  );
}

/** The documented operation whose template matches a concrete, percent-encoded request path. */
function operationFor(method: string, path: string): Operation {
  for (const [template, item] of Object.entries(document.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    const operation = item[method.toLowerCase() as (typeof METHODS)[number]];
    if (pattern.test(path) && operation !== undefined) return operation;
  }
  throw new Error(`${method} ${path} is not documented in ${SPEC}`);
}

/** Asserts that `response` is one the description promises for this request. */
function expectDocumented(method: string, path: string, response: APIGatewayProxyResult): void {
  const operation = operationFor(method, path);
  const documented = operation.responses[String(response.statusCode)];
  if (documented === undefined) {
    throw new Error(`${method} ${path} answered ${response.statusCode}, which ${SPEC} does not list: ${response.body}`);
  }
  const schema = documented.content?.['application/json']?.schema;
  if (schema === undefined) {
    expect(response.body ?? '').toBe('');
    return;
  }
  const validateBody = ajv.compile(schema);
  const valid = validateBody(JSON.parse(response.body));
  if (!valid) {
    throw new Error(`${method} ${path} ${response.statusCode} body does not match ${SPEC}: ${ajv.errorsText(validateBody.errors)}`);
  }
}

async function callIngest(event: APIGatewayProxyEvent) {
  const response = await ingest.handler(event, lambdaContext('ingest'));
  expectDocumented(event.httpMethod, event.path, response);
  return response;
}

async function callMetadata(request: ApiRequest) {
  const response = await metadata.handler(apiEvent(request), lambdaContext('metadata'));
  expectDocumented(request.method, request.path, response);
  return response;
}

describe('api/openapi.yaml', () => {
  it('is a valid OpenAPI document', async () => {
    // Act
    const result = await validate(SPEC);

    // Assess
    expect(result).toMatchObject({ valid: true });
  });

  it('documents exactly the routes the ingest and metadata handlers serve', () => {
    // Prepare
    const served = [...ingest.routes, ...metadata.routes].map((route) => `${route.method} ${shape(route.path)}`);

    // Assess
    expect([...new Set(served)].sort()).toEqual(documentedOperations().sort());
  });

  it('describes the ingest answers: accepted, partly accepted, unreadable, wrong type, nothing valid, health', async () => {
    // Prepare
    const log = { level: 'ERROR', message: 'Payment processing failed', service: 'payment-service', source_ip: '192.168.1.100' };
    const post = (body: string, contentType = 'application/json') =>
      restEvent('apigw-rest-post-logs', { body, headers: { 'Content-Type': contentType } });

    // Act
    const statuses = [
      (await callIngest(post(JSON.stringify(log)))).statusCode,
      (await callIngest(post(JSON.stringify([log, { ...log, level: 'LOUD' }])))).statusCode,
      (await callIngest(post('{"level":'))).statusCode,
      (await callIngest(post(JSON.stringify(log), 'text/plain'))).statusCode,
      (await callIngest(post(JSON.stringify([{ level: 'INFO' }])))).statusCode,
      (await callIngest(restEvent('apigw-rest-get-health'))).statusCode,
    ];

    // Assess
    expect(statuses).toEqual([202, 202, 400, 415, 422, 200]);
  });

  it('describes the metadata answers for hosts, services and networks through their whole life', async () => {
    // Prepare
    const id = randomUUID().slice(0, 8);
    const hostname = `contract-${id}`;
    const ip = `10.${Number.parseInt(id.slice(0, 2), 16)}.${Number.parseInt(id.slice(2, 4), 16)}.${Number.parseInt(id.slice(4, 6), 16)}`;
    const host = { hostname, ipAddress: ip, datacenter: 'us-east-1', environment: 'test', costCenter: 'qa' };
    const service = { name: `contract-svc-${id}`, team: 'qa', owner: 'qa@example.com', tier: 'tier-3', version: '1.0.0', costCenter: 'qa' };
    const cidr = `172.${16 + (Number.parseInt(id.slice(0, 2), 16) % 16)}.${Number.parseInt(id.slice(2, 4), 16)}.0/24`;
    const network = { cidr, datacenter: 'us-east-1', environment: 'test', zone: 'us-east-1a' };
    const encoded = encodeURIComponent(cidr);
    const H = '/api/metadata/hosts';
    const S = '/api/metadata/services';
    const N = '/api/metadata/networks';

    // Act
    const requests: ApiRequest[] = [
      { method: 'POST', path: H, body: host },
      { method: 'POST', path: H, body: host },
      { method: 'POST', path: H, body: { ...host, ipAddress: 'nope' } },
      { method: 'POST', path: H, body: '{', headers: { 'Content-Type': 'application/json' } },
      { method: 'POST', path: H, body: JSON.stringify(host), headers: { 'Content-Type': 'text/plain' } },
      { method: 'GET', path: `${H}/${hostname}` },
      { method: 'GET', path: H, query: { limit: '2' } },
      { method: 'GET', path: H, query: { ip } },
      { method: 'PUT', path: `${H}/${hostname}`, body: { ...host, environment: 'staging' } },
      { method: 'DELETE', path: `${H}/${hostname}` },
      { method: 'GET', path: `${H}/${hostname}` },
      { method: 'POST', path: S, body: service },
      { method: 'GET', path: `${S}/${service.name}` },
      { method: 'GET', path: S, query: { limit: '2' } },
      { method: 'PUT', path: `${S}/${service.name}`, body: { ...service, version: '1.0.1' } },
      { method: 'DELETE', path: `${S}/${service.name}` },
      { method: 'POST', path: N, body: network },
      { method: 'GET', path: `${N}/${encoded}` },
      { method: 'GET', path: `${N}/${cidr}` },
      { method: 'GET', path: N, query: { ip: cidr.replace('.0/24', '.9') } },
      { method: 'PUT', path: `${N}/${encoded}`, body: { ...network, zone: 'us-east-1b' } },
      { method: 'DELETE', path: `${N}/${cidr}` },
    ];
    const statuses: number[] = [];
    for (const request of requests) statuses.push((await callMetadata(request)).statusCode);

    // Assess
    expect(statuses).toEqual([
      201, 409, 422, 400, 415, 200, 200, 200, 200, 204, 404,
      201, 200, 200, 200, 204,
      201, 200, 200, 200, 200, 204,
    ]);
  });
});
