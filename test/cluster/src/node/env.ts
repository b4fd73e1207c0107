// A container's environment: envFrom, env (value, fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef),
// $(VAR) expansion, and the variables every container gets (KUBERNETES_SERVICE_*, HOSTNAME).
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { podFieldValue, resourceFieldValue, type PodRuntimeInfo } from './fieldpath.js';

/** ConfigMap and Secret data by name in the pod's namespace (secret values already decoded); undefined = absent. */
export interface DataLookup {
  configMap(name: string): Promise<Record<string, string> | undefined>;
  secret(name: string): Promise<Record<string, string> | undefined>;
  /** Services of the pod's namespace, for the docker-link style variables (enableServiceLinks). */
  services?(): Promise<ServiceInfo[]>;
}

export interface ServiceInfo {
  name: string;
  clusterIP?: string;
  ports: Array<{ name?: string; port: number; protocol?: string }>;
}

/** FOO_SERVICE_HOST, FOO_SERVICE_PORT, FOO_PORT_80_TCP, ... for every service with a cluster IP (kubelet envvars.go). */
export function serviceLinkEnv(services: ServiceInfo[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of services) {
    if (!s.clusterIP || s.clusterIP === 'None' || s.ports.length === 0) continue;
    const name = s.name.toUpperCase().replace(/-/g, '_');
    const ip = s.clusterIP;
    const first = s.ports[0]!;
    env[`${name}_SERVICE_HOST`] = ip;
    env[`${name}_SERVICE_PORT`] = String(first.port);
    for (const p of s.ports) if (p.name) env[`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    env[`${name}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`;
    for (const p of s.ports) {
      const proto = (p.protocol ?? 'TCP').toUpperCase();
      const prefix = `${name}_PORT_${p.port}_${proto}`;
      env[prefix] = `${proto.toLowerCase()}://${ip}:${p.port}`;
      env[`${prefix}_PROTO`] = proto.toLowerCase();
      env[`${prefix}_PORT`] = String(p.port);
      env[`${prefix}_ADDR`] = ip;
    }
  }
  return env;
}

/** A container config problem the kubelet reports as CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  readonly reason = 'CreateContainerConfigError';
}

const validEnvName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** Kubernetes' $(VAR) expansion: known names are replaced, `$$` escapes, unknown references stay as written. */
export function expandVars(input: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = input.indexOf(')', i + 2);
      if (end < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, end);
      out += Object.hasOwn(vars, name) ? vars[name] : `$(${name})`;
      i = end;
    } else {
      out += ch;
    }
  }
  return out;
}

export function serviceEnv(): Record<string, string> {
  return {
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
  };
}

/** The container's own variables, in order (without the base environment). */
export async function resolveEnv(
  pod: V1Pod,
  container: V1Container,
  info: PodRuntimeInfo,
  lookup: DataLookup,
): Promise<Record<string, string>> {
  const links = pod.spec?.enableServiceLinks !== false && lookup.services ? serviceLinkEnv(await lookup.services()) : {};
  const env: Record<string, string> = { ...links, ...serviceEnv() };
  for (const src of container.envFrom ?? []) {
    const prefix = src.prefix ?? '';
    if (src.configMapRef) {
      const data = await lookup.configMap(src.configMapRef.name!);
      if (!data) {
        if (src.configMapRef.optional) continue;
        throw new ContainerConfigError(`configmap "${src.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(data)) if (validEnvName.test(prefix + k)) env[prefix + k] = v;
    } else if (src.secretRef) {
      const data = await lookup.secret(src.secretRef.name!);
      if (!data) {
        if (src.secretRef.optional) continue;
        throw new ContainerConfigError(`secret "${src.secretRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(data)) if (validEnvName.test(prefix + k)) env[prefix + k] = v;
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined || !e.valueFrom) {
      env[e.name] = expandVars(e.value ?? '', env);
      continue;
    }
    const from = e.valueFrom;
    if (from.fieldRef) {
      env[e.name] = podFieldValue(pod, from.fieldRef.fieldPath, info);
    } else if (from.resourceFieldRef) {
      const target = from.resourceFieldRef.containerName
        ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === from.resourceFieldRef!.containerName)
        : container;
      env[e.name] = resourceFieldValue(target, from.resourceFieldRef.resource, from.resourceFieldRef.divisor as string | undefined);
    } else if (from.configMapKeyRef) {
      const ref = from.configMapKeyRef;
      const data = await lookup.configMap(ref.name!);
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(data ? `couldn't find key ${ref.key} in ConfigMap ${pod.metadata?.namespace}/${ref.name}` : `configmap "${ref.name}" not found`);
      }
      env[e.name] = value;
    } else if (from.secretKeyRef) {
      const ref = from.secretKeyRef;
      const data = await lookup.secret(ref.name!);
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(data ? `couldn't find key ${ref.key} in Secret ${pod.metadata?.namespace}/${ref.name}` : `secret "${ref.name}" not found`);
      }
      env[e.name] = value;
    }
  }
  return env;
}

/** command and args with $(VAR) references expanded against the container's environment. */
export function expandArgv(argv: string[], env: Record<string, string>): string[] {
  return argv.map((a) => expandVars(a, env));
}
