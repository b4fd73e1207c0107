// The container build file (the root Dockerfile, one target per image): each image's ENTRYPOINT names a file
// `tsc -b` makes, the tags they
// are built as are the images the manifests and the controller's rendered waypoint Deployment ask for, and every
// image comes from the one shared build stage with only its own workspaces' production dependencies.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '@ambit/controller';
import { REVIEWS_ENV, renderedWaypointImages } from './expected-images.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const read = (p: string) => readFileSync(join(repo, p), 'utf8');

interface Stage {
  name?: string;
  /** The image or stage it starts from. */
  from: string;
  entrypoint?: string[];
  /** ARGs in scope (a bare `ARG X` is undefined here; see expand). */
  args: Map<string, string | undefined>;
  env: Map<string, string>;
  labels: Map<string, string>;
  user?: string;
  runs: string[];
  copies: string[];
  /** The comments inside the stage and those just above its FROM. */
  comments: string[];
}

/** A Dockerfile's global ARGs and stages, with what this test looks at (continuation lines joined). */
function parse(text: string): { globals: Map<string, string>; stages: Stage[]; comments: string[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter(Boolean);
  const comments = lines.filter((l) => l.startsWith('#'));
  const globals = new Map<string, string>();
  const stages: Stage[] = [];
  const pairs = (s: string) => [...s.matchAll(/([\w.-]+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')] as const);
  let pending: string[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) {
      pending.push(line);
      continue;
    }
    const [, instr = '', rest = ''] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    const op = instr.toUpperCase();
    if (op === 'FROM') {
      const [, from = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(rest) ?? [];
      stages.push({ name, from, args: new Map(), env: new Map(), labels: new Map(), runs: [], copies: [], comments: pending });
      pending = [];
      continue;
    }
    const cur = stages.at(-1);
    cur?.comments.push(...pending);
    pending = [];
    switch (op) {
      case 'ENTRYPOINT':
        if (cur) cur.entrypoint = JSON.parse(rest) as string[];
        break;
      case 'ARG': {
        const [k = '', v] = rest.split('=');
        if (cur) cur.args.set(k, v);
        else globals.set(k, v ?? '');
        break;
      }
      case 'ENV':
        for (const [k, v] of pairs(rest)) cur?.env.set(k, v);
        break;
      case 'LABEL':
        for (const [k, v] of pairs(rest)) cur?.labels.set(k, v);
        break;
      case 'USER':
        if (cur) cur.user = rest;
        break;
      case 'RUN':
        cur?.runs.push(rest);
        break;
      case 'COPY':
        cur?.copies.push(rest);
        break;
    }
  }
  return { globals, stages, comments };
}

const dockerfile = parse(read('Dockerfile'));
const stageNamed = (name: string) => dockerfile.stages.find((s) => s.name === name);

/** `${X}` in a value written in `stage`, with the ARGs in scope there (a bare `ARG X` takes the global default). */
function expand(stage: Stage, value: string): string {
  return value.replace(/\$\{(\w+)\}/g, (_, k: string) => (stage.args.has(k) ? (stage.args.get(k) ?? dockerfile.globals.get(k) ?? '') : ''));
}

/** What `docker build --target <name>` makes: the stage and its parent stages, root first, and the image config
 * they add up to (ENTRYPOINT, ENV, LABEL and USER carry over to a stage built FROM another; ARGs do not). */
function target(name: string) {
  const chain: Stage[] = [];
  for (let s = stageNamed(name); s; s = stageNamed(s.from)) chain.unshift(s);
  const image = { chain, labels: new Map<string, string>(), env: new Map<string, string>(), user: undefined as string | undefined, entrypoint: undefined as string[] | undefined };
  for (const s of chain) {
    for (const [k, v] of s.labels) image.labels.set(k, expand(s, v));
    for (const [k, v] of s.env) image.env.set(k, v);
    image.user = s.user ?? image.user;
    image.entrypoint = s.entrypoint ?? image.entrypoint;
  }
  return image;
}

/** A component image: its target, tagged `<ref.name>:<version label>`. */
function component(name: string) {
  const image = target(name);
  return { ...image, tag: `${image.labels.get('org.opencontainers.image.ref.name')}:${image.labels.get('org.opencontainers.image.version')}` };
}

const components = { controller: 'ambit/controller', ztunnel: 'ambit/ztunnel', waypoint: 'ambit/waypoint' };

for (const [name, imageName] of Object.entries(components)) {
  test(`Dockerfile --target ${name} builds ${imageName}:${VERSION} and its ENTRYPOINT is its compiled main script`, (t) => {
    const { chain, user, entrypoint, tag } = component(name);
    t.is(tag, `${imageName}:${VERSION}`);
    t.truthy(dockerfile.comments.find((c) => c.includes(`docker build --target ${name} `) && c.endsWith(` -t ${tag} .`)), `the header's build command for ${tag}`);
    const [node, script = ''] = entrypoint ?? [];
    t.is(node, 'node');
    t.true(existsSync(join(repo, script)), `${script} exists after tsc -b`);

    // On the shared runtime base, with the production dependencies of its own workspaces and their code from the
    // shared build stage: the ENTRYPOINT's among them.
    t.deepEqual(chain.map((s) => s.name), ['runtime', name]);
    const own = chain.at(-1)!;
    const installs = own.runs.filter((r) => /\bnpm ci\b/.test(r));
    t.is(installs.length, 1);
    t.regex(installs[0]!, /--omit=dev/);
    const workspaces = [...installs[0]!.matchAll(/--workspace[= ](\S+)/g)].map((m) => m[1]!);
    t.true(workspaces.includes(script.split('/dist/')[0]!), `${name} installs the workspace of ${script}`);
    const copied = own.copies.map((c) => /^--from=build \/src\/(\S+)\/dist \1\/dist$/.exec(c)?.[1]).filter(Boolean);
    t.deepEqual([...copied].sort(), [...workspaces].sort(), 'the dist of each installed workspace, from the build stage');

    // Only ztunnel runs as root (setns, iptables, with their tools): its comments say why.
    if (name === 'ztunnel') {
      t.is(user, undefined);
      t.regex(own.comments.join('\n'), /root/);
      t.regex(own.runs.join('\n'), /apt-get install .*\biptables iproute2 util-linux\b/);
    } else t.is(user, 'node');
  });
}

test('Dockerfile installs every dependency and runs tsc -b once, in the build stage no image is built from', (t) => {
  const all = dockerfile.stages.flatMap((s) => s.runs.map((r) => ({ stage: s.name, run: r })));
  t.deepEqual(all.filter((r) => /\bnpm ci\b/.test(r.run) && !/--omit=dev/.test(r.run)).map((r) => r.stage), ['build']);
  t.deepEqual(all.filter((r) => /\btsc -b\b/.test(r.run)).map((r) => r.stage), ['build']);
  // The package files are listed once, and both the build stage and the runtime base start from them.
  t.is(stageNamed('build')?.from, 'manifests');
  t.deepEqual(stageNamed('runtime')?.copies, ['--from=manifests /src/ ./']);
  const targets = [...Object.keys(components), 'bookinfo-productpage', 'bookinfo-details', 'bookinfo-ratings', 'bookinfo-reviews'];
  for (const name of targets) t.false(target(name).chain.some((s) => s.name === 'build' || s.name === 'manifests'), name);
});

test('the images in controller/manifests are the ones the Dockerfile builds', (t) => {
  const tags = new Set(Object.keys(components).map((p) => component(p).tag));
  const wanted = ['00-namespace.yaml', '10-controller-rbac.yaml', '20-controller.yaml', 'ztunnel.yaml']
    .flatMap((f) => [...read(`controller/manifests/${f}`).matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!));
  t.deepEqual(wanted.sort(), ['ambit/controller:0.1.0', 'ambit/ztunnel:0.1.0'].map((s) => s.replace('0.1.0', VERSION)));
  for (const image of wanted) t.true(tags.has(image), `${image} is built by a Dockerfile target (${[...tags].join(', ')})`);
});

test("the controller's rendered waypoint Deployment runs the image the Dockerfile's waypoint target builds", (t) => {
  t.deepEqual(renderedWaypointImages(), [component('waypoint').tag]);
});

test('Dockerfile has a target per Bookinfo service of the manifest, reviews with its build args', (t) => {
  const refs = [...read('samples/manifests/bookinfo.yaml').matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!);
  t.is(refs.length, 6);
  for (const ref of refs) {
    const [, svc, version] = /examples-bookinfo-(\w+)-(v\d+):/.exec(ref) ?? [];
    const stage = stageNamed(`bookinfo-${svc}`);
    t.truthy(stage, `a --target bookinfo-${svc} stage for ${ref}`);
    const image = target(`bookinfo-${svc}`);
    t.deepEqual(image.chain.map((s) => s.name), ['runtime', 'bookinfo', `bookinfo-${svc}`]);
    const [node, script = ''] = image.entrypoint ?? [];
    t.is(node, 'node');
    t.true(existsSync(join(repo, script)), `${script} exists after tsc -b`);
    t.is(image.user, 'node');
    // The documented build command tags this image; its build args are the ENV upstream's image of it carries.
    const line = dockerfile.comments.find((c) => c.includes(`--target bookinfo-${svc} `) && c.includes(`examples-bookinfo-${svc}-${version}:`));
    t.truthy(line, `a build command for ${ref}`);
    for (const [k, v] of Object.entries(svc === 'reviews' ? REVIEWS_ENV[version!]! : {})) {
      t.true(line!.includes(`--build-arg ${k}=${v} `), `${ref}: --build-arg ${k}=${v}`);
      t.true(stage!.args.has(k) && stage!.env.get(k) === `\${${k}}`, `bookinfo-${svc} stage: ARG and ENV ${k}`);
    }
  }
  // The samples have no runtime dependencies: their compiled code only, from the build stage.
  t.deepEqual(stageNamed('bookinfo')?.copies, ['--from=build /src/samples/dist samples/dist']);
  t.deepEqual(stageNamed('bookinfo')?.runs, []);
});

test('.dockerignore keeps node_modules, dist and the cluster state out of the build context', (t) => {
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
  for (const p of ['**/node_modules', '**/dist', '.ambit', '.git']) t.true(ignored.includes(p), p);
});

test('Dockerfile --target curl builds the curl client the sleep manifests run: ENTRYPOINT curl, non-root uid 100', (t) => {
  const refs = [...new Set(['sleep.yaml', 'notsleep.yaml'].flatMap((f) => [...read(`samples/manifests/${f}`).matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!)))];
  t.deepEqual(refs, ['curlimages/curl:8.16.0']);
  t.truthy(dockerfile.comments.find((c) => c.includes('docker build --target curl ') && c.endsWith(` -t ${refs[0]} .`)), 'the header builds it');
  const image = target('curl');
  // From plain Debian (no Node), with curl as ENTRYPOINT like the upstream image.
  t.deepEqual(image.chain.map((s) => s.from), ['${DEBIAN_IMAGE}']);
  t.deepEqual(image.entrypoint, ['curl']);
  t.is(image.user, '100:101');
  t.regex(image.chain[0]!.runs.join('\n'), /apt-get install .*\bcurl\b/);
});

test('Dockerfile --target test-tools builds one image with sh, python3, curl and nc for the tests\' pods', (t) => {
  const image = component('test-tools');
  t.is(image.tag, `ambit/test-tools:${VERSION}`);
  t.truthy(dockerfile.comments.find((c) => c.includes('docker build --target test-tools ') && c.endsWith(` -t ${image.tag} .`)), 'the header builds it');
  t.deepEqual(image.chain.map((s) => s.from), ['${DEBIAN_IMAGE}']);
  t.regex(image.chain[0]!.runs.join('\n'), /apt-get install .*\bpython3 curl ca-certificates netcat-openbsd\b/);
});

test('Dockerfile --target prometheus builds the image the Prometheus add-on runs: Prometheus from its Go module, non-root', (t) => {
  const refs = [...read('samples/addons/prometheus.yaml').matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!);
  const image = component('prometheus');
  t.deepEqual(refs, [image.tag]);
  t.is(image.tag, `ambit/prometheus:${VERSION}`);
  t.truthy(dockerfile.comments.find((c) => c.includes('docker build --target prometheus ') && c.endsWith(` -t ${image.tag} .`)), 'the header builds it');
  // Plain Debian (no Node, no Debian prometheus package: it lacks Kubernetes service discovery), the two binaries
  // from the prometheus-build stage, the server as ENTRYPOINT, nobody's uid as the upstream image.
  t.deepEqual(image.chain.map((s) => s.from), ['${DEBIAN_IMAGE}']);
  const own = image.chain[0]!;
  t.notRegex(own.runs.join('\n'), /apt-get install/);
  t.deepEqual(own.copies, ['--from=prometheus-build /prometheus /promtool /usr/bin/']);
  t.deepEqual(image.entrypoint, ['/usr/bin/prometheus']);
  t.is(image.user, '65534:65534');
  // prometheus-build is the two binaries alone, compiled by test/prometheus/build.sh in the Go image (Docker) ...
  const bins = stageNamed('prometheus-build')!;
  t.is(bins.from, 'scratch');
  t.deepEqual(bins.copies, ['--from=prometheus-go /out/ /']);
  const go = stageNamed('prometheus-go')!;
  t.is(go.from, '${GOLANG_IMAGE}');
  t.regex(dockerfile.globals.get('GOLANG_IMAGE') ?? '', /^golang:1\.26-/);
  t.regex(go.runs.join('\n'), /bash test\/prometheus\/build\.sh/);
  t.true(existsSync(join(repo, 'test/prometheus/go.mod')), 'the wrapper module it builds');
  // ... and the same script's output directory on the host when scripts/images.sh builds it under the add-on's name.
  const images = read('scripts/images.sh');
  t.regex(images, /^prometheus\|ambit\/prometheus:\$v\|$/m);
  t.regex(images, /bash "\$REPO\/test\/prometheus\/build\.sh"/);
  t.regex(images, /--build-context "prometheus-build=\$prom_bin"/);
});

test('the build secret for a CA bundle reaches only the npm ci steps, and the bases are build args', (t) => {
  t.is(dockerfile.globals.get('NODE_IMAGE'), 'node:24-bookworm-slim');
  t.is(dockerfile.globals.get('DEBIAN_IMAGE'), 'debian:bookworm-slim');
  const runs = dockerfile.stages.flatMap((s) => s.runs);
  const npm = runs.filter((r) => /\bnpm ci\b/.test(r));
  t.is(npm.length, 4);
  for (const r of npm) t.regex(r, /--mount=type=secret,id=extra-ca /);
  t.deepEqual(runs.filter((r) => r.includes('id=extra-ca')), npm);
  for (const s of dockerfile.stages) t.false(s.env.has('NODE_EXTRA_CA_CERTS'), `${s.name}: no ENV NODE_EXTRA_CA_CERTS`);
});
