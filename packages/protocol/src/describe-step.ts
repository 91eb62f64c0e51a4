// A step of the image IR as one line of text (`RUN apt-get install ...`), as the CLI's progress,
// the SDK's errors and the daemon's build log all show it.
import type { Step } from "./build-ir.js";

/** A step as one line of text, as progress output and errors show it (`RUN apt-get install ...`). */
export function describeStep(step: Step): string {
  switch (step.op) {
    case "run":
      return `RUN ${typeof step.command === "string" ? step.command : JSON.stringify(step.command)}`;
    case "env":
      return `ENV ${step.key}=${step.value}`;
    case "workdir":
      return `WORKDIR ${step.path}`;
    case "user":
      return `USER ${step.user}`;
    case "copy":
    case "add":
      return step.text ?? `${step.op.toUpperCase()} ${step.sources.map((s) => s.name).join(" ")} ${step.dest}`;
    case "copy_from":
      return step.text ?? `COPY --from=${step.image} ${step.paths.join(" ")} ${step.dest}`;
    case "entrypoint":
      return `ENTRYPOINT ${JSON.stringify(step.args)}`;
    case "cmd":
      return `CMD ${JSON.stringify(step.args)}`;
  }
}
