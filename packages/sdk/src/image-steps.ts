// The steps of an image defined in code, as Image records them: what each holds (copy and add keep
// the user's own text, for progress and errors), the options a step takes, and its one-line form.
import type { Step } from "@sbx-sh/protocol";
import { describeStep } from "@sbx-sh/protocol";
import type { SourceLocation } from "./source-location.js";

export interface StepOptions {
  /** Where the step is reported as declared; by default the caller's line (for wrappers that know better). */
  source?: SourceLocation;
}

export type RunStepOptions = StepOptions;

export interface CopyOptions extends StepOptions {
  /** `user[:group]`, by name or id, for what is copied. */
  chown?: string;
  /** Mode for what is copied: `"0755"` or `0o755`. */
  chmod?: string | number;
}

type Located = { source?: SourceLocation };
/** A copy/add step as declared: local paths, globs or URLs, resolved when the build packs them. */
export type CopyStep = Located & {
  op: "copy" | "add";
  src: string[];
  dest: string;
  chown?: string;
  chmod?: string;
  text: string;
};
/** A copy out of another image (Dockerfile's `COPY --from`): paths in that image, resolved there at build time. */
export type CopyFromStep = Located & {
  op: "copy_from";
  image: string;
  paths: string[];
  dest: string;
  chown?: string;
  chmod?: string;
  text: string;
};
export type ImageStep =
  | CopyStep
  | CopyFromStep
  | (Located &
      (
        | { op: "run"; command: string | string[] }
        | { op: "env"; key: string; value: string }
        | { op: "workdir"; path: string }
        | { op: "user"; user: string }
        | { op: "entrypoint"; args: string[] }
        | { op: "cmd"; args: string[] }
      ));

/** One step as a line, the way progress output and errors show it: the daemon's describeStep, with the user's own copy text. */
export function describeImageStep(step: ImageStep): string {
  return step.op === "copy" || step.op === "add" || step.op === "copy_from" ? step.text : describeStep(step as Step);
}

/** The --chown/--chmod flags of a copy step's text. */
export function ownershipFlags(step: { chown?: string; chmod?: string }): string[] {
  return [step.chown ? `--chown=${step.chown}` : "", step.chmod ? `--chmod=${step.chmod}` : ""].filter(Boolean);
}
