// The controller process is a set of components with start/stop, built and wired in src/control-plane.ts.
// Components marked leaderOnly run only on the replica holding the leader Lease; the others (servers such as the
// CA or the config push) run on every replica.

export interface Component {
  name: string;
  /** Run only while this replica is the elected leader. */
  leaderOnly?: boolean;
  /** Starts the component; `signal` aborts when it must stop (leadership lost or shutdown). */
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
  /** Optional readiness for /ready. */
  ready?(): boolean;
}
