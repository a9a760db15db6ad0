/**
 * The answer when @middy/http-router finds no route with both the request's method and its path: 405 with
 * `allow` when the path is known under other methods, 404 otherwise. Which methods know a path is asked of
 * @middy/http-router itself (a second router over the same route table, whose handlers only note that they
 * matched), so the answer agrees with the routing: `{param}` templates, and one trailing slash, included.
 */
import httpRouterHandler, { type Method } from '@middy/http-router';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { MethodNotAllowedError, NotFoundError } from '../errors.ts';
import { errorResponse } from './responses.ts';

/** What a route table entry has to say for matching: its method and path template. */
export interface RouteKey {
  readonly method: Method;
  readonly path: string;
}

/**
 * The router's `notFoundResponse` for `routes` (the table the router itself is built from). Throws
 * `NotFoundError` (404); returns the 405 response, whose `allow` lists the methods in table order.
 *
 * @example
 * const router = httpRouterHandler({ routes, notFoundResponse: unmatchedRoute(routes) });
 */
export function unmatchedRoute(routes: readonly RouteKey[]): (request: { method: string; path: string }) => APIGatewayProxyResult {
  const methods = [...new Set(routes.map((route) => route.method))];
  let matched = false;
  const probe = httpRouterHandler({
    routes: routes.map((route) => ({
      method: route.method,
      path: route.path,
      handler: () => {
        matched = true;
      },
    })),
    notFoundResponse: () => {},
  });
  // The router's handler is synchronous up to the route's handler, which sets `matched` before returning.
  const knows = (method: Method, path: string): boolean => {
    matched = false;
    void probe({ httpMethod: method, path } as APIGatewayProxyEvent, {} as Context);
    return matched;
  };
  return ({ method, path }) => {
    const allowed = methods.filter((candidate) => knows(candidate, path));
    if (allowed.length === 0) throw new NotFoundError(`no route for ${method} ${path}`);
    const response = errorResponse(new MethodNotAllowedError(`${method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`));
    return { ...response, headers: { ...response.headers, allow: allowed.join(', ') } };
  };
}
