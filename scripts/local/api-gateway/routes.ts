/**
 * Which declared route a request falls under, the way API Gateway picks it, and the path parameters it
 * yields (decoded).
 */

/** A route as API Gateway declares it: `/api/hosts/{hostname}`, `/files/{proxy+}`; method `ANY` matches all. */
export interface RouteSpec {
  readonly method: string;
  readonly path: string;
}

/**
 * The route API Gateway would pick: literal segments beat `{param}`, which beats `{proxy+}`. A path that
 * matches only under another method still gets its route (the function answers 405, not API Gateway).
 *
 * @example
 * matchRoute([{ method: 'GET', path: '/api/hosts/{hostname}' }], 'GET', '/api/hosts/web%2D1');
 * // { route: { method: 'GET', path: '/api/hosts/{hostname}' }, params: { hostname: 'web-1' } }
 */
export function matchRoute(
  routes: readonly RouteSpec[],
  method: string,
  path: string,
): { route: RouteSpec; params: Record<string, string> } | undefined {
  const compiled = compiledRoutes(routes);
  let fallback: { route: RouteSpec; params: Record<string, string> } | undefined;
  // Most specific first: the first match under the method wins; else the most specific under any method.
  for (const entry of compiled) {
    const params = matchSegments(entry.segments, path);
    if (params === undefined) continue;
    if (entry.route.method === method || entry.route.method === 'ANY') return { route: entry.route, params };
    fallback ??= { route: entry.route, params };
  }
  return fallback;
}

/** A route template split and classified once (a request matches against it without regexes or sorting). */
interface CompiledRoute {
  route: RouteSpec;
  segments: readonly Segment[];
}

type Segment = { kind: 'literal'; text: string } | { kind: 'param'; name: string } | { kind: 'greedy'; name: string };

/** Compiled once per routes array (a served function's list never changes), ordered by specificity. */
const compiledCache = new WeakMap<readonly RouteSpec[], readonly CompiledRoute[]>();

function compiledRoutes(routes: readonly RouteSpec[]): readonly CompiledRoute[] {
  let compiled = compiledCache.get(routes);
  if (compiled === undefined) {
    compiled = routes
      .map((route) => ({ route, segments: trimSlash(route.path).split('/').map(segmentOf) }))
      // A stable sort: among equally specific routes the declared order decides, as before.
      .sort((a, b) => specificity(b.segments) - specificity(a.segments));
    compiledCache.set(routes, compiled);
  }
  return compiled;
}

function segmentOf(segment: string): Segment {
  const greedy = /^\{(\w+)\+\}$/.exec(segment);
  if (greedy !== null) return { kind: 'greedy', name: greedy[1] as string };
  const param = /^\{(\w+)\}$/.exec(segment);
  if (param !== null) return { kind: 'param', name: param[1] as string };
  return { kind: 'literal', text: segment };
}

function matchSegments(wanted: readonly Segment[], path: string): Record<string, string> | undefined {
  const actual = trimSlash(path).split('/');
  const params: Record<string, string> = {};
  for (const [index, segment] of wanted.entries()) {
    if (segment.kind === 'greedy') {
      const rest = actual.slice(index);
      if (rest.length === 0 || rest.join('') === '') return undefined;
      params[segment.name] = decode(rest.join('/'));
      return params;
    }
    const value = actual[index];
    if (value === undefined) return undefined;
    if (segment.kind === 'param') {
      if (value === '') return undefined;
      params[segment.name] = decode(value);
    } else if (segment.text !== value) {
      return undefined;
    }
  }
  return wanted.length === actual.length ? params : undefined;
}

function specificity(segments: readonly Segment[]): number {
  // Literal segments count most, then parameters; a greedy segment adds nothing.
  return segments.reduce((score, segment) => score + (segment.kind === 'greedy' ? 0 : segment.kind === 'param' ? 1 : 100), 0);
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function decode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // a stray '%' is passed on as sent
  }
}
