import { ConfigError } from '../errors/errors.js';

/** A declared path template, split into segments: a literal, a `{param}` (any one segment), or a final `*` (the rest). */
export interface CompiledRoute {
  readonly template: string;
  readonly segments: readonly (string | typeof PARAM | typeof REST)[];
}

const PARAM = Symbol('param');
const REST = Symbol('rest');
/** The label of a path no template matches: the method alone says what was called. */
export const UNMATCHED_ROUTE = '*';

/** Validates and splits `routes` once, at createFetch. */
export function compileRoutes(routes: unknown): readonly CompiledRoute[] {
  if (!Array.isArray(routes)) throw new ConfigError('routes', routes, 'must be an array of path templates');
  return routes.map((template: unknown, i) => {
    if (typeof template !== 'string' || !template.startsWith('/') || /[?#\s]/.test(template)) {
      throw new ConfigError(`routes[${i}]`, template, 'must be a path template starting with "/" (no query, no spaces), e.g. "/repos/{owner}/{repo}"');
    }
    const parts = template.split('/').slice(1);
    const segments = parts.map((part, j) => {
      if (part === '*' && j === parts.length - 1) return REST;
      if (/^\{[^{}/]+\}$/.test(part)) return PARAM;
      if (part.includes('{') || part.includes('}') || part.includes('*')) {
        throw new ConfigError(`routes[${i}]`, template, 'a segment is a literal, a whole "{param}", or a final "*"');
      }
      return part;
    });
    return { template, segments };
  });
}

/** The first template matching the request's path, else {@link UNMATCHED_ROUTE}. */
export function routeOf(routes: readonly CompiledRoute[], input: RequestInfo | URL): string {
  if (routes.length === 0) return UNMATCHED_ROUTE;
  const path = pathOf(input);
  return path === undefined ? UNMATCHED_ROUTE : routeOfPath(routes, path);
}

/**
 * {@link routeOf} for one createFetch, remembering the label of the last URL string: most
 * clients call the same few URLs over and over (an LLM's completions endpoint), and a string
 * compare costs far less than reading the path again (see docs/benchmarks.md, "Outbound HTTP").
 */
export function routeLabeller(routes: readonly CompiledRoute[]): (input: RequestInfo | URL) => string {
  let lastUrl: string | undefined;
  let lastRoute = UNMATCHED_ROUTE;
  return (input) => {
    if (typeof input !== 'string') return routeOf(routes, input);
    if (input !== lastUrl) {
      lastRoute = routeOf(routes, input);
      lastUrl = input;
    }
    return lastRoute;
  };
}

/** As {@link routeOf}, for a request's path (a query string after it is ignored). */
export function routeOfPath(routes: readonly CompiledRoute[], path: string): string {
  if (routes.length === 0) return UNMATCHED_ROUTE;
  const query = path.indexOf('?');
  const end = query === -1 ? path.length : query;
  for (const route of routes) if (matches(route.segments, path, end)) return route.template;
  return UNMATCHED_ROUTE;
}

/**
 * Whether `path` (up to `end`) matches the template's segments, walked in place (no split): its
 * parts are what `path.slice(1, end).split('/')` would give.
 */
function matches(segments: CompiledRoute['segments'], path: string, end: number): boolean {
  let start = 1; // after the leading "/"
  for (const segment of segments) {
    if (segment === REST) return true;
    if (start > end) return false; // no part left
    let next = path.indexOf('/', start);
    if (next === -1 || next > end) next = end;
    if (segment === PARAM) {
      if (next === start) return false;
    } else if (!(next - start === segment.length && !segment.includes('%') && path.startsWith(segment, start)) && decodeSafely(path.slice(start, next)) !== segment) return false;
    start = next + 1;
  }
  return start > end; // every part matched
}

function pathOf(input: RequestInfo | URL): string | undefined {
  if (typeof input === 'string') {
    const path = plainPath(input);
    if (path !== undefined) return path;
  }
  try {
    if (input instanceof URL) return input.pathname;
    return new URL(typeof input === 'string' ? input : input.url).pathname;
  } catch {
    return undefined;
  }
}

/**
 * The path of an absolute `http(s)://` URL string whose path needs no normalising (no dot
 * segment, no character the URL parser would encode or read as a separator): the common case,
 * read without building a URL. Anything else is left to the URL parser (undefined).
 */
function plainPath(url: string): string | undefined {
  const authority = url.startsWith('https://') ? 8 : url.startsWith('http://') ? 7 : -1;
  if (authority < 0) return undefined;
  const slash = url.indexOf('/', authority);
  const query = url.indexOf('?', authority);
  const fragment = url.indexOf('#', authority);
  const end = query < 0 ? fragment : fragment < 0 ? query : Math.min(query, fragment);
  if (url.lastIndexOf('\\', slash < 0 ? url.length : slash) >= 0) return undefined;
  if (slash < 0 || (end >= 0 && end < slash)) return '/';
  const path = url.slice(slash, end < 0 ? url.length : end);
  return PLAIN_PATH.test(path) && !ENCODED_DOT.test(path) ? path : undefined;
}

/** Path characters the URL parser keeps as they are, and no segment starting with a dot. */
const PLAIN_PATH = /^(?:\/(?!\.)[A-Za-z0-9\-._~!$&'()*+,;=:@%]*)+$/;
/** `%2e`: a dot the URL parser decodes when it looks for dot segments. */
const ENCODED_DOT = /%2e/i;

function decodeSafely(part: string): string {
  if (!part.includes('%')) return part;
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
