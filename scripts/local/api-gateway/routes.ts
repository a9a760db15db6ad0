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
  const candidates = routes
    .map((route) => ({ route, params: matchPath(route.path, path) }))
    .filter((entry): entry is { route: RouteSpec; params: Record<string, string> } => entry.params !== undefined)
    .sort((a, b) => specificity(b.route.path) - specificity(a.route.path));
  const forMethod = candidates.find(({ route }) => route.method === method || route.method === 'ANY');
  return forMethod ?? candidates[0];
}

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const wanted = trimSlash(template).split('/');
  const actual = trimSlash(path).split('/');
  const params: Record<string, string> = {};
  for (const [index, segment] of wanted.entries()) {
    const greedy = /^\{(\w+)\+\}$/.exec(segment);
    if (greedy !== null) {
      const rest = actual.slice(index);
      if (rest.length === 0 || rest.join('') === '') return undefined;
      params[greedy[1] as string] = decode(rest.join('/'));
      return params;
    }
    const value = actual[index];
    if (value === undefined) return undefined;
    const param = /^\{(\w+)\}$/.exec(segment);
    if (param !== null) {
      if (value === '') return undefined;
      params[param[1] as string] = decode(value);
    } else if (segment !== value) {
      return undefined;
    }
  }
  return wanted.length === actual.length ? params : undefined;
}

function specificity(template: string): number {
  // Literal segments count most, then parameters; a greedy segment adds nothing.
  return trimSlash(template)
    .split('/')
    .reduce((score, segment) => score + (/^\{\w+\+\}$/.test(segment) ? 0 : /^\{\w+\}$/.test(segment) ? 1 : 100), 0);
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // a stray '%' is passed on as sent
  }
}
