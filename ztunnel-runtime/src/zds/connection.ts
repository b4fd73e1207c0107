// One connected SEQPACKET socket: whole messages in (with any fds that came along), whole messages out, and one
// close notification. Reading is driven by the Poller; every call on the fd is non-blocking.
import type { Poller } from './poller.js';
import { MAX_MESSAGE_BYTES } from './protocol.js';
import { recvMessage, sendMessage } from './sys.js';

export interface Frame {
  data: Buffer;
  /** Received fds; the handler owns them (close what it does not keep). */
  fds: number[];
  /** Longer than MAX_MESSAGE_BYTES: `data` holds only the start. */
  truncated: boolean;
}

export interface ConnectionHandlers {
  onFrame(frame: Frame): void;
  /** Called once, when the peer hangs up, a call fails, or `close()` is called (`reason` undefined). */
  onClose(reason?: string): void;
}

export class SeqpacketConnection {
  #open = true;

  constructor(
    readonly fd: number,
    private readonly poller: Poller,
    private readonly handlers: ConnectionHandlers,
  ) {
    poller.watch(fd, () => this.#readable());
  }

  get open(): boolean {
    return this.#open;
  }

  /** Sends one message; on failure the connection is closed (reason in onClose) and false is returned. */
  send(data: Buffer, fds: number[] = []): boolean {
    if (!this.#open) return false;
    try {
      sendMessage(this.fd, data, fds);
      return true;
    } catch (e) {
      this.#end((e as Error).message);
      return false;
    }
  }

  close(): void {
    this.#end(undefined);
  }

  #end(reason: string | undefined): void {
    if (!this.#open) return;
    this.#open = false;
    this.poller.unwatchAndClose(this.fd);
    this.handlers.onClose(reason);
  }

  #readable(): void {
    while (this.#open) {
      let r;
      try {
        r = recvMessage(this.fd, MAX_MESSAGE_BYTES);
      } catch (e) {
        this.#end((e as Error).message);
        return;
      }
      if (r.kind === 'again') return;
      if (r.kind === 'eof') {
        this.#end('peer closed the connection');
        return;
      }
      this.handlers.onFrame(r);
    }
  }
}
