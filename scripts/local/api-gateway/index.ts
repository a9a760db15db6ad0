/**
 * The local stand-in for API Gateway (REST API, Lambda proxy integration), as one import: `serveHandler` puts a
 * Lambda proxy handler behind a loopback HTTP server; the event, context and route builders are exported for
 * tests and tools that invoke handlers directly.
 */
export { createLambdaContext } from './context.ts';
export { INTEGRATION_TIMEOUT_MS, MAX_REQUEST_BYTES } from './limits.ts';
export { type LocalRequest, toProxyEvent } from './proxy-event.ts';
export { matchRoute, type RouteSpec } from './routes.ts';
export { type ProxyHandler, type ServedHandler, type ServeOptions, serveHandler, writeResult } from './server.ts';
