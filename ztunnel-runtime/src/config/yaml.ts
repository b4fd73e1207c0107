// YAML in the ztunnel, loaded only when a YAML file is read: the `yaml` package costs ~8 MB of RSS for the life of
// the process, and the DaemonSet's shared mode reads no YAML (its config is the environment).
import { createRequire } from 'node:module';

type YamlModule = typeof import('yaml');
let yaml: YamlModule | undefined;

export function parseYaml(text: string): ReturnType<YamlModule['parse']> {
  // JSON is YAML: a JSON document (a common way to write these files) needs no parser loaded.
  if (/^\s*[{[]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON after all: the YAML parser reads it, and names what is wrong
    }
  }
  yaml ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return yaml.parse(text);
}

export type FlatValue = string | number | boolean | undefined;

const RESERVED = /^(true|false|yes|no|on|off|null|y|n|~)$/i;

/** A flat map as block YAML, one `key: value` a line (undefined values left out), without loading the parser. */
export function flatYaml(fields: Record<string, FlatValue>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    lines.push(`${k}: ${typeof v === 'string' ? scalar(v) : String(v)}`);
  }
  return lines.join('\n');
}

/** Plain when YAML reads it back as this same string; else double-quoted (JSON's escapes are YAML's). */
function scalar(s: string): string {
  const plain = /^[A-Za-z0-9_./@-][A-Za-z0-9_./:@-]*$/.test(s) && !s.endsWith(':') && !RESERVED.test(s) && Number.isNaN(Number(s));
  return plain ? s : JSON.stringify(s);
}
