// What a Tensorlake image build will run, decided at prepare from the Dockerfile alone (before any
// builder sandbox exists): the images to build in order (the stages that `COPY --from=<stage>`
// needs, then the target) and, per COPY/ADD from the build context, the source patterns to take
// from the context the SDK uploads later. The sources are checked here so a path that leaves the
// context (`..`, absolute) fails prepare with its line; symlinks are checked where the files are.
import { posix } from "node:path";
import { SbxError, flattenDockerfile, parseDockerfile, type DockerfileStep } from "@sbx-sh/protocol";

/** One image of the build: a stage (`<name>:stage-<label>`) or the target (`<name>:latest`). */
export interface PlannedImage {
  name: string;
  tag: string;
  /** The Dockerfile's base, still in Tensorlake's spelling (`tensorlake/<base>` is mapped at build). */
  baseImage: string;
  steps: DockerfileStep[];
}

export interface TlBuildPlan {
  /** Stages first, in the order COPY --from needs them; the image to register last. */
  images: PlannedImage[];
  /** Whether any step takes files from the build context (then the build waits for its upload). */
  usesContext: boolean;
}

/** The tag a stage image is registered under, as sbx's own Dockerfile builds do. */
export function stageTag(label: string): string {
  return `stage-${label}`.slice(0, 128);
}

/**
 * A COPY/ADD source as a path inside the context, normalized; what would leave the context, and
 * URLs (which sbx downloads on the client side, not in the daemon), are refused with the line.
 */
export function contextSource(src: string, where: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src))
    throw new SbxError(
      "unimplemented",
      `${where}: ADD of a URL (${src}) is not served on sbx's Tensorlake build path: download it in a RUN step`,
    );
  if (src.startsWith("/"))
    throw new SbxError(
      "invalid_argument",
      `${where}: ${src} is an absolute path: COPY/ADD sources are paths inside the build context (contextDir)`,
    );
  const norm = posix.normalize(src);
  if (norm === ".." || norm.startsWith("../"))
    throw new SbxError("invalid_argument", `${where}: ${src} is outside the build context (contextDir)`);
  if (norm.includes("\n") || norm.includes("\0"))
    throw new SbxError("invalid_argument", `${where}: a source path must not contain newlines or NUL bytes`);
  return norm.replace(/\/+$/, "") || ".";
}

/** Parses and plans the build; Dockerfile errors (a missing stage, a bad flag) name the line. */
export function planTlBuild(name: string, dockerfile: string): TlBuildPlan {
  const parsed = parseDockerfile(dockerfile, { buildArgs: {}, fileName: "Dockerfile" });
  const label = (i: number): string => parsed.stages[i]?.name ?? String(i);
  const ref = (i: number): string => `${name}:${stageTag(label(i))}`;
  const plan = (target: number, tag: string): PlannedImage => {
    const flat = flattenDockerfile({ ...parsed, target }, ref);
    const steps = flat.steps.map((step): DockerfileStep => {
      if (step.op !== "copy" && step.op !== "add") return step;
      const where = `${step.source.file}:${step.source.line}`;
      return { ...step, src: step.src.map((src) => contextSource(src, where)) };
    });
    return { name, tag, baseImage: flat.baseImage, steps };
  };
  const { needs } = flattenDockerfile(parsed, ref);
  const images = [...needs.map((i) => plan(i, stageTag(label(i)))), plan(parsed.target, "latest")];
  const usesContext = images.some((img) => img.steps.some((s) => s.op === "copy" || s.op === "add"));
  return { images, usesContext };
}
