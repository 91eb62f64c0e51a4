// A file-changing step run in a build sandbox (RUN, and COPY, ADD, COPY --from and WORKDIR when
// the daemon cannot write them itself): its command, its output capped, and its layer captured
// from the sandbox's writable layer. A failure becomes a StepFailure with what a user needs to fix it.
import { mergeEnv, SbxError, toSbxError, type ErrorCode, type Step } from "@sbx-sh/protocol";
import { HELPER_BUSYBOX as BB } from "../runtime/runtime.js";
import type { ImageRecord } from "../domain/records.js";
import type { BuilderDeps, BuildOptions } from "./builder.js";
import { COPY_SCRIPT, CONTEXT_DIR, copyArgs } from "./copy-step.js";
import { stageImageFiles, type SourceImage } from "./copy-from.js";
import { StepOutput } from "./step-output.js";
import type { BuildSession } from "./build-session.js";

type ImageConfig = ImageRecord["config"];

/** A step that failed, with what a user needs to fix it. */
export class StepFailure extends Error {
  constructor(
    readonly step: number,
    readonly stepDef: Step,
    readonly exitCode: number | null,
    message: string,
    readonly lastLines: string[],
    /** The error code when the step failed outside its command (e.g. no_space committing its layer). */
    readonly code?: ErrorCode,
  ) {
    super(message);
  }
}

/** Runs step `n` in the build session's sandbox (a new one when none fits) and captures its layer under `key`. */
export async function executeStep(
  step: Step,
  n: number,
  config: ImageConfig,
  lowers: string[],
  key: string,
  deps: BuilderDeps,
  opts: BuildOptions,
  session: BuildSession,
) {
  // Capped per step and per build (opts is the build's): a flood is counted, not kept.
  const output = new StepOutput(opts, (stream, text) => opts.emit({ type: "log", step: n, stream, data: text }));
  const onOutput = (stream: "stdout" | "stderr", data: Buffer): void => output.write(stream, data);
  const env = mergeEnv(config.env, {});
  // A cancel that came while the sandbox was being made: the runtime only hears aborts after run starts.
  const run: typeof deps.runtime.run = (...args) => {
    if (opts.signal.aborted) throw new SbxError("failed_precondition", "the build was cancelled");
    return deps.runtime.run(...args);
  };
  let id: string | undefined;
  try {
    // Only RUN may need the network (apt, pip); copying and mkdir never do.
    id = await session.sandboxFor({ network: step.op === "run", lowers, env, hostIds: config.systemd === true });
    let code: number;
    if (step.op === "run") {
      const argv = typeof step.command === "string" ? ["/bin/sh", "-c", step.command] : step.command;
      const user = await deps.runtime.resolveUser(id, config.user);
      code = await run(id, { argv, env, cwd: config.workingDir, user }, onOutput, opts.signal);
    } else if (step.op === "workdir") {
      code = await run(
        id,
        { argv: [BB, "mkdir", "-p", config.workingDir], env, cwd: "/", user: "0:0" },
        onOutput,
        opts.signal,
      );
    } else if (step.op === "copy" || step.op === "add") {
      await deps.runtime.extractArchive(id, CONTEXT_DIR, deps.openContext(step.context));
      code = await run(
        id,
        { argv: [BB, "sh", "-c", COPY_SCRIPT, "sh", ...copyArgs(step, config.workingDir)], env, cwd: "/", user: "0:0" },
        onOutput,
        opts.signal,
      );
    } else if (step.op === "copy_from") {
      const sources = await stageImageFiles(deps.runtime, id, step, sourceImage(step.image, opts), opts.signal);
      code = await run(
        id,
        {
          argv: [BB, "sh", "-c", COPY_SCRIPT, "sh", ...copyArgs({ ...step, sources }, config.workingDir)],
          env,
          cwd: "/",
          user: "0:0",
        },
        onOutput,
        opts.signal,
      );
    } else {
      throw new SbxError("internal", `step ${step.op} makes no layer`);
    }
    output.finish();
    if (opts.signal.aborted) throw new SbxError("failed_precondition", "the build was cancelled");
    if (code !== 0)
      throw new StepFailure(n, step, code, `step ${n} failed with exit code ${code}`, output.lastLines(20));
    return await session.capture(id, key);
  } catch (err) {
    // A failed step's sandbox is not reused: the next build starts from the last good layer.
    session.end();
    if (err instanceof StepFailure || opts.signal.aborted) throw err;
    throw new StepFailure(
      n,
      step,
      null,
      err instanceof Error ? err.message : String(err),
      output.lastLines(20),
      toSbxError(err).code,
    );
  }
}

/** The image a COPY --from step names, as the caller resolved it before the build. */
export function sourceImage(ref: string, opts: BuildOptions): SourceImage {
  const found = opts.sourceImages?.get(ref);
  if (!found) throw new SbxError("internal", `COPY --from=${ref}: the image was not resolved before the build`);
  return found;
}
