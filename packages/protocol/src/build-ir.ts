// The build IR: the one internal form of an image definition. The SDK lowers `Image` values and
// Dockerfiles to it; the daemon validates it (its zod schema is checked against these types) and
// replays it step by step. Plain types, so the SDK's declarations carry no schema library.

/** Where a step was declared in the user's file, for error reports. */
export interface StepSource {
  file: string;
  line: number;
  column?: number | undefined;
}

/** One file or folder that a copy/add step takes from its uploaded context. */
export interface CopySource {
  name: string;
  type: "file" | "dir";
  /** add(): a local archive is unpacked at the destination. */
  extract?: boolean | undefined;
}

interface StepBase {
  source?: StepSource | undefined;
}

export interface RunStep extends StepBase {
  op: "run";
  /** A string runs under `sh -c`; an array is an argv. */
  command: string | string[];
}
export interface EnvStep extends StepBase {
  op: "env";
  key: string;
  value: string;
}
export interface WorkdirStep extends StepBase {
  op: "workdir";
  path: string;
}
export interface UserStep extends StepBase {
  op: "user";
  user: string;
}
export interface CopyStep extends StepBase {
  op: "copy" | "add";
  /** Digest of the uploaded context archive that holds the sources. */
  context: string;
  sources: CopySource[];
  dest: string;
  chown?: string | undefined;
  chmod?: string | undefined;
  /** The step as the user wrote it, for progress and errors. */
  text?: string | undefined;
}
export interface CopyFromStep extends StepBase {
  op: "copy_from";
  image: string;
  paths: string[];
  dest: string;
  chown?: string | undefined;
  chmod?: string | undefined;
  text?: string | undefined;
}
export interface EntrypointStep extends StepBase {
  op: "entrypoint";
  args: string[];
}
export interface CmdStep extends StepBase {
  op: "cmd";
  args: string[];
}

export type Step = RunStep | EnvStep | WorkdirStep | UserStep | CopyStep | CopyFromStep | EntrypointStep | CmdStep;

export interface ImageDefinition {
  name: string;
  baseImage: string;
  steps: Step[];
  tag?: string | undefined;
}
