// Multi-stage Dockerfiles: the stage to build as one chain of steps (its own and those of the
// stages it is FROM), its `COPY --from` turned into copy_from steps, and the stages those need.
import type { DockerfileSource, DockerfileStep, ParsedDockerfile, Stage } from "./types.js";

/**
 * The base image and steps of the stage to build: its own and those of the stages it is FROM.
 * `COPY --from` becomes a copy_from step; `needs` lists the stages it copies from (and theirs),
 * in build order, which must be built first and named by `stageRef`.
 */
export function flattenDockerfile(
  parsed: ParsedDockerfile,
  stageRef: (stage: number) => string = (i) => `stage-${i}`,
): { baseImage: string; steps: DockerfileStep[]; source: DockerfileSource; needs: number[] } {
  const chain = stageChain(parsed, parsed.target);
  const steps = chain
    .flatMap((s) => s.steps)
    .map((step): DockerfileStep => {
      if ((step.op !== "copy" && step.op !== "add") || step.from === undefined) return step;
      const { from, fromStage, src, op: _op, ...rest } = step;
      return {
        ...rest,
        op: "copy_from",
        image: fromStage === undefined ? from : stageRef(fromStage),
        paths: src,
        ...(fromStage !== undefined && { stage: fromStage }),
      };
    });
  return { baseImage: chain[0]!.from, steps, source: chain[0]!.source, needs: stagesNeeded(parsed, parsed.target) };
}

function stageChain(parsed: ParsedDockerfile, target: number): Stage[] {
  const chain: Stage[] = [];
  for (
    let s: Stage | undefined = parsed.stages[target];
    s;
    s = s.parent === undefined ? undefined : parsed.stages[s.parent]
  )
    chain.unshift(s);
  return chain;
}

/** Stages that `target` copies from, directly or through them, each after the stages it needs. */
function stagesNeeded(parsed: ParsedDockerfile, target: number, out: number[] = []): number[] {
  for (const step of stageChain(parsed, target).flatMap((s) => s.steps)) {
    if ((step.op === "copy" || step.op === "add") && step.fromStage !== undefined && !out.includes(step.fromStage)) {
      stagesNeeded(parsed, step.fromStage, out);
      if (!out.includes(step.fromStage)) out.push(step.fromStage);
    }
  }
  return out;
}
