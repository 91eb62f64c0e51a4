// A failed build's record of why: the step, its text and source line, the exit code and the last
// lines of output when a step failed, otherwise the error's message and code.
import { describeStep, toSbxError } from "@sbx-sh/protocol";
import { StepFailure } from "../build/execute-step.js";
import type { BuildRecord } from "../domain/records.js";

export function toFailure(err: unknown): BuildRecord["failure"] {
  if (err instanceof StepFailure) {
    const f = {
      step: err.step,
      text: describeStep(err.stepDef),
      source: err.stepDef.source ?? null,
      exitCode: err.exitCode,
      message: err.message,
      lastLines: err.lastLines,
    };
    return err.code ? { ...f, code: err.code } : f;
  }
  const f = {
    step: null,
    text: null,
    source: null,
    exitCode: null,
    message: err instanceof Error ? err.message : String(err),
    lastLines: [],
  };
  return { ...f, code: toSbxError(err).code };
}
