// The Dockerfile front end's types: the steps and stages a parsed Dockerfile holds, its warnings,
// and the options of a parse. Apart from the parser so the helpers it uses can name them too.

export interface DockerfileSource {
  file: string;
  line: number;
}

/** A step in the shapes `Image` takes (copy/add sources still paths); `from` marks `COPY --from`. */
export type DockerfileStep = { source: DockerfileSource } & (
  | { op: "run"; command: string | string[] }
  | { op: "env"; key: string; value: string }
  | { op: "workdir"; path: string }
  | { op: "user"; user: string }
  | {
      op: "copy" | "add";
      src: string[];
      dest: string;
      chown?: string;
      chmod?: string;
      from?: string;
      fromStage?: number;
    }
  | { op: "copy_from"; image: string; stage?: number; paths: string[]; dest: string; chown?: string; chmod?: string }
  | { op: "entrypoint" | "cmd"; args: string[] }
);

export interface Stage {
  /** `FROM image AS name`, lowercased as Docker does. */
  name?: string;
  /** The image it starts from (substituted), or the name of an earlier stage. */
  from: string;
  /** Index of the earlier stage `from` names. */
  parent?: number;
  source: DockerfileSource;
  steps: DockerfileStep[];
}

export interface DockerfileWarning {
  file: string;
  /** Absent for notes about the build as a whole (an unused --build-arg). */
  line?: number;
  message: string;
}

export interface ParsedDockerfile {
  stages: Stage[];
  /** Index of the stage to build: `target`, else the last. */
  target: number;
  warnings: DockerfileWarning[];
}

export interface ParseOptions {
  buildArgs: Record<string, string>;
  /** The file's name in sources and messages. */
  fileName: string;
  /** The stage to build (`--target`); default the last. */
  target?: string;
  /** Env of a base image, for `$PATH` and the like in ENV; default PATH only, as sbx's base images have. */
  baseEnv?: (image: string) => Record<string, string> | undefined;
  /** Values of TARGETOS/TARGETARCH/...; default this machine's. */
  platform?: { os: string; arch: string; variant?: string };
}
