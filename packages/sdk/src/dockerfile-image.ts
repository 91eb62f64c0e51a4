// Dockerfiles as Images: a Dockerfile is parsed (src/images/dockerfile.ts) into an Image whose steps
// carry the Dockerfile's lines as sources, so its build, cache keys, logs and progress are exactly
// those of the same image written in TypeScript; its context folder and .dockerignore come along.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { SbxError, type DockerfileStep, type DockerfileWarning } from "@sbx-sh/protocol";
// The parser's own entry, so programs that never read a Dockerfile do not load it with the protocol.
import { flattenDockerfile, parseDockerfile } from "@sbx-sh/protocol/dockerfile";
import type { ImageDefinition, BuildInfo, ImageInfo } from "@sbx-sh/protocol";
import type { SandboxClient } from "./client.js";
import { Image } from "./image.js";
import type { BuildOptions, DefinitionOptions } from "./image-build.js";
import { displayPath, type SourceLocation } from "./source-location.js";

export interface DockerfileImageOptions {
  /** Image name (a Dockerfile has none). */
  name: string;
  /** Default `latest`. */
  tag?: string;
  /** `--build-arg`s: values for the Dockerfile's ARGs. */
  buildArgs?: Record<string, string>;
  /** The stage to build; default the last. */
  target?: string;
  /** The build context; default the Dockerfile's folder. */
  contextDir?: string;
  /** Asked for the base image's environment, which `ENV PATH=/x:$PATH` needs; without it PATH alone is assumed. */
  client?: SandboxClient;
}

/** An Image made from a Dockerfile: builds default to its context folder and its .dockerignore. */
export class DockerfileImage extends Image {
  /** The Dockerfile, absolute. */
  readonly file: string;
  readonly contextDir: string;
  /** Instructions accepted but ignored (LABEL, EXPOSE, ...) and other notes, with their lines. */
  readonly warnings: DockerfileWarning[];
  /**
   * Stages this image copies from (`COPY --from=<stage>`), in build order: each is built first and
   * registered as `<name>:stage-<stage>` (`<name>:<tag>-stage-<stage>` for other tags).
   */
  readonly stages: DockerfileImage[] = [];

  constructor(o: {
    name: string;
    tag?: string;
    baseImage: string;
    file: string;
    contextDir: string;
    warnings: DockerfileWarning[];
    source: SourceLocation;
  }) {
    super({ name: o.name, tag: o.tag, baseImage: o.baseImage });
    (this as { source: SourceLocation | undefined }).source = o.source;
    this.file = o.file;
    this.contextDir = o.contextDir;
    this.warnings = o.warnings;
  }

  /** BuildKit's rule: `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's `.dockerignore`. */
  get ignoreFile(): string {
    return existsSync(`${this.file}.dockerignore`) ? `${this.file}.dockerignore` : ".dockerignore";
  }

  override toDefinition(options: DefinitionOptions = {}): Promise<ImageDefinition> {
    return super.toDefinition(this.defaults(options));
  }

  override async startBuild(options: BuildOptions = {}): Promise<BuildInfo> {
    await this.buildStages(options);
    return super.startBuild(this.defaults(options));
  }

  override async build(options: BuildOptions = {}): Promise<ImageInfo> {
    await this.buildStages(options);
    return super.build(this.defaults(options));
  }

  /** Builds (or finds in the cache) the stages this image copies from, one after the other. */
  private async buildStages(o: BuildOptions): Promise<void> {
    for (const stage of this.stages) {
      o.onProgress?.(`building stage ${stage.tag} first: COPY --from needs it`);
      // Stage images are intermediate: always registered under their own name, replacing the last.
      await stage.build({ ...o, registeredName: stage.name, tag: stage.tag, replace: true });
    }
  }

  private defaults<T extends DefinitionOptions>(o: T): T {
    return { ...o, contextDir: o.contextDir ?? this.contextDir, ignoreFile: o.ignoreFile ?? this.ignoreFile };
  }
}

/** Reads and parses `path` into an Image; a Dockerfile error names the file and line. */
export async function imageFromDockerfile(path: string, o: DockerfileImageOptions): Promise<DockerfileImage> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SbxError(
      "invalid_argument",
      `cannot read the Dockerfile ${path}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : String(err)}`,
      undefined,
      { cause: err },
    );
  }
  const fileName = displayPath(file);
  const parse = (baseEnv?: Record<string, string>) =>
    parseDockerfile(text, {
      buildArgs: o.buildArgs ?? {},
      fileName,
      target: o.target,
      baseEnv: baseEnv && (() => baseEnv),
    });
  let parsed = parse();
  if (o.client) {
    // Parsed again with the base image's env once it is known (only the build's own base matters).
    const env = await baseImageEnv(o.client, flattenDockerfile(parsed).baseImage);
    if (env) parsed = parse(env);
  }
  const tag = o.tag ?? "latest";
  const stageTag = (i: number): string => {
    const label = parsed.stages[i]?.name ?? String(i);
    return (tag === "latest" ? `stage-${label}` : `${tag}-stage-${label}`).slice(0, 128);
  };
  const contextDir = resolve(o.contextDir ?? dirname(file));
  const toImage = (target: number, imageTag: string | undefined, warnings: DockerfileWarning[]): DockerfileImage => {
    const flat = flattenDockerfile({ ...parsed, target }, (i) => `${o.name}:${stageTag(i)}`);
    const image = new DockerfileImage({
      name: o.name,
      tag: imageTag,
      baseImage: flat.baseImage,
      file,
      contextDir,
      warnings,
      source: { file, line: flat.source.line },
    });
    for (const step of flat.steps) addStep(image, step);
    return image;
  };
  const image = toImage(parsed.target, o.tag, parsed.warnings);
  for (const i of flattenDockerfile(parsed).needs) image.stages.push(toImage(i, stageTag(i), []));
  return image;
}

async function baseImageEnv(client: SandboxClient, name: string): Promise<Record<string, string> | undefined> {
  try {
    const detail = await client.getImage(name);
    return Object.fromEntries(
      detail.config.env.flatMap((kv) =>
        kv.indexOf("=") > 0 ? [[kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]] : [],
      ),
    );
  } catch (err) {
    // A base the daemon does not have fails the build itself, with the daemon's message.
    if (err instanceof SbxError && (err.code === "image_not_found" || err.code === "not_found")) return undefined;
    throw err;
  }
}

function addStep(image: Image, s: DockerfileStep): void {
  const at = { source: { file: s.source.file, line: s.source.line } };
  try {
    switch (s.op) {
      case "run":
        image.run(s.command, at);
        break;
      case "env":
        image.env(s.key, s.value, at);
        break;
      case "workdir":
        image.workdir(s.path, at);
        break;
      case "user":
        image.user(s.user, at);
        break;
      case "copy":
      case "add":
        image[s.op](s.src, s.dest, {
          ...at,
          ...(s.chown !== undefined && { chown: s.chown }),
          ...(s.chmod !== undefined && { chmod: s.chmod }),
        });
        break;
      case "copy_from":
        image.copyFrom(s.image, s.paths, s.dest, {
          ...at,
          ...(s.chown !== undefined && { chown: s.chown }),
          ...(s.chmod !== undefined && { chmod: s.chmod }),
        });
        break;
      case "entrypoint":
        image.entrypoint(s.args, at);
        break;
      case "cmd":
        image.cmd(s.args, at);
        break;
    }
  } catch (err) {
    // Image's own checks name a method and a stack frame; here the Dockerfile line is what counts.
    if (!(err instanceof SbxError)) throw err;
    const reason = err.message.replace(/^image \S+: \w+\(\): /, "").replace(/ \(at [^)]*\)$/, "");
    throw new SbxError(
      "invalid_argument",
      `${s.source.file}:${s.source.line}: ${reason}`,
      { file: s.source.file, line: s.source.line },
      { cause: err },
    );
  }
}
