// A few blank sandboxes of the default image kept running, so that `create` only has to apply
// limits and attach a network instead of mounting and starting a container: the difference
// between ~25 ms and ~65 ms to a usable sandbox. Blanks are not in the store; a restarted
// daemon's reconcile removes the old ones and the pool fills again.
import { newId } from "../common/names.js";
import { LIMITS } from "../api/schemas.js";
import type { SandboxRuntime, SandboxSpec } from "../runtime/runtime.js";
import type { ImageService, ResolvedImage } from "./images.js";
import type { Logger } from "./sandbox-service.js";

export interface Blank {
  spec: SandboxSpec;
  image: ResolvedImage;
}

export class WarmPool {
  private readonly ready: Blank[] = [];
  private filling: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly runtime: SandboxRuntime,
    private readonly images: ImageService,
    readonly size: number,
    private readonly log: Logger,
    private readonly baseEnv: (image: ResolvedImage) => string[],
  ) {}

  get available(): number {
    return this.ready.length;
  }

  /** Takes a blank of this image (by id, so a rebuilt base is never served stale), if one is ready. */
  take(imageId: string): Blank | undefined {
    const i = this.ready.findIndex((b) => b.image.id === imageId);
    if (i < 0) return undefined;
    const [blank] = this.ready.splice(i, 1);
    this.refill();
    return blank;
  }

  /** Starts filling in the background; creating blanks one at a time keeps the host responsive. */
  refill(): void {
    if (this.size <= 0 || this.closed || this.filling) return;
    this.filling = this.fill()
      .catch((err: unknown) => this.log.warn({ err }, "warm pool could not create a sandbox"))
      .finally(() => (this.filling = undefined));
  }

  private async fill(): Promise<void> {
    while (!this.closed && this.ready.length < this.size) {
      const image = await this.images.resolve("default", undefined);
      if (image.config.systemd) return;
      const id = newId("sb");
      const spec: SandboxSpec = {
        id,
        lowers: image.lowers,
        hostname: id,
        env: this.baseEnv(image),
        workingDir: image.config.workingDir || "/",
        cpus: LIMITS.cpus.default,
        memoryMb: LIMITS.memoryMb.default,
        pidsLimit: LIMITS.pids.default,
        diskMb: LIMITS.diskMb.default,
        netSlot: null,
      };
      await this.runtime.create(spec);
      if (this.closed) await this.runtime.destroy(id, null);
      else this.ready.push({ spec, image });
    }
  }

  /** Destroys the blanks (daemon shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    await this.filling;
    for (const b of this.ready.splice(0)) await this.runtime.destroy(b.spec.id, null).catch(() => undefined);
  }
}
