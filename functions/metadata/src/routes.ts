/**
 * The metadata HTTP API: one route table (method + path with `{param}`) for @middy/http-router. Each
 * route checks the API key, parses its input, calls one use case and shapes the response; every thrown
 * error becomes a response in `httpErrors()`.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import httpRouterHandler, { type Method } from '@middy/http-router';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { z } from 'zod';
import type { ApiKeysEnv } from '#shared/config.ts';
import { ForbiddenError, UnsupportedMediaTypeError } from '#shared/errors.ts';
import { bodyText, jsonBody, mediaType, requireApiKey } from '#shared/http/request.ts';
import { httpErrors, json } from '#shared/http/responses.ts';
import { unmatchedRoute } from '#shared/http/unmatched-route.ts';
import type { Host, Network, Service } from '#shared/metadata/model.ts';
import { logger } from '#shared/observability.ts';
import { statusOnSegment } from '#shared/tracing/http-status.ts';
import { tracer } from '#shared/tracing/tracer.ts';
import { BULK_KINDS, type BulkKind, MEDIA_TYPES } from './bulk-formats.ts';
import { BULK_LIMITS, csvHeader, type ImportReport, type MetadataBulk } from './bulk.ts';
import type { MetadataCatalog, Page, RecordCatalog } from './catalog.ts';
import type { Stored } from './ports.ts';
import { decodeCursor, encodeCursor, parseInput, parseValue, pathParameter } from './input.ts';
import {
  cidr,
  ExportQuery,
  HostCreate,
  HostListQuery,
  HostReplace,
  hostname,
  ImportQuery,
  LIMITS,
  type ListQuery,
  NetworkCreate,
  NetworkListQuery,
  NetworkReplace,
  ServiceCreate,
  ServiceListQuery,
  ServiceReplace,
  serviceName,
  toHost,
  toNetwork,
  toService,
  withPathKey,
} from './schemas.ts';

export const BASE_PATH = '/api/metadata';

export interface MetadataApiDependencies {
  catalog: MetadataCatalog;
  /** Checked here when set (local runtime, LocalStack); on AWS, API Gateway checks the keys and these are unset. */
  apiKeys: ApiKeysEnv;
  /** The bulk import and export (`/{kind}:import`, `/{kind}:export`); without it those routes are not served. */
  bulk?: MetadataBulk;
}

type RouteHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export interface MetadataRoute {
  method: Method;
  path: string;
  handler: RouteHandler;
}

/** How the generic CRUD routes read one kind of record. */
interface Resource<T> {
  segment: string;
  /** Path templates of one record (networks have a second for clients that decode `%2F`). */
  itemPaths: string[];
  /** The record's key from the matched path parameters, validated and normalised. */
  keyFromPath(event: APIGatewayProxyEvent): string;
  keyOf(record: T): string;
  /** Validates a key found in a cursor. */
  keySchema: z.ZodType<string>;
  listQuery: z.ZodType<ListQuery>;
  fromCreateBody(body: unknown): T;
  fromReplaceBody(body: unknown, key: string): T;
  catalog: RecordCatalog<T>;
  listForIp?: (ip: string) => Promise<Page<Stored<T>>>;
}

/**
 * The route table.
 *
 * @example
 * const routes = metadataRoutes({ catalog, apiKeys: {} });
 */
export function metadataRoutes({ catalog, apiKeys, bulk }: MetadataApiDependencies): MetadataRoute[] {
  // Reads take either kind of key; writes only an admin key. With no keys at all the checks are off; with
  // ingest keys but no admin keys, writes are refused rather than left open to every ingest client.
  const readKeys = [...(apiKeys.API_KEYS ?? []), ...(apiKeys.ADMIN_API_KEYS ?? [])];
  const adminKeys = apiKeys.ADMIN_API_KEYS ?? [];
  const access: Access = {
    read: (event) => requireApiKey(event, readKeys),
    write: (event) => {
      if (adminKeys.length === 0 && readKeys.length > 0) {
        throw new ForbiddenError('metadata writes need an admin key, and ADMIN_API_KEYS is not set');
      }
      requireApiKey(event, adminKeys);
    },
  };

  const hosts: Resource<Host> = {
    segment: 'hosts',
    itemPaths: ['/hosts/{hostname}'],
    keyFromPath: (event) => parseValue(hostname, pathParameter(event, 'hostname'), 'hostname'),
    keyOf: (host) => host.hostname,
    keySchema: hostname,
    listQuery: HostListQuery,
    fromCreateBody: (body) => toHost(parseInput(HostCreate, body, 'body')),
    fromReplaceBody: (body, key) => {
      const input = parseInput(HostReplace, body, 'body');
      return toHost({ ...input, hostname: withPathKey('hostname', input.hostname, key) });
    },
    catalog: catalog.hosts,
    listForIp: (ip) => catalog.hosts.listForIp(ip),
  };

  const services: Resource<Service> = {
    segment: 'services',
    itemPaths: ['/services/{name}'],
    keyFromPath: (event) => parseValue(serviceName, pathParameter(event, 'name'), 'name'),
    keyOf: (service) => service.name,
    keySchema: serviceName,
    listQuery: ServiceListQuery,
    fromCreateBody: (body) => toService(parseInput(ServiceCreate, body, 'body')),
    fromReplaceBody: (body, key) => {
      const input = parseInput(ServiceReplace, body, 'body');
      return toService({ ...input, name: withPathKey('name', input.name, key) });
    },
    catalog: catalog.services,
  };

  const networks: Resource<Network> = {
    segment: 'networks',
    // The CIDR's slash travels URL-encoded (`10.20.0.0%2F16`); a proxy or client that decodes it before
    // the function sees it produces two segments, which the second template accepts.
    itemPaths: ['/networks/{cidr}', '/networks/{address}/{prefix}'],
    keyFromPath: (event) => {
      const text =
        event.pathParameters?.prefix === undefined
          ? pathParameter(event, 'cidr')
          : `${pathParameter(event, 'address')}/${pathParameter(event, 'prefix')}`;
      return parseValue(cidr, text, 'cidr');
    },
    keyOf: (network) => network.cidr,
    keySchema: cidr,
    listQuery: NetworkListQuery,
    fromCreateBody: (body) => toNetwork(parseInput(NetworkCreate, body, 'body')),
    fromReplaceBody: (body, key) => {
      const input = parseInput(NetworkReplace, body, 'body');
      return toNetwork({ ...input, cidr: withPathKey('cidr', input.cidr, key) });
    },
    catalog: catalog.networks,
    listForIp: (ip) => catalog.networks.listForIp(ip),
  };

  return [
    ...crudRoutes(hosts, access),
    ...crudRoutes(services, access),
    ...crudRoutes(networks, access),
    ...(bulk === undefined ? [] : bulkRoutes(bulk, access, { hosts, services, networks })),
  ];
}

/**
 * The raw router (route table + 404/405) and the handler wrapped with the shared error mapping (inside) and
 * the X-Ray handler subsegment, marked from the answered status (outside; responses are not recorded).
 *
 * @example
 * const { handler } = createMetadataApi({ catalog, apiKeys });
 * const response = await handler(event, context);
 */
export function createMetadataApi(dependencies: MetadataApiDependencies) {
  const routes = metadataRoutes(dependencies);
  const router = httpRouterHandler<APIGatewayProxyEvent, APIGatewayProxyResult>({
    routes,
    notFoundResponse: unmatchedRoute(routes),
  });
  const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>(middy(router).use(httpErrors()))
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger))
    .use(statusOnSegment());
  return { routes, router, handler };
}

interface Access {
  read(event: APIGatewayProxyEvent): void;
  write(event: APIGatewayProxyEvent): void;
}

function crudRoutes<T>(resource: Resource<T>, access: Access): MetadataRoute[] {
  const collection = `${BASE_PATH}/${resource.segment}`;
  const location = (record: T) => `${collection}/${encodeURIComponent(resource.keyOf(record))}`;

  const create: RouteHandler = async (event) => {
    access.write(event);
    const record = resource.fromCreateBody(jsonBody(event, LIMITS.bodyBytes));
    const stored = await resource.catalog.create(record);
    return json(201, stored, { location: location(stored) });
  };

  const list: RouteHandler = async (event) => {
    access.read(event);
    const query = parseInput(resource.listQuery, event.queryStringParameters ?? {}, 'query');
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, resource.keySchema);
    const page =
      query.ip !== undefined && resource.listForIp !== undefined
        ? await resource.listForIp(query.ip)
        : await resource.catalog.list({ limit: query.limit, after });
    return json(200, { items: page.items, nextCursor: page.nextAfter === null ? null : encodeCursor(page.nextAfter) });
  };

  const read: RouteHandler = async (event) => {
    access.read(event);
    return json(200, await resource.catalog.get(resource.keyFromPath(event)));
  };

  const replace: RouteHandler = async (event) => {
    access.write(event);
    const key = resource.keyFromPath(event);
    const record = resource.fromReplaceBody(jsonBody(event, LIMITS.bodyBytes), key);
    return json(200, await resource.catalog.replace(record));
  };

  const remove: RouteHandler = async (event) => {
    access.write(event);
    await resource.catalog.remove(resource.keyFromPath(event));
    return { statusCode: 204, headers: {}, body: '' };
  };

  return [
    { method: 'POST', path: collection, handler: create },
    { method: 'GET', path: collection, handler: list },
    ...resource.itemPaths.flatMap((template): MetadataRoute[] => {
      const item = `${BASE_PATH}${template}`;
      return [
        { method: 'GET', path: item, handler: read },
        { method: 'PUT', path: item, handler: replace },
        { method: 'DELETE', path: item, handler: remove },
      ];
    }),
  ];
}

/**
 * `POST /{kind}:import` and `GET /{kind}:export` (the `:verb` suffix of a custom method on the collection: no
 * record key can hold a colon, so the paths never shadow `/{kind}/{key}`).
 */
function bulkRoutes(bulk: MetadataBulk, access: Access, resources: Record<BulkKind, { keySchema: z.ZodType<string> }>): MetadataRoute[] {
  return BULK_KINDS.flatMap((kind): MetadataRoute[] => {
    const importRecords: RouteHandler = async (event) => {
      access.write(event);
      const { mode } = parseInput(ImportQuery, event.queryStringParameters ?? {}, 'query');
      const type = mediaType(event);
      const format = type === MEDIA_TYPES.csv ? 'csv' : type === MEDIA_TYPES.ndjson ? 'ndjson' : undefined;
      if (format === undefined) {
        throw new UnsupportedMediaTypeError(`content-type must be ${MEDIA_TYPES.csv} or ${MEDIA_TYPES.ndjson}, got ${type ?? 'none'}`);
      }
      const text = bodyText(event, BULK_LIMITS.importBytes);
      return importResponse(await bulk.import({ kind, format, text, mode }));
    };

    const exportRecords: RouteHandler = async (event) => {
      access.read(event);
      const query = parseInput(ExportQuery, event.queryStringParameters ?? {}, 'query');
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, resources[kind].keySchema);
      // One response holds at most BULK_LIMITS.exportBytes (Lambda's response limit) measured as the body
      // travels: JSON-escaped inside Lambda's response (`sentBytes`); the rest is the next page's.
      let body = query.format === 'csv' ? csvHeader(kind) : '';
      let bytes = sentBytes(body);
      let lastKey: string | undefined;
      let more = false;
      pages: for await (const page of bulk.export(kind, query.format, { after })) {
        for (const { key, line } of page) {
          const size = sentBytes(line);
          if (bytes + size > BULK_LIMITS.exportBytes) {
            more = true;
            break pages; // ends the export's snapshot too
          }
          body += line;
          bytes += size;
          lastKey = key;
        }
      }
      const headers: Record<string, string> = {
        'content-type': `${MEDIA_TYPES[query.format]}; charset=utf-8`,
        'content-disposition': `attachment; filename="${kind}.${query.format === 'csv' ? 'csv' : 'ndjson'}"`,
      };
      if (more && lastKey !== undefined) {
        const cursor = encodeCursor(lastKey);
        headers['x-next-cursor'] = cursor;
        // Relative, so it holds behind any stage prefix (`/v1` on AWS); `./` because a first segment with a
        // colon would read as a URI scheme.
        headers.link = `<./${kind}:export?format=${query.format}&cursor=${cursor}>; rel="next"`;
      }
      return { statusCode: 200, headers, body };
    };

    return [
      { method: 'POST', path: `${BASE_PATH}/${kind}:import`, handler: importRecords },
      { method: 'GET', path: `${BASE_PATH}/${kind}:export`, handler: exportRecords },
    ];
  });
}

/**
 * 200 with the report when the import was applied; 422 with the problems by line when it was refused (any
 * problem in all-or-nothing mode, an unreadable file, or no valid record at all), the report's counts alongside.
 */
function importResponse(report: ImportReport): APIGatewayProxyResult {
  if (report.committed) return json(200, report);
  const shown = report.problemsOmitted > 0 ? ` (the first ${report.problems.length} of ${report.problems.length + report.problemsOmitted} problems are listed)` : '';
  const message =
    report.read === 0 || report.rejected === report.read
      ? `no record of the import is valid; nothing was imported${shown}`
      : `${report.rejected} of ${report.read} records have problems; nothing was imported (mode ${report.mode})${shown}`;
  const { problems, ...counts } = report;
  return json(422, { error: { message, problems }, report: counts });
}

/**
 * The bytes `text` takes inside a buffered Lambda response: the body travels as a JSON string, so every `"`, `\`
 * and line break gains a backslash (and a control character becomes `\u00XX`); without the two enclosing quotes.
 *
 * @example
 * sentBytes('a,"b"\n'); // 9 (Buffer.byteLength gives 6)
 */
export function sentBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text)) - 2;
}
