// Sandbox teardowns that finish after terminate() has answered: the sandbox's init is killed first
// (its pid namespace, and every process in it, goes with it), then the slow part (crun delete,
// unmounts, veth removal) runs here. A create given a network slot still being torn down waits for
// it; a teardown that fails is retried once, and one the daemon never finished (it died) is
// finished by cleanupLeaks at the next start.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pidBelongsTo } from "./process-supervisor.js";

const RETRY_MS = 1000;

export class Teardowns {
  private readonly byId = new Map<string, Promise<void>>();
  private readonly bySlot = new Map<number, Promise<void>>();

  /** The teardown of sandbox `id` in flight, if any. */
  pending(id: string): Promise<void> | undefined {
    return this.byId.get(id);
  }

  /** Resolves once no teardown holds network slot `slot`. */
  async slotFree(slot: number | null): Promise<void> {
    if (slot !== null) await this.bySlot.get(slot);
  }

  /** Runs `teardown` in the background (retried once); it never rejects. */
  start(id: string, slot: number | null, teardown: () => Promise<void>): void {
    const done = teardown()
      .catch(() => new Promise((r) => setTimeout(r, RETRY_MS)).then(teardown))
      .catch(() => undefined)
      .finally(() => {
        if (this.byId.get(id) === done) this.byId.delete(id);
        if (slot !== null && this.bySlot.get(slot) === done) this.bySlot.delete(slot);
      });
    this.byId.set(id, done);
    if (slot !== null) this.bySlot.set(slot, done);
  }

  /** Waits for every teardown in flight (daemon shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.byId.values()]);
  }
}

/**
 * SIGKILLs the sandbox's init (crun's pid file), once it is checked to be in the sandbox's cgroup
 * (a pid can be reused). True when it was killed; false when there was nothing to kill.
 */
export async function killInit(sandboxDir: string, id: string): Promise<boolean> {
  const pid = Number((await readFile(join(sandboxDir, "state", "init.pid"), "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 1 || !(await pidBelongsTo(pid, id))) return false;
  try {
    process.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}
