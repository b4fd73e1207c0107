// The add-ons `ambit install --addons <name>` applies, as Istio ships samples/addons/<name>.yaml: their names (so a
// wrong one is refused before the cluster is contacted) and their objects, read from the repository's samples.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../kube/resources.js';

/** The add-ons there is a manifest for, in install order. */
export const ADDONS = ['prometheus'] as const;
export type AddonName = (typeof ADDONS)[number];

/** samples/addons at the repository root (from controller/dist/src/install). */
export const ADDON_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'samples', 'addons');

export class AddonError extends Error {}

export function isAddon(name: string): name is AddonName {
  return (ADDONS as readonly string[]).includes(name);
}

/** The objects of the add-ons asked for, in ADDONS order whatever order they were given in. */
export function renderAddons(names: readonly string[], dir = ADDON_DIR): KubeObject[] {
  return ADDONS.filter((a) => names.includes(a)).flatMap((a) => readAddon(a, dir));
}

function readAddon(name: AddonName, dir: string): KubeObject[] {
  const path = join(dir, `${name}.yaml`);
  if (!existsSync(path)) throw new AddonError(`add-on ${name}: ${path} is missing: run ambit from a checkout of the repository (samples/addons)`);
  const objs: KubeObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
    if (doc.errors.length) throw new AddonError(`add-on ${name}: ${path}: ${doc.errors[0]!.message}`);
    const o = doc.toJSON() as KubeObject | null;
    if (o && o.kind) objs.push(o);
  }
  return objs;
}
