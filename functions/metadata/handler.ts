/**
 * Metadata API (API Gateway REST proxy events): hosts, services and networks CRUD under /api/metadata.
 * `router` is the raw route table handler; `handler` wraps it with the shared error-to-HTTP mapping;
 * `routes` (method + path) lets the local API Gateway stand-in fill `resource` and `pathParameters`.
 */
import { createMetadataApi } from './api/routes.ts';
import { dependencies } from './dependencies.ts';

export const { routes, router, handler } = createMetadataApi(dependencies);
