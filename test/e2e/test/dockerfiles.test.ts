// The container build files (*/Dockerfile): each image's ENTRYPOINT names a file `tsc -b` makes, the same script
// the local cluster runs for that image (test/cluster/images.json), and the tags they are built as are the
// images the manifests and the controller's rendered waypoint Deployment ask for.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION, renderWaypoint, type Gateway } from '@ambit/controller';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const read = (p: string) => readFileSync(join(repo, p), 'utf8');

interface Stage {
  name?: string;
  entrypoint?: string[];
  args: Map<string, string>;
  env: Map<string, string>;
  labels: Map<string, string>;
  user?: string;
}

/** The stages of a Dockerfile, with what this test looks at (continuation lines joined, comments dropped). */
function parse(text: string): { stages: Stage[]; comments: string[] } {
  const comments = text.split('\n').filter((l) => l.startsWith('#'));
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  const pairs = (s: string) => [...s.matchAll(/([\w.-]+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')] as const);
  for (const line of lines) {
    const [, instr = '', rest = ''] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    const cur = stages.at(-1);
    switch (instr.toUpperCase()) {
      case 'FROM':
        stages.push({ name: /\sAS\s+(\S+)/i.exec(rest)?.[1], args: new Map(), env: new Map(), labels: new Map() });
        break;
      case 'ENTRYPOINT':
        if (cur) cur.entrypoint = JSON.parse(rest) as string[];
        break;
      case 'ARG': {
        const [k, v = ''] = rest.split('=');
        cur?.args.set(k!, v);
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
    }
  }
  return { stages, comments };
}

interface ImageEntry {
  image: string;
  env?: Record<string, string>;
  run: { kind: string; script?: string };
}
const images = (JSON.parse(read('test/cluster/images.json')) as { images: ImageEntry[] }).images;
const glob = (g: string) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
/** The local cluster's entry for an image reference (its repository, tag and docker.io/ prefixes dropped). */
function localEntry(ref: string): ImageEntry | undefined {
  const repoName = ref.replace(/[:@][^/]*$/, '').replace(/^docker\.io\/(library\/)?/, '');
  return images.find((e) => glob(e.image).test(repoName));
}

/** The published image of each component Dockerfile: its final stage, tagged `<ref.name>:<VERSION>`. */
function component(path: string) {
  const { stages } = parse(read(path));
  const final = stages.at(-1)!;
  const name = final.labels.get('org.opencontainers.image.ref.name');
  return { final, stages, tag: `${name}:${final.args.get('VERSION')}` };
}

const components = { 'controller/Dockerfile': 'ambit/controller', 'ztunnel-runtime/Dockerfile': 'ambit/ztunnel', 'waypoint-runtime/Dockerfile': 'ambit/waypoint' };

for (const [path, name] of Object.entries(components)) {
  test(`${path} builds ${name}:${VERSION}, multi-stage, and its ENTRYPOINT is what the local cluster runs`, (t) => {
    const { final, stages, tag } = component(path);
    t.is(tag, `${name}:${VERSION}`);
    t.true(stages.length >= 2, 'a builder stage and a runtime stage');
    const [node, script] = final.entrypoint ?? [];
    t.is(node, 'node');
    t.true(existsSync(join(repo, script!)), `${script} exists after tsc -b`);
    t.is(localEntry(tag)?.run.script, script);
    // Only ztunnel runs as root (setns, iptables): the header says why.
    if (name === 'ambit/ztunnel') {
      t.is(final.user, undefined);
      t.regex(read(path), /root/);
    } else t.is(final.user, 'node');
  });
}

test('the images in controller/manifests are the components Dockerfiles build', (t) => {
  const tags = new Set(Object.keys(components).map((p) => component(p).tag));
  const wanted = ['00-namespace.yaml', '10-controller-rbac.yaml', '20-controller.yaml', 'ztunnel.yaml']
    .flatMap((f) => [...read(`controller/manifests/${f}`).matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!));
  t.deepEqual(wanted.sort(), ['ambit/controller:0.1.0', 'ambit/ztunnel:0.1.0'].map((s) => s.replace('0.1.0', VERSION)));
  for (const image of wanted) t.true(tags.has(image), `${image} is built by a Dockerfile (${[...tags].join(', ')})`);
});

test("the controller's rendered waypoint Deployment runs the image waypoint-runtime/Dockerfile builds", (t) => {
  const gw: Gateway = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'default', uid: 'u1' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
  };
  const dep = renderWaypoint(gw, { version: VERSION }).deployment as unknown as { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
  t.deepEqual(dep.spec.template.spec.containers.map((c) => c.image), [component('waypoint-runtime/Dockerfile').tag]);
});

test('samples/Dockerfile has a target per Bookinfo service of the manifest, reviews with its build args', (t) => {
  const { stages, comments } = parse(read('samples/Dockerfile'));
  const refs = [...read('samples/manifests/bookinfo.yaml').matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!);
  t.is(refs.length, 6);
  for (const ref of refs) {
    const [, svc, version] = /examples-bookinfo-(\w+)-(v\d+):/.exec(ref) ?? [];
    const stage = stages.find((s) => s.name === svc);
    t.truthy(stage, `a --target ${svc} stage for ${ref}`);
    const script = stage!.entrypoint?.[1];
    t.is(stage!.entrypoint?.[0], 'node');
    t.true(existsSync(join(repo, script!)), `${script} exists after tsc -b`);
    const local = localEntry(ref)!;
    t.is(local.run.script, script, ref);
    // The documented build command tags this image; its build args are the ENV the local cluster gives it.
    const line = comments.find((c) => c.includes(`--target ${svc} `) && c.includes(`examples-bookinfo-${svc}-${version}:`));
    t.truthy(line, `a build command for ${ref}`);
    for (const [k, v] of Object.entries(local.env ?? {})) {
      t.true(line!.includes(`--build-arg ${k}=${v} `), `${ref}: --build-arg ${k}=${v}`);
      t.true(stage!.args.has(k) && stage!.env.get(k) === `\${${k}}`, `${svc} stage: ARG and ENV ${k}`);
    }
  }
  t.is(stages.find((s) => s.name === 'base')?.user, 'node');
});

test('.dockerignore keeps node_modules, dist and the cluster state out of the build context', (t) => {
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
  for (const p of ['**/node_modules', '**/dist', '.ambit', '.git']) t.true(ignored.includes(p), p);
});
