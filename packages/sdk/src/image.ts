// Image: a sandbox image defined in code (`new Image({ name }).run(...).copy(...)`). Each call is
// checked at once and remembers the user's source line; build() turns the steps into the step IR
// (src/images/ir.ts), uploads what copy()/add() name and runs the build on the daemon.
import type { BuildInfo, ImageInfo, ImageDefinition } from "@sbx-sh/protocol";
import { SbxError, assertValidName } from "@sbx-sh/protocol";
import type { DockerfileImage, DockerfileImageOptions } from "./dockerfile-image.js";
import {
  buildImage,
  imageDefinition,
  startImageBuild,
  type BuildOptions,
  type DefinitionOptions,
} from "./image-build.js";
import { defaultBaseImage } from "./config.js";
import { captureSource, formatSource, registerInternalModule, type SourceLocation } from "./source-location.js";
import {
  describeImageStep,
  ownershipFlags,
  type CopyFromStep,
  type CopyOptions,
  type CopyStep,
  type ImageStep,
  type RunStepOptions,
  type StepOptions,
} from "./image-steps.js";

// The step types are part of the SDK's API through this module (index.ts exports them from here).
export { describeImageStep } from "./image-steps.js";
export type { CopyFromStep, CopyOptions, CopyStep, ImageStep, RunStepOptions, StepOptions } from "./image-steps.js";

registerInternalModule(import.meta.url);

/** Marks Image values, also those made by another copy of the SDK (jiti loads its own). */
export const IMAGE_BRAND = Symbol.for("sbx.image");
const MAX_STEPS = 200;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const USER_RE = /^(\d+|[a-z_][a-z0-9_-]*)(:(\d+|[a-z_][a-z0-9_-]*))?$/;
const ENV_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ImageOptions {
  /** Image name (lowercase letters, digits, `.`, `_`, `-`); registered under it unless the build says otherwise. */
  name: string;
  /** Default `latest`. */
  tag?: string;
  /** Image to start from; default `Image.defaultBaseImage`. */
  baseImage?: string;
}

export class Image {
  /** The base image of images that name none; env `SBX_DEFAULT_BASE_IMAGE` overrides the built-in default. */
  static defaultBaseImage: string = defaultBaseImage();

  readonly [IMAGE_BRAND] = true;
  readonly name: string;
  readonly tag: string;
  /** Where `new Image(...)` was called; its folder is the default build context. */
  readonly source: SourceLocation | undefined;
  #baseImage: string | undefined;
  #steps: ImageStep[] = [];

  constructor(options: ImageOptions);
  constructor(name: string, baseImage?: string);
  /** Tensorlake's positional form. */
  constructor(name: string, tag: string, baseImage: string);
  constructor(nameOrOptions: string | ImageOptions, second?: string, third?: string) {
    const o: Partial<ImageOptions> =
      typeof nameOrOptions !== "string"
        ? (nameOrOptions ?? {})
        : third !== undefined
          ? { name: nameOrOptions, tag: second, baseImage: third }
          : { name: nameOrOptions, baseImage: second };
    if (typeof o !== "object")
      throw new SbxError("invalid_argument", "new Image() takes { name, tag?, baseImage? } or (name, baseImage?)");
    if (typeof o.name !== "string")
      throw new SbxError("invalid_name", 'an image needs a name: new Image({ name: "my-image" })');
    this.name = assertValidName("image", o.name);
    if (o.tag !== undefined && (typeof o.tag !== "string" || !TAG_RE.test(o.tag))) {
      throw new SbxError(
        "invalid_name",
        `invalid image tag ${JSON.stringify(o.tag)}: up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`,
      );
    }
    this.tag = o.tag ?? "latest";
    if (o.baseImage !== undefined) this.#baseImage = checkBaseImage(o.baseImage);
    this.source = captureSource("new");
  }

  /** True for Image values, also those of another copy of the SDK. */
  static isImage(value: unknown): value is Image {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[IMAGE_BRAND] === true;
  }

  /** This SDK's Image with the same definition as `value` (an Image from any copy of the SDK). */
  static from(value: unknown): Image {
    if (value instanceof Image) return value;
    if (!Image.isImage(value)) throw new SbxError("invalid_argument", "not an Image");
    const copy = new Image({ name: value.name, tag: value.tag, baseImage: value.baseImage });
    (copy as { source: SourceLocation | undefined }).source = value.source;
    copy.#steps = value.steps.map((s) => ({ ...s }));
    return copy;
  }

  /**
   * The image a Dockerfile describes (FROM, RUN, COPY, ENV, ARG with `--build-arg`s, ...), its
   * steps sourced at the Dockerfile's lines; it builds from the Dockerfile's folder by default.
   */
  static async fromDockerfile(path: string, options: DockerfileImageOptions): Promise<DockerfileImage> {
    // Loaded on use: the parser is not needed by images written in code.
    const { imageFromDockerfile } = await import("./dockerfile-image.js");
    return imageFromDockerfile(path, options);
  }

  get baseImage(): string {
    return this.#baseImage ?? Image.defaultBaseImage;
  }

  /** The steps so far (copies), in order. */
  get steps(): ImageStep[] {
    return this.#steps.map((s) => structuredClone(s));
  }

  /** Runs a shell command (a string), or a program with arguments and no shell (an array). */
  run(command: string | string[], options: RunStepOptions = {}): this {
    if (typeof command === "string") {
      if (!command.trim()) throw this.bad("run", "the command is empty");
    } else if (Array.isArray(command)) {
      if (!command.length || !command.every((a) => typeof a === "string") || !command[0]) {
        throw this.bad("run", "an array command is [program, ...args] with a non-empty program and string arguments");
      }
    } else
      throw this.bad("run", "the command is a string (run by /bin/sh) or an array of strings (run without a shell)");
    return this.push({ op: "run", command: Array.isArray(command) ? [...command] : command }, "run", options);
  }

  env(key: string, value: string, options: StepOptions = {}): this {
    if (typeof key !== "string" || !ENV_KEY_RE.test(key))
      throw this.bad(
        "env",
        `invalid variable name ${JSON.stringify(key)}: letters, digits and _, not starting with a digit`,
      );
    if (typeof value !== "string")
      throw this.bad("env", `the value of ${key} must be a string (got ${typeof value}); use String(x)`);
    return this.push({ op: "env", key, value }, "env", options);
  }

  /** Sets the working directory of later steps and of the image (created if missing). */
  workdir(dir: string, options: StepOptions = {}): this {
    if (typeof dir !== "string" || !dir.trim() || dir.includes("\0"))
      throw this.bad("workdir", 'give a directory, e.g. workdir("/app")');
    return this.push({ op: "workdir", path: dir }, "workdir", options);
  }

  /** Sets the user of later steps and of the image: `name`, `uid`, `name:group` or `uid:gid`. */
  user(name: string, options: StepOptions = {}): this {
    if (typeof name !== "string" || !USER_RE.test(name))
      throw this.bad("user", `invalid user ${JSON.stringify(name)}: use name, uid, name:group or uid:gid`);
    return this.push({ op: "user", user: name }, "user", options);
  }

  /** Copies local files, directories or glob matches (relative to the image file's folder) into the image. */
  copy(src: string | string[], dest: string, options: CopyOptions = {}): this {
    return this.copyStep("copy", src, dest, options);
  }

  /** Like copy(), and also unpacks local tar archives (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz) and downloads http(s) URLs. */
  add(src: string | string[], dest: string, options: CopyOptions = {}): this {
    return this.copyStep("add", src, dest, options);
  }

  /**
   * Copies files out of another image: a stage built before (Dockerfile's `COPY --from=<stage>`) or
   * any image of the project. Paths are in that image (globs match there, symlinks resolve there).
   */
  copyFrom(image: string, src: string | string[], dest: string, options: CopyOptions = {}): this {
    const paths = typeof src === "string" ? [src] : src;
    if (typeof image !== "string" || !image.trim() || /[\s\0]/.test(image))
      throw this.bad(
        "copyFrom",
        `invalid image ${JSON.stringify(image)}: give an image name such as "builder" or "my-image:v1"`,
      );
    if (
      !Array.isArray(paths) ||
      !paths.length ||
      !paths.every((p) => typeof p === "string" && p.trim() !== "" && !p.includes("\0"))
    ) {
      throw this.bad(
        "copyFrom",
        'give a path in the image (or an array of them), e.g. copyFrom("builder", "/out/app", "/usr/local/bin/")',
      );
    }
    if (typeof dest !== "string" || !dest.trim() || dest.includes("\0"))
      throw this.bad("copyFrom", 'give a destination, e.g. "/opt/app/"');
    const step: CopyFromStep = { op: "copy_from", image, paths: [...paths], dest, text: "" };
    this.ownership("copyFrom", step, options);
    step.text = ["COPY", `--from=${image}`, ...ownershipFlags(step), ...paths, dest].join(" ");
    return this.push(step, "copyFrom", options);
  }

  /** The program sandboxes of this image run (exec form); a string means `/bin/sh -c <string>`. */
  entrypoint(args: string[] | string, options: StepOptions = {}): this {
    return this.push({ op: "entrypoint", args: this.argv("entrypoint", args) }, "entrypoint", options);
  }

  cmd(args: string[] | string, options: StepOptions = {}): this {
    return this.push({ op: "cmd", args: this.argv("cmd", args) }, "cmd", options);
  }

  /** The definition as Dockerfile-like lines: `FROM debian-minimal`, `RUN apt-get ...`. */
  toString(): string {
    return [`FROM ${this.baseImage}`, ...this.#steps.map(describeImageStep)].join("\n");
  }

  /** The step IR the daemon receives; packs the copy/add contexts to compute their digests. */
  toDefinition(options: DefinitionOptions = {}): Promise<ImageDefinition> {
    return imageDefinition(this, options);
  }

  /** Packs and uploads the contexts and starts the build, without waiting for it. */
  startBuild(options: BuildOptions = {}): Promise<BuildInfo> {
    return startImageBuild(this, options);
  }

  /** Builds the image on the daemon and resolves to the registered image; a failed build throws. */
  build(options: BuildOptions = {}): Promise<ImageInfo> {
    return buildImage(this, options);
  }

  private copyStep(op: "copy" | "add", src: string | string[], dest: string, o: CopyOptions): this {
    const sources = typeof src === "string" ? [src] : src;
    if (
      !Array.isArray(sources) ||
      !sources.length ||
      !sources.every((s) => typeof s === "string" && s.trim() !== "" && !s.includes("\0"))
    ) {
      throw this.bad(op, 'give a source path (or an array of them), e.g. copy("scripts/", "/opt/app/scripts/")');
    }
    for (const s of sources) {
      const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
      if (url && op === "copy") throw this.bad(op, `copy() takes local paths; to download ${s} use add()`);
      if (url && !/^https?:\/\//i.test(s)) throw this.bad(op, `only http and https URLs can be downloaded, not ${s}`);
      if (url && !isUrl(s)) throw this.bad(op, `${s} is not a valid URL`);
    }
    if (typeof dest !== "string" || !dest.trim() || dest.includes("\0"))
      throw this.bad(op, 'give a destination, e.g. "/opt/app/"');
    const step: CopyStep = { op, src: [...sources], dest, text: "" };
    this.ownership(op, step, o);
    step.text = [op.toUpperCase(), ...ownershipFlags(step), ...sources, dest].join(" ");
    return this.push(step, op, o);
  }

  private ownership(op: string, step: { chown?: string; chmod?: string }, o: CopyOptions): void {
    if (o.chown !== undefined) {
      if (typeof o.chown !== "string" || !USER_RE.test(o.chown))
        throw this.bad(op, `invalid chown ${JSON.stringify(o.chown)}: use user[:group], by name or id`);
      step.chown = o.chown;
    }
    if (o.chmod !== undefined) step.chmod = this.mode(op, o.chmod);
  }

  private mode(op: string, chmod: string | number): string {
    if (typeof chmod === "number" && Number.isInteger(chmod) && chmod >= 0 && chmod <= 0o7777)
      return chmod.toString(8).padStart(4, "0");
    if (typeof chmod === "string" && /^[0-7]{3,4}$/.test(chmod)) return chmod;
    throw this.bad(op, `invalid chmod ${JSON.stringify(chmod)}: use an octal mode such as "0755" or 0o755`);
  }

  private argv(op: string, args: string[] | string): string[] {
    if (typeof args === "string") {
      if (!args.trim()) throw this.bad(op, "the command is empty");
      return ["/bin/sh", "-c", args];
    }
    if (!Array.isArray(args) || !args.every((a) => typeof a === "string"))
      throw this.bad(op, 'give an array of strings, e.g. ["python3", "app.py"]');
    return [...args];
  }

  private push(step: ImageStep, method: string, o: StepOptions = {}): this {
    if (this.#steps.length >= MAX_STEPS) throw this.bad(method, `an image has at most ${MAX_STEPS} steps`);
    const source = o.source ?? captureSource(method);
    if (source) step.source = source;
    this.#steps.push(step);
    return this;
  }

  private bad(method: string, message: string): SbxError {
    const where = formatSource(captureSource(method));
    return new SbxError(
      "invalid_argument",
      `image ${this.name}: ${method}(): ${message}${where ? ` (at ${where})` : ""}`,
    );
  }
}

function checkBaseImage(base: unknown): string {
  if (typeof base !== "string" || !base.trim() || base.length > 255 || /[\s\0]/.test(base)) {
    throw new SbxError(
      "invalid_argument",
      `invalid base image ${JSON.stringify(base)}: give an image name such as "debian-minimal" or "my-image:v1"`,
    );
  }
  return base;
}

function isUrl(s: string): boolean {
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}
