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
import {
  checkArgv,
  checkBaseImage,
  checkDest,
  checkEnv,
  checkOwnership,
  checkPaths,
  checkRunCommand,
  checkSources,
  checkTag,
  checkUser,
} from "./image-checks.js";
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
    this.tag = o.tag !== undefined ? checkTag(o.tag) : "latest";
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
    return this.push({ op: "run", command: checkRunCommand(command, this.bad("run")) }, "run", options);
  }

  env(key: string, value: string, options: StepOptions = {}): this {
    checkEnv(key, value, this.bad("env"));
    return this.push({ op: "env", key, value }, "env", options);
  }

  /** Sets the working directory of later steps and of the image (created if missing). */
  workdir(dir: string, options: StepOptions = {}): this {
    if (typeof dir !== "string" || !dir.trim() || dir.includes("\0"))
      throw this.bad("workdir")('give a directory, e.g. workdir("/app")');
    return this.push({ op: "workdir", path: dir }, "workdir", options);
  }

  /** Sets the user of later steps and of the image: `name`, `uid`, `name:group` or `uid:gid`. */
  user(name: string, options: StepOptions = {}): this {
    return this.push({ op: "user", user: checkUser(name, this.bad("user")) }, "user", options);
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
    const bad = this.bad("copyFrom");
    if (typeof image !== "string" || !image.trim() || /[\s\0]/.test(image))
      throw bad(`invalid image ${JSON.stringify(image)}: give an image name such as "builder" or "my-image:v1"`);
    const paths = checkPaths(
      src,
      bad,
      'give a path in the image (or an array of them), e.g. copyFrom("builder", "/out/app", "/usr/local/bin/")',
    );
    const step: CopyFromStep = { op: "copy_from", image, paths, dest: checkDest(dest, bad), text: "" };
    Object.assign(step, checkOwnership(options, bad));
    step.text = ["COPY", `--from=${image}`, ...ownershipFlags(step), ...paths, dest].join(" ");
    return this.push(step, "copyFrom", options);
  }

  /** The program sandboxes of this image run (exec form); a string means `/bin/sh -c <string>`. */
  entrypoint(args: string[] | string, options: StepOptions = {}): this {
    return this.push({ op: "entrypoint", args: checkArgv(args, this.bad("entrypoint")) }, "entrypoint", options);
  }

  cmd(args: string[] | string, options: StepOptions = {}): this {
    return this.push({ op: "cmd", args: checkArgv(args, this.bad("cmd")) }, "cmd", options);
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
    const bad = this.bad(op);
    const sources = checkPaths(
      src,
      bad,
      'give a source path (or an array of them), e.g. copy("scripts/", "/opt/app/scripts/")',
    );
    checkSources(op, sources, bad);
    const step: CopyStep = { op, src: sources, dest: checkDest(dest, bad), text: "" };
    Object.assign(step, checkOwnership(o, bad));
    step.text = [op.toUpperCase(), ...ownershipFlags(step), ...sources, dest].join(" ");
    return this.push(step, op, o);
  }

  private push(step: ImageStep, method: string, o: StepOptions = {}): this {
    if (this.#steps.length >= MAX_STEPS) throw this.bad(method)(`an image has at most ${MAX_STEPS} steps`);
    const source = o.source ?? captureSource(method);
    if (source) step.source = source;
    this.#steps.push(step);
    return this;
  }

  /** The error maker of `method`: names the image, the method and the user's line. */
  private bad(method: string): (message: string) => SbxError {
    return (message) => {
      const where = formatSource(captureSource(method));
      return new SbxError(
        "invalid_argument",
        `image ${this.name}: ${method}(): ${message}${where ? ` (at ${where})` : ""}`,
      );
    };
  }
}
