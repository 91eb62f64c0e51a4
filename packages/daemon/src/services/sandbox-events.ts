// Lifecycle events of sandboxes, for the services that hold something per sandbox (processes,
// terminals, port connections, suspend snapshots). The lifecycle service emits them; the others
// subscribe when they are constructed, so the lifecycle needs to know none of them. Listeners run
// one after another and are awaited: when emit() returns, everyone has let go of the sandbox.
import type { SandboxRecord } from "../domain/records.js";

export interface SandboxEventMap {
  /** Terminated (asked for, timed out, failed to start, or found dead): nothing of it is left on the host. */
  ended: SandboxRecord;
  /** Suspended: its processes, network and container are gone; its record and snapshot stay for a resume. */
  suspended: SandboxRecord;
}

export type SandboxEvent = keyof SandboxEventMap;
export type SandboxListener<E extends SandboxEvent> = (sandbox: SandboxEventMap[E]) => void | Promise<void>;

export class SandboxEvents {
  private readonly listeners: { [E in SandboxEvent]: Array<SandboxListener<E>> } = { ended: [], suspended: [] };

  on<E extends SandboxEvent>(event: E, listener: SandboxListener<E>): void {
    this.listeners[event].push(listener);
  }

  /** Either way the sandbox is gone from the host: for what must let go of it in both cases. */
  onGone(listener: SandboxListener<SandboxEvent>): void {
    this.on("ended", listener);
    this.on("suspended", listener);
  }

  /** Runs the listeners in the order they subscribed; a listener's error stops the rest and is thrown. */
  async emit<E extends SandboxEvent>(event: E, sandbox: SandboxEventMap[E]): Promise<void> {
    for (const listener of [...this.listeners[event]]) await listener(sandbox);
  }
}
