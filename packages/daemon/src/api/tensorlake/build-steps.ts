// A planned Tensorlake image (./build-plan.ts) as sbx build IR: COPY/ADD steps get their files
// from the build context through `contextOf` (./build-context.ts), `COPY --from` names the stage
// image or a project image, `tensorlake/<base>` names are sbx's, the rest passes as it is.
import type { CopySource, DockerfileStep, ImageDefinition, Step } from "@sbx-sh/protocol";
import type { PlannedImage } from "./build-plan.js";
import { sbxImageName } from "./lifecycle.js";

type ContextStep = Extract<DockerfileStep, { op: "copy" | "add" }>;

export async function toDefinition(
  planned: PlannedImage,
  contextOf: (step: ContextStep, index: number) => Promise<{ context: string; sources: CopySource[] }>,
): Promise<ImageDefinition> {
  const steps: Step[] = [];
  for (const [j, step] of planned.steps.entries()) {
    const source = { file: step.source.file, line: step.source.line };
    switch (step.op) {
      case "copy":
      case "add":
        steps.push({
          op: step.op,
          ...(await contextOf(step, j)),
          dest: step.dest,
          text: `${step.op.toUpperCase()} ${[...step.src, step.dest].join(" ")}`,
          source,
          ...(step.chown !== undefined && { chown: step.chown }),
          ...(step.chmod !== undefined && { chmod: step.chmod }),
        });
        break;
      case "copy_from":
        steps.push({
          op: "copy_from",
          image: sbxImageName(step.image) ?? step.image,
          paths: step.paths,
          dest: step.dest,
          text: `COPY --from=${step.image} ${[...step.paths, step.dest].join(" ")}`,
          source,
          ...(step.chown !== undefined && { chown: step.chown }),
          ...(step.chmod !== undefined && { chmod: step.chmod }),
        });
        break;
      default:
        steps.push({ ...step, source });
    }
  }
  return {
    name: planned.name,
    tag: planned.tag,
    baseImage: sbxImageName(planned.baseImage) ?? planned.baseImage,
    steps,
  };
}
