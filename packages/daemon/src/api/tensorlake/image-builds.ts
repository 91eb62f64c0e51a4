// Image builds from the Tensorlake SDK (`Image.build()`, `createSandboxImage`) on sbx's own build
// service, with the SDK unchanged. The SDK's flow (research tensorlake-wire.md §7): prepare a
// template build (it sends the Dockerfile), create a builder sandbox from the image the answer
// names, upload the context into it, start `tl-rootfs-build --spec …` there and stream its output
// as the build log, read `metadata.json`, then complete the template build.
//
// sbx serves it this way, which needs no builder image and keeps the Dockerfile front end out of
// any sandbox: at prepare the daemon parses the Dockerfile (the front end in @sbx-sh/protocol) and
// plans the build (./build-plan.ts): the stages `COPY --from` needs, then the target. A build that
// takes no files from the context starts at once, so a base that cannot be built fails prepare
// before any builder sandbox exists. The builder is an ordinary sandbox of the default base. When
// the SDK starts `tl-rootfs-build` in it, the process route hands the start here: the spec names
// the prepared build; a build that COPYs from the context starts now, its files taken from the
// context the SDK has just unpacked there (./build-context.ts). Each image is a normal sbx build
// (cache, registry, events), stages registered as `<name>:stage-<label>`. A relay process (`cat`)
// in the builder sandbox (./builder-relay.ts) replays the builds' events as its output, so the SDK streams real build
// logs; the daemon writes `metadata.json` when the target is built and then closes the relay's
// stdin (exit 0, or 1 without metadata). Complete answers the registered image as the template.
import { SbxError, type DockerfileStep } from "@sbx-sh/protocol";
import type { BuildEvent } from "../../domain/build-events.js";
import type { ImageRecord, ProcessRecord } from "../../domain/records.js";
import type { Services } from "../../services/services.js";
import { builderStart, relayBuild, startRelay } from "./builder-relay.js";
import { contextOfStep } from "./build-context.js";
import { LogChannel } from "./log-channel.js";
import type { Pending } from "./pending-build.js";
import { planTlBuild, type TlBuildPlan } from "./build-plan.js";
import { PURGE_LIMITS, toPurge, type PurgeLimits } from "./build-purge.js";
import { toDefinition } from "./build-steps.js";
import { sbxImageName } from "./lifecycle.js";

/** The builder sandbox's image: any image with sh, tar and gzip (the SDK untars the context). */
export const BUILDER_IMAGE = "debian-minimal";

const where = (s: DockerfileStep): string => `${s.source.file}:${s.source.line}`;

/** One build event as the lines of build log the SDK prints. */
function logLines(e: BuildEvent): string {
  if (e.type === "step") return `#${e.step}/${e.total} ${e.text}${e.cached ? " (cached)" : ""}\n`;
  if (e.type === "log") return e.data.endsWith("\n") ? e.data : `${e.data}\n`;
  if (e.type === "done")
    return e.image
      ? `built ${e.image.name}:${e.image.tag} (${e.image.id})\n`
      : `build failed: ${e.build.failure?.message ?? ""}\n`;
  return "";
}

export class TlImageBuilds {
  private readonly pending = new Map<string, Pending>();
  /** Runs while builds are held (./build-purge.ts); unref'd, it never keeps the daemon alive. */
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly s: Services,
    private readonly limits: PurgeLimits = PURGE_LIMITS,
  ) {}

  /** How many builds are held in memory (tests and the purge read it). */
  get held(): number {
    return this.pending.size;
  }

  /** Drops abandoned builds (./build-purge.ts); a dropped build that never started is failed in the store. */
  async purge(now = Date.now()): Promise<number> {
    const drop = toPurge(
      [...this.pending.entries()].map(([id, p]) => ({ ...p, id })),
      now,
      this.limits,
    );
    for (const { id, reason } of drop) {
      const p = this.pending.get(id)!;
      this.pending.delete(id);
      if (reason === undefined) continue;
      this.abandon(p, reason);
      p.log.push(`build failed: ${reason}\n`);
      p.log.close();
      p.settle.reject(new SbxError("failed_precondition", reason));
      await this.s.templateBuilds.failed(p.buildId, reason).catch(() => undefined);
    }
    if (this.pending.size === 0) this.stopTimer();
    return drop.length;
  }

  private hold(p: Pending): void {
    this.pending.set(p.buildId, p);
    if (this.timer) return;
    this.timer = setInterval(() => void this.purge().catch(() => undefined), this.limits.everyMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Plans the build and, when it needs no context, starts it; its errors are the prepare call's. */
  async prepare(project: string, name: string, dockerfile: string): Promise<Pending> {
    const plan = planTlBuild(name, dockerfile);
    await this.checkImageSources(project, plan);
    const rec = await this.s.templateBuilds.create(project, name);
    let settle!: Pending["settle"];
    const image = new Promise<ImageRecord>((resolve, reject) => (settle = { resolve, reject }));
    image.catch(() => undefined);
    const p: Pending = {
      project,
      buildId: rec.id,
      plan,
      log: new LogChannel(),
      image,
      settle,
      started: false,
      preparedAt: Date.now(),
    };
    if (!plan.usesContext) await this.start(p, undefined);
    this.hold(p);
    return p;
  }

  /** `COPY --from=<x>` where x is no stage must name an image of the project (or a base), now. */
  private async checkImageSources(project: string, plan: TlBuildPlan): Promise<void> {
    const stages = new Set(plan.images.map((i) => `${i.name}:${i.tag}`));
    for (const img of plan.images)
      for (const step of img.steps)
        if (step.op === "copy_from" && !stages.has(step.image))
          await this.s.images.resolve(project, sbxImageName(step.image) ?? step.image).catch((err: unknown) => {
            throw new SbxError(
              "invalid_argument",
              `${where(step)}: COPY --from=${step.image}: no earlier stage has that name and the project has no such image (${err instanceof Error ? err.message : String(err)})`,
            );
          });
  }

  /**
   * Runs the plan's builds one after the other; resolves once the first has been created (so
   * its errors, such as an unbuildable base, are the caller's), the rest goes on behind.
   */
  private start(p: Pending, sandbox: string | undefined): Promise<void> {
    p.started = true;
    // Store updates in order (with PostgreSQL, two in flight could land the other way round).
    let chain = Promise.resolve();
    const record = (update: () => Promise<void>) => (chain = chain.then(update).catch(() => undefined));
    let building = false;
    return new Promise<void>((created, failed) => {
      const all = this.runAll(p, sandbox, () => {
        if (!building) void record(() => this.s.templateBuilds.building(p.buildId));
        building = true;
        created();
      });
      all.then(
        async (image) => {
          // Recorded before complete can answer, so a restart right after still finds it built.
          await record(() => this.s.templateBuilds.succeeded(p.buildId, image.id));
          p.settledAt = Date.now();
          p.settle.resolve(image);
        },
        async (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          p.log.push(`build failed: ${message}\n`);
          await record(() => this.s.templateBuilds.failed(p.buildId, message));
          p.settledAt = Date.now();
          p.settle.reject(err);
          failed(err);
        },
      );
      void all.finally(() => p.log.close()).catch(() => undefined);
    });
  }

  private async runAll(p: Pending, sandbox: string | undefined, created: () => void): Promise<ImageRecord> {
    let image: ImageRecord | undefined;
    const last = p.plan.images.length - 1;
    for (const [k, planned] of p.plan.images.entries()) {
      if (p.abandoned) throw new SbxError("failed_precondition", p.abandoned);
      if (last > 0)
        p.log.push(`building ${planned.name}:${planned.tag}${k < last ? " first: COPY --from needs it" : ""}\n`);
      const definition = await toDefinition(planned, (step, j) => {
        if (!sandbox) throw new SbxError("failed_precondition", `${where(step)}: no build context was uploaded`);
        p.log.push(`taking ${step.src.join(" ")} from the build context (${where(step)})\n`);
        return contextOfStep(this.s, p.project, sandbox, step, `${k}-${j}`, where(step));
      });
      const build = await this.s.builds.create(p.project, {
        definition,
        registeredName: planned.name,
        tag: planned.tag,
        replace: true,
      });
      p.current = build.id;
      created();
      image = await this.follow(p, build.id).catch((err: unknown) => {
        throw p.abandoned ? new SbxError("failed_precondition", p.abandoned) : err;
      });
    }
    return image!;
  }

  /** Relays one build's events to the log; answers its image, or throws its failure. */
  private async follow(p: Pending, buildId: string): Promise<ImageRecord> {
    for await (const e of this.s.builds.events(p.project, buildId, true)) {
      p.log.push(logLines(e));
      if (e.type === "done") {
        if (e.image) return e.image;
        throw new SbxError("failed_precondition", `build ${buildId} failed: ${e.build.failure?.message ?? "unknown"}`);
      }
    }
    throw new SbxError("failed_precondition", `build ${buildId} ended without a result`);
  }

  private abandon(p: Pending, reason: string): void {
    p.abandoned ??= reason;
    if (p.current) void this.s.builds.cancel(p.project, p.current).catch(() => undefined);
  }

  /** Completed: the SDK is done with it (abandoned ones are purged on a timer). */
  forget(buildId: string): void {
    this.pending.delete(buildId);
    if (this.pending.size === 0) this.stopTimer();
  }

  /** A build this daemon is running; one it no longer runs (finished, or from before a restart) fails with its state. */
  async get(project: string, buildId: string): Promise<Pending> {
    const p = this.pending.get(buildId);
    if (p && p.project === project) return p;
    const rec = await this.s.templateBuilds.get(project, buildId);
    throw new SbxError(
      "failed_precondition",
      rec.state === "succeeded"
        ? `template build ${buildId} has already finished: start a new build`
        : `template build ${buildId} failed: ${rec.failure ?? "unknown"}`,
    );
  }

  /** Complete: the registered image, from the running build or from the store. */
  async result(project: string, buildId: string): Promise<ImageRecord> {
    const p = this.pending.get(buildId);
    if (p && p.project === project) {
      const image = await p.image;
      this.forget(buildId);
      return image;
    }
    const rec = await this.s.templateBuilds.get(project, buildId);
    if (rec.state !== "succeeded" || !rec.imageId)
      throw new SbxError("failed_precondition", `template build ${buildId} failed: ${rec.failure ?? rec.state}`);
    const entry = await this.s.images.inspect(project, rec.name).catch(() => undefined);
    if (entry?.kind !== "built" || entry.image.id !== rec.imageId)
      throw new SbxError("failed_precondition", `the image template build ${buildId} made was replaced or deleted`);
    return entry.image;
  }

  /**
   * `tl-rootfs-build` started in a builder sandbox (./builder-relay.ts): undefined when `command` is
   * anything else. The spec it names must be a build this project prepared.
   */
  async startBuilder(
    project: string,
    sandbox: string,
    command: string,
    args: string[],
  ): Promise<ProcessRecord | undefined> {
    const named = await builderStart(this.s, project, sandbox, command, args);
    if (!named) return undefined;
    const p = await this.get(project, named.buildId);
    const relay = await startRelay(this.s, project, sandbox, named.metadataPath);
    // The context is in the builder sandbox now: a build that copies from it starts here.
    p.attached = true;
    if (!p.started) void this.start(p, sandbox).catch(() => undefined);
    void relayBuild(this.s, p, sandbox, relay, named.metadataPath, (reason) => this.abandon(p, reason)).catch(
      () => undefined,
    );
    return relay;
  }
}
