// The JSON types the route compilers read, checked before they compile: a field of another type is refused with an
// Error naming it (`rules[0].matches[1].headers[0].name: expected a string`), never a TypeError further in.
// Fields the compilers do not read are not checked. An absent field (undefined or null) is allowed, unless in `req`;
// an absent list item or map value is not.

type Shape =
  | 'string'
  | 'int'
  | 'number'
  | 'bool'
  | { list: Shape }
  | { map: Shape }
  | { obj: Record<string, Shape>; req?: string[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function check(v: unknown, s: Shape, path: string): void {
  if (v === undefined || v === null) return;
  const fail = (what: string): never => {
    throw new Error(`${path}: expected ${what}`);
  };
  if (s === 'string') return void (typeof v === 'string' || fail('a string'));
  if (s === 'int') return void (Number.isInteger(v) || fail('an integer'));
  if (s === 'number') return void ((typeof v === 'number' && Number.isFinite(v)) || fail('a number'));
  if (s === 'bool') return void (typeof v === 'boolean' || fail('a boolean'));
  if ('list' in s) {
    if (!Array.isArray(v)) fail('a list');
    (v as unknown[]).forEach((x, i) => {
      if (x === undefined || x === null) throw new Error(`${path}[${i}]: expected a value`);
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
  for (const r of s.req ?? []) if (o[r] === undefined || o[r] === null) throw new Error(`${path}.${r}: required`);
  for (const [k, fs] of Object.entries(s.obj)) check(o[k], fs, `${path}.${k}`);
}

// ---- Gateway API HTTPRoute ----
const nameValue: Shape = { obj: { name: 'string', value: 'string' }, req: ['name'] };
const headerModifier: Shape = { obj: { set: { list: nameValue }, add: { list: nameValue }, remove: { list: 'string' } } };
const pathModifier: Shape = { obj: { type: 'string', replaceFullPath: 'string', replacePrefixMatch: 'string' } };
const backendFields = { group: 'string', kind: 'string', name: 'string', namespace: 'string', port: 'int', weight: 'int' } as const;
const backendFilter: Shape = { obj: { type: 'string', requestHeaderModifier: headerModifier, responseHeaderModifier: headerModifier } };
const httpRouteFilter: Shape = {
  obj: {
    type: 'string',
    requestHeaderModifier: headerModifier,
    responseHeaderModifier: headerModifier,
    requestRedirect: { obj: { scheme: 'string', hostname: 'string', path: pathModifier, port: 'int', statusCode: 'int' } },
    urlRewrite: { obj: { hostname: 'string', path: pathModifier } },
    requestMirror: { obj: { backendRef: { obj: backendFields }, percent: 'number', fraction: { obj: { numerator: 'number', denominator: 'number' }, req: ['numerator'] } }, req: ['backendRef'] },
  },
};
const httpRouteSpec: Shape = {
  obj: {
    parentRefs: { list: { obj: { group: 'string', kind: 'string', name: 'string', namespace: 'string', port: 'int' } } },
    hostnames: { list: 'string' },
    rules: {
      list: {
        obj: {
          matches: { list: { obj: { path: { obj: { type: 'string', value: 'string' } }, headers: { list: nameValue }, queryParams: { list: nameValue }, method: 'string' } } },
          filters: { list: httpRouteFilter },
          backendRefs: { list: { obj: { ...backendFields, filters: { list: backendFilter } } } },
          timeouts: { obj: { request: 'string', backendRequest: 'string' } },
          retry: { obj: { attempts: 'int', codes: { list: 'int' } } },
        },
      },
    },
  },
};

/** Throws an Error naming the first field of `spec` (an HTTPRoute's) that is not of the type the compiler reads. */
export function checkHTTPRouteSpec(spec: unknown): void {
  check(spec, httpRouteSpec, 'spec');
}

// ---- Istio VirtualService http route ----
const stringMatch: Shape = { obj: { exact: 'string', prefix: 'string', regex: 'string' } };
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

/** Throws an Error naming the first field of a VirtualService's http route that is not of the type the compiler reads. */
export function checkVirtualServiceRoute(r: unknown, path: string): void {
  if (!isObject(r)) throw new Error(`${path}: expected an object`);
  check(r, vsHttpRoute, path);
}
