/**
 * Metadata API (API Gateway REST proxy events): hosts, services and networks CRUD under /api/metadata.
 * `router` is the raw route table handler; `handler` wraps it with the shared error-to-HTTP mapping;
 * `routes` (method + path) lets the local API Gateway stand-in fill `resource` and `pathParameters`.
 * Behaviour lives in `src/`, wiring in `dependencies.ts`; this file only joins them, once per Lambda instance.
 */
import { createMetadataDependencies } from './dependencies.ts';
import { createMetadataApi } from './src/routes.ts';

const dependencies = createMetadataDependencies(process.env);

export const { routes, router, handler } = createMetadataApi(dependencies);
