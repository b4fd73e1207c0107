// The contract between the virtual node's pod runner and the kubelet HTTPS server (test/cluster/src/kubelet):
// `kubectl exec` and `kubectl logs` reach a container through it.

export interface ContainerRef {
  namespace: string;
  pod: string;
  container: string;
}

export interface ExecIO {
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  tty: boolean;
}

export interface LogOptions {
  follow: boolean;
  tailLines?: number;
  previous: boolean;
  timestamps: boolean;
  sinceSeconds?: number;
  limitBytes?: number;
}

export interface ContainerRuntime {
  /** Run `command` in the container's network, mount and UTS namespaces with its environment; resolves to the exit code. */
  exec(ref: ContainerRef, command: string[], io: ExecIO): Promise<number>;
  /** The container's log (stdout and stderr, in order). Rejects with a NotFoundError naming the pod/container. */
  logs(ref: ContainerRef, opts: LogOptions): Promise<NodeJS.ReadableStream>;
  /**
   * Optional (`kubectl port-forward`): a byte stream to 127.0.0.1:`port` inside the pod's network namespace, as
   * the kubelet does. Rejects with a NotFoundError for an unknown pod. Ending the writable side closes the connection.
   */
  portForward?(ref: { namespace: string; pod: string }, port: number): Promise<NodeJS.ReadWriteStream>;
}

/** The pod, container or log (e.g. `--previous` of a container that never restarted) does not exist on this node. */
export class NotFoundError extends Error {
  readonly code = 404;
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The container exists but cannot serve the request now (not running, for exec). */
export class ContainerNotRunningError extends Error {
  readonly code = 400;
  constructor(message: string) {
    super(message);
    this.name = 'ContainerNotRunningError';
  }
}
