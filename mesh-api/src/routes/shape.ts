// The JSON types the waypoint's route compilers read (HTTPRoute, GRPCRoute, VirtualService), checked before they
// compile: a field of another type is refused with a RouteShapeError naming it
// (`spec.rules[0].matches[1].headers[0].name: expected a string`), never a TypeError further in; so is a regular
// expression the waypoint cannot compile. Fields the compilers do not read are not checked. An absent field
// (undefined or null) is allowed, unless in `req`; an absent list item or map value is not.
// Pure and dependency-free: the waypoint (plugins/builtin routing) refuses such a route, and the controller, which
// has the same object, reports it (`Accepted` False, `UnsupportedValue`), from this one definition.

/** A route refused: `field` is the path of the offending field, `reason` what is wrong with it. */
export class RouteShapeError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'RouteShapeError';
  }
}

type Shape =
  | 'string'
  | 'int'
  | 'number'
  | 'bool'
  | { list: Shape }
  | { map: Shape }
  | { obj: Record<string, Shape>; req?: string[]; test?: (o: Record<string, unknown>, path: string) => void };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function check(v: unknown, s: Shape, path: string): void {
  if (v === undefined || v === null) return;
  const fail = (what: string): never => {
    throw new RouteShapeError(path, `expected ${what}`);
  };
  if (s === 'string') return void (typeof v === 'string' || fail('a string'));
  if (s === 'int') return void (Number.isInteger(v) || fail('an integer'));
  if (s === 'number') return void ((typeof v === 'number' && Number.isFinite(v)) || fail('a number'));
  if (s === 'bool') return void (typeof v === 'boolean' || fail('a boolean'));
  if ('list' in s) {
    if (!Array.isArray(v)) fail('a list');
    (v as unknown[]).forEach((x, i) => {
      if (x === undefined || x === null) throw new RouteShapeError(`${path}[${i}]`, 'expected a value');
      check(x, s.list, `${path}[${i}]`);
    });
    return;
  }
  if (!isObject(v)) fail('an object');
  const o = v as Record<string, unknown>;
  if ('map' in s) {
    for (const [k, x] of Object.entries(o)) {
      if (x === undefined || x === null) fail(`a value for ${JSON.stringify(k)}`);
      check(x, s.map, `${path}.${k}`);
    }
    return;
  }
  for (const r of s.req ?? []) if (o[r] === undefined || o[r] === null) throw new RouteShapeError(`${path}.${r}`, 'required');
  // Absent fields are skipped before their path is built: most of a shape's fields are absent from any one object.
  for (const k in s.obj) {
    const x = o[k];
    if (x !== undefined && x !== null) check(x, s.obj[k]!, `${path}.${k}`);
  }
  s.test?.(o, path);
}

/** A regular expression as the waypoint compiles it (RE2-style full match, `^(?:re)$`), else refused by field. */
function checkRegex(re: unknown, path: string): void {
  if (typeof re !== 'string') return;
  try {
    new RegExp(`^(?:${re})$`);
  } catch (err) {
    throw new RouteShapeError(path, `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}
/** An object whose `field` is a regular expression when its `type` is RegularExpression (Gateway API matches). */
const regexWhenTyped =
  (field: string) =>
  (o: Record<string, unknown>, path: string): void => {
    if (o.type === 'RegularExpression') checkRegex(o[field], `${path}.${field}`);
  };

// ---- Gateway API HTTPRoute ----
const nameValue: Shape = { obj: { name: 'string', value: 'string' }, req: ['name'] };
const headerMatch: Shape = { obj: { type: 'string', name: 'string', value: 'string' }, req: ['name'], test: regexWhenTyped('value') };
const headerModifier: Shape = { obj: { set: { list: nameValue }, add: { list: nameValue }, remove: { list: 'string' } } };
const pathModifier: Shape = { obj: { type: 'string', replaceFullPath: 'string', replacePrefixMatch: 'string' } };
const backendFields = { group: 'string', kind: 'string', name: 'string', namespace: 'string', port: 'int', weight: 'int' } as const;
const backendFilter: Shape = { obj: { type: 'string', requestHeaderModifier: headerModifier, responseHeaderModifier: headerModifier } };
// CORS (GEP-1767): the values the API server's schema admits, refused by field otherwise (a `*` stands alone).
const CORS_ORIGIN = /^(?:\*|https?:\/\/(?:(?:\*\.)?(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(?::[0-9]{1,5})?)$/;
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '*']);
const HEADER_NAME = /^(?:\*|[A-Za-z0-9!#$%&'*+\-.^_`|~]+)$/;
function checkCorsList(o: Record<string, unknown>, path: string, field: string, valid: (v: string) => boolean, what: string): void {
  const list = o[field] as string[] | undefined;
  list?.forEach((v, i) => {
    if (!valid(v)) throw new RouteShapeError(`${path}.${field}[${i}]`, `expected ${what}`);
    if (v === '*' && list.length > 1) throw new RouteShapeError(`${path}.${field}[${i}]`, "'*' cannot be listed with other values");
  });
}
const corsFilter: Shape = {
  obj: { allowOrigins: { list: 'string' }, allowMethods: { list: 'string' }, allowHeaders: { list: 'string' }, exposeHeaders: { list: 'string' }, allowCredentials: 'bool', maxAge: 'int' },
  test: (o, path) => {
    checkCorsList(o, path, 'allowOrigins', (v) => CORS_ORIGIN.test(v), "an origin (<scheme>://<host>[:<port>], scheme http or https) or '*'");
    checkCorsList(o, path, 'allowMethods', (v) => HTTP_METHODS.has(v), "an HTTP method or '*'");
    checkCorsList(o, path, 'allowHeaders', (v) => HEADER_NAME.test(v), "a header name or '*'");
    checkCorsList(o, path, 'exposeHeaders', (v) => HEADER_NAME.test(v), "a header name or '*'");
    if (typeof o.maxAge === 'number' && o.maxAge < 1) throw new RouteShapeError(`${path}.maxAge`, 'expected at least 1');
  },
};
const httpRouteFilter: Shape = {
  obj: {
    type: 'string',
    requestHeaderModifier: headerModifier,
    responseHeaderModifier: headerModifier,
    requestRedirect: { obj: { scheme: 'string', hostname: 'string', path: pathModifier, port: 'int', statusCode: 'int' } },
    urlRewrite: { obj: { hostname: 'string', path: pathModifier } },
    requestMirror: { obj: { backendRef: { obj: backendFields }, percent: 'number', fraction: { obj: { numerator: 'number', denominator: 'number' }, req: ['numerator'] } }, req: ['backendRef'] },
    cors: corsFilter,
  },
  test: (o, path) => {
    if (o.type === 'CORS' && (o.cors === undefined || o.cors === null)) throw new RouteShapeError(`${path}.cors`, 'required for a CORS filter');
  },
};
/** A rule has at most one CORS filter. */
function oneCorsFilter(rule: Record<string, unknown>, path: string): void {
  const filters = Array.isArray(rule.filters) ? (rule.filters as Array<{ type?: unknown }>) : [];
  const i = filters.findIndex((f, k) => f.type === 'CORS' && filters.findIndex((g) => g.type === 'CORS') !== k);
  if (i >= 0) throw new RouteShapeError(`${path}.filters[${i}]`, 'a rule has at most one CORS filter');
}
const parentRefs: Shape = { list: { obj: { group: 'string', kind: 'string', name: 'string', namespace: 'string', port: 'int' } } };
const httpRouteSpec: Shape = {
  obj: {
    parentRefs,
    hostnames: { list: 'string' },
    rules: {
      list: {
        obj: {
          matches: {
            list: { obj: { path: { obj: { type: 'string', value: 'string' }, test: regexWhenTyped('value') }, headers: { list: headerMatch }, queryParams: { list: headerMatch }, method: 'string' } },
          },
          filters: { list: httpRouteFilter },
          backendRefs: { list: { obj: { ...backendFields, filters: { list: backendFilter } } } },
          timeouts: { obj: { request: 'string', backendRequest: 'string' } },
          retry: { obj: { attempts: 'int', codes: { list: 'int' } } },
        },
        test: oneCorsFilter,
      },
    },
  },
};

/** Throws a RouteShapeError naming the first field of `spec` (an HTTPRoute's) that the waypoint cannot compile. */
export function checkHTTPRouteSpec(spec: unknown): void {
  check(spec, httpRouteSpec, 'spec');
}

// ---- Gateway API GRPCRoute (before the waypoint turns it into an HTTPRoute) ----
const grpcMethodMatch: Shape = {
  obj: { type: 'string', service: 'string', method: 'string' },
  // A RegularExpression match becomes one path expression `/(?:service)/(?:method)`.
  test: (o, path) => {
    if (o.type === 'RegularExpression' && (o.service || o.method)) checkRegex(`/(?:${(o.service as string) || '[^/]+'})/(?:${(o.method as string) || '[^/]+'})`, path);
  },
};
const grpcRouteSpec: Shape = {
  obj: {
    parentRefs,
    hostnames: { list: 'string' },
    rules: {
      list: {
        obj: {
          matches: { list: { obj: { method: grpcMethodMatch, headers: { list: headerMatch } } } },
          filters: { list: httpRouteFilter },
          backendRefs: { list: { obj: { ...backendFields, filters: { list: backendFilter } } } },
        },
      },
    },
  },
};

/** Throws a RouteShapeError naming the first field of `spec` (a GRPCRoute's) that the waypoint cannot compile. */
export function checkGRPCRouteSpec(spec: unknown): void {
  check(spec, grpcRouteSpec, 'spec');
}

// ---- Istio VirtualService http route ----
const stringMatch: Shape = { obj: { exact: 'string', prefix: 'string', regex: 'string' }, test: (o, path) => checkRegex(o.regex, `${path}.regex`) };
const headerOps: Shape = { obj: { set: { map: 'string' }, add: { map: 'string' }, remove: { list: 'string' } } };
const headers: Shape = { obj: { request: headerOps, response: headerOps } };
const destination: Shape = { obj: { host: 'string', subset: 'string', port: { obj: { number: 'int' } } }, req: ['host'] };
const percent: Shape = { obj: { value: 'number' } };
const vsHttpRoute: Shape = {
  obj: {
    name: 'string',
    match: {
      list: {
        obj: {
          uri: stringMatch,
          scheme: stringMatch,
          method: stringMatch,
          authority: stringMatch,
          headers: { map: stringMatch },
          withoutHeaders: { map: stringMatch },
          queryParams: { map: stringMatch },
          port: 'int',
          sourceLabels: { map: 'string' },
          sourceNamespace: 'string',
          ignoreUriCase: 'bool',
        },
      },
    },
    route: { list: { obj: { destination, weight: 'int', headers }, req: ['destination'] } },
    redirect: { obj: { uri: 'string', authority: 'string', port: 'int', scheme: 'string', redirectCode: 'int' } },
    directResponse: { obj: { status: 'int', body: { obj: { string: 'string' } } }, req: ['status'] },
    rewrite: { obj: { uri: 'string', authority: 'string' } },
    timeout: 'string',
    retries: { obj: { attempts: 'int', perTryTimeout: 'string', retryOn: 'string' } },
    fault: { obj: { delay: { obj: { fixedDelay: 'string', percentage: percent, percent: 'number' } }, abort: { obj: { httpStatus: 'int', percentage: percent } } } },
    mirror: destination,
    mirrorPercentage: percent,
    mirrors: { list: { obj: { destination, percentage: percent }, req: ['destination'] } },
    headers,
  },
};

/** Throws a RouteShapeError naming the first field of a VirtualService's http route that the waypoint cannot compile. */
export function checkVirtualServiceRoute(r: unknown, path: string): void {
  if (!isObject(r)) throw new RouteShapeError(path, 'expected an object');
  check(r, vsHttpRoute, path);
}

const virtualServiceSpec: Shape = { obj: { hosts: { list: 'string' }, gateways: { list: 'string' }, http: { list: vsHttpRoute } } };

/** Throws a RouteShapeError naming the first field of `spec` (a VirtualService's) that the waypoint cannot compile. */
export function checkVirtualServiceSpec(spec: unknown): void {
  check(spec, virtualServiceSpec, 'spec');
}
