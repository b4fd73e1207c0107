// Readiness for raw fds Node does not manage (SEQPACKET sockets): one poll(2) at a time on libuv's thread pool
// (koffi `.async`), results delivered on the main thread, where the owner does non-blocking accept/recvmsg until
// EAGAIN. The event loop never blocks and nothing spins: while nothing happens, one pool thread sleeps in poll().
// An eventfd is always in the set so that watching a new fd or closing a watched one interrupts the pending poll;
// fds are only closed once no poll holds them (a closed fd number could be reused while the pool thread polls it).
// With no fds watched no poll is pending, so an idle Poller does not keep the process alive.
// One Poller per process (`Poller.shared`): each pending poll pins one of libuv's 4 default pool threads, which fs,
// dns.lookup and crypto also use, so every ZDS endpoint in a process shares a single one.
import { POLLIN, closeFd, createEventFd, drainEventFd, pollAsync, signalEventFd } from './sys.js';

export class Poller {
  static #shared: Poller | undefined;
  /** The process-wide poller every ZdsServer / ZdsClient uses. */
  static get shared(): Poller {
    return (Poller.#shared ??= new Poller());
  }

  readonly #watched = new Map<number, () => void>();
  readonly #toClose: number[] = [];
  #wake = -1;
  #inFlight = false;
  #woken = false;

  /** Calls `onReadable` (on the main thread) whenever `fd` is readable or hung up, until `unwatch(fd)`. */
  watch(fd: number, onReadable: () => void): void {
    this.#watched.set(fd, onReadable);
    this.#kick();
  }

  /** Stops watching `fd` and closes it (now, or as soon as the pending poll returns). */
  unwatchAndClose(fd: number): void {
    this.#watched.delete(fd);
    if (this.#inFlight) {
      this.#toClose.push(fd);
      this.#interrupt();
    } else {
      closeFd(fd);
    }
  }

  get watching(): number {
    return this.#watched.size;
  }

  #interrupt(): void {
    if (this.#woken || this.#wake < 0) return;
    this.#woken = true;
    signalEventFd(this.#wake);
  }

  #kick(): void {
    if (this.#inFlight) {
      this.#interrupt(); // the pending poll does not have the new fd yet
      return;
    }
    if (this.#watched.size === 0) {
      if (this.#wake >= 0) closeFd(this.#wake);
      this.#wake = -1;
      return;
    }
    if (this.#wake < 0) this.#wake = createEventFd();
    const fds = [this.#wake, ...this.#watched.keys()];
    const pollfds = Buffer.alloc(8 * fds.length);
    fds.forEach((fd, i) => {
      pollfds.writeInt32LE(fd, 8 * i);
      pollfds.writeInt16LE(POLLIN, 8 * i + 4);
    });
    this.#inFlight = true;
    pollAsync(pollfds, fds.length, (err) => {
      this.#inFlight = false;
      if (this.#woken) {
        drainEventFd(this.#wake);
        this.#woken = false;
      }
      for (const fd of this.#toClose.splice(0)) closeFd(fd);
      if (!err) {
        for (let i = 1; i < fds.length; i++) {
          if (pollfds.readInt16LE(8 * i + 6) === 0) continue; // revents: POLLIN, POLLHUP, POLLERR all mean "look"
          const cb = this.#watched.get(fds[i]!);
          try {
            cb?.();
          } catch (e) {
            process.emitWarning(`zds poller: handler for fd ${fds[i]} threw: ${(e as Error).message}`);
          }
        }
      }
      if (this.#inFlight) return;
      // A failed async call (never seen) is retried after a pause rather than in a tight loop.
      if (err) setTimeout(() => this.#inFlight || this.#kick(), 100).unref();
      else this.#kick();
    });
  }
}
