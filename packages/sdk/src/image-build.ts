// The client side of a build: an Image becomes the step IR (packing copy/add contexts), contexts
// the daemon lacks are uploaded, the build is started and its events followed to the registered
// image; a failed build becomes an SbxError carrying the failing step, its line and last output.
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { BuildEvent, BuildInfo, CreateBuildRequest, ImageInfo, ImageDefinition, Step } from "@sbx-sh/protocol";
import { SbxError } from "@sbx-sh/protocol";
import { SandboxClient } from "./client.js";
import type { Image } from "./image.js";
import { packCopyStep, stepLabel, type PackedContext } from "./image-context.js";
import { loadIgnoreFile } from "./dockerignore.js";
import { IgnoreRules } from "./sbxignore.js";
import { displayPath, formatSource } from "./source-location.js";
import type { ClientOptions } from "./config.js";
import { formatBytes } from "./format-bytes.js";

export interface DefinitionOptions {
  /** Where copy()/add() sources are read; default the folder of the file that made the Image. */
  contextDir?: string;
  /** The ignore file, relative to the context or absolute; default `.sbxignore`. A name ending in `.dockerignore` is read with Docker's rules. */
  ignoreFile?: string;
  signal?: AbortSignal;
}

export interface BuildOptions extends DefinitionOptions {
  /** Register under this name instead of the image's own. */
  registeredName?: string;
  /** Register under this tag instead of the image's own. */
  tag?: string;
  /** Replace an existing image of that name:tag. */
  replace?: boolean;
  /** Run every step, ignoring the layer cache. */
  noCache?: boolean;
  /** Cluster: run the build only on nodes with all these labels (a single daemon refuses a selector). */
  nodeSelector?: Record<string, string>;
  /** A client to use, or options to make one (closed afterwards). */
  client?: SandboxClient | ClientOptions;
  /** Each build event as it arrives (step headers, output, durations, the end). */
  onEvent?: (event: BuildEvent) => void;
  /** Notes on packing and uploading, before the build starts. */
  onProgress?: (message: string) => void;
}

export interface FollowOptions {
  onEvent?: (event: BuildEvent) => void;
  signal?: AbortSignal;
  /** Cancel the build on the daemon when `signal` aborts (else only stop following). */
  cancelOnAbort?: boolean;
}

interface Prepared {
  definition: ImageDefinition;
  contexts: PackedContext[];
}

/** The IR of `image` with its contexts packed (then discarded). */
export async function imageDefinition(image: Image, o: DefinitionOptions = {}): Promise<ImageDefinition> {
  const tmpDir = await mkdtemp(join(tmpdir(), "sbx-build-"));
  try {
    return (await prepare(image, o, tmpDir)).definition;
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}

export async function startImageBuild(image: Image, o: BuildOptions = {}): Promise<BuildInfo> {
  return withClient(o.client, (client) => abortable(o.signal, start(client, image, o)));
}

export async function buildImage(image: Image, o: BuildOptions = {}): Promise<ImageInfo> {
  return withClient(o.client, async (client) => {
    const build = await abortable(o.signal, start(client, image, o));
    return followBuild(client, build.id, { onEvent: o.onEvent, signal: o.signal, cancelOnAbort: true });
  });
}

/** Once the signal has fired, callers get its reason (AbortError, TimeoutError), as with fetch, not whatever broke. */
async function abortable<T>(signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

async function start(client: SandboxClient, image: Image, o: BuildOptions): Promise<BuildInfo> {
  const tmpDir = await mkdtemp(join(tmpdir(), "sbx-build-"));
  try {
    const { definition, contexts } = await prepare(image, o, tmpDir);
    await upload(client, contexts, o);
    const request: CreateBuildRequest = { definition };
    if (o.registeredName !== undefined) request.registeredName = o.registeredName;
    if (o.tag !== undefined) request.tag = o.tag;
    if (o.replace) request.replace = true;
    if (o.noCache) request.noCache = true;
    if (o.nodeSelector && Object.keys(o.nodeSelector).length) request.placement = { nodeSelector: o.nodeSelector };
    o.signal?.throwIfAborted();
    const build = await client.createBuild(request);
    if (o.signal?.aborted) {
      await client.cancelBuild(build.id).catch(() => undefined);
      o.signal.throwIfAborted();
    }
    return build;
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}

async function prepare(image: Image, o: DefinitionOptions, tmpDir: string): Promise<Prepared> {
  const contextDir = resolve(o.contextDir ?? (image.source ? dirname(image.source.file) : process.cwd()));
  const all = image.steps;
  const copies = all.filter((s) => s.op === "copy" || s.op === "add");
  if (copies.length) {
    const st = await stat(contextDir).catch(() => null);
    if (!st?.isDirectory())
      throw new SbxError("invalid_argument", `the build context ${contextDir} is not a directory`);
  }
  const ignore = copies.length ? await loadIgnoreFile(contextDir, o.ignoreFile) : new IgnoreRules();
  const steps: Step[] = [];
  const contexts: PackedContext[] = [];
  for (const [i, s] of all.entries()) {
    o.signal?.throwIfAborted();
    const source = s.source ? { ...s.source, file: displayPath(s.source.file) } : undefined;
    if (s.op === "copy" || s.op === "add") {
      const label = `image ${image.name}: ${stepLabel(s, i + 1, all.length)}`;
      const packed = await packCopyStep(s, i, { contextDir, tmpDir, ignore, signal: o.signal, label });
      contexts.push(packed);
      const step: Step = { op: s.op, context: packed.digest, sources: packed.sources, dest: s.dest, text: s.text };
      if (s.chown) step.chown = s.chown;
      if (s.chmod) step.chmod = s.chmod;
      steps.push(source ? { ...step, source } : step);
    } else {
      // Every other step is already in its IR shape, apart from the source's display path.
      const { source: _drop, ...rest } = s;
      steps.push((source ? { ...rest, source } : rest) as Step);
    }
  }
  return { definition: { name: image.name, tag: image.tag, baseImage: image.baseImage, steps }, contexts };
}

/** Uploads the contexts the daemon does not have yet (a rebuild of unchanged files uploads nothing). */
async function upload(client: SandboxClient, contexts: PackedContext[], o: BuildOptions): Promise<void> {
  const seen = new Set<string>();
  let sent = 0;
  let bytes = 0;
  for (const c of contexts) {
    if (seen.has(c.digest)) continue;
    seen.add(c.digest);
    o.signal?.throwIfAborted();
    if (await client.hasContext(c.digest)) continue;
    await client.uploadContext(c.digest, createReadStream(c.file), o.signal);
    sent++;
    bytes += c.sizeBytes;
  }
  if (seen.size)
    o.onProgress?.(
      `contexts: ${seen.size} (${sent ? `uploaded ${sent}, ${formatBytes(bytes)}` : "all already on the daemon"})`,
    );
}

/** Follows a build's events until it ends; resolves to the image, throws on failure or cancellation. */
export async function followBuild(client: SandboxClient, buildId: string, o: FollowOptions = {}): Promise<ImageInfo> {
  // Events replay from the start on every request, so after a broken stream the ones already
  // handled are skipped.
  let seen = 0;
  try {
    for (let attempt = 0; ; attempt++) {
      let n = 0;
      try {
        for await (const ev of client.buildEvents(buildId, { follow: true, signal: o.signal })) {
          if (n++ < seen) continue;
          seen++;
          o.onEvent?.(ev);
          if (ev.type === "done") return await finished(client, ev.build, ev.image);
        }
      } catch (err) {
        if (o.signal?.aborted || !(err instanceof SbxError) || err.code !== "internal" || attempt >= 3) throw err;
      }
      const build = await client.getBuild(buildId);
      if (build.state !== "queued" && build.state !== "running") return await finished(client, build, null);
      if (attempt >= 3)
        throw new SbxError(
          "internal",
          `the event stream of build ${buildId} keeps breaking off; see \`sbx image logs ${buildId} -f\` and the sbxd log`,
        );
      await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
    }
  } catch (err) {
    if (!o.signal?.aborted) throw err;
    if (o.cancelOnAbort) await client.cancelBuild(buildId).catch(() => undefined);
    throw o.signal.reason;
  }
}

async function finished(client: SandboxClient, build: BuildInfo, image: ImageInfo | null): Promise<ImageInfo> {
  if (build.state === "succeeded") return image ?? (await client.getImage(`${build.imageName}:${build.tag}`));
  throw buildError(build);
}

/** The error a failed or cancelled build becomes; `details` holds the failure (step, source, exit code, last lines). */
export function buildError(build: BuildInfo): SbxError {
  const f = build.failure;
  const details: Record<string, unknown> = {
    buildId: build.id,
    state: build.state,
    image: `${build.imageName}:${build.tag}`,
    build,
  };
  if (build.state === "cancelled")
    return new SbxError(
      "failed_precondition",
      `build ${build.id} of ${build.imageName}:${build.tag} was cancelled`,
      details,
    );
  if (!f)
    return new SbxError(
      "failed_precondition",
      `build ${build.id} of ${build.imageName}:${build.tag} ${build.state === "failed" ? "failed" : `ended ${build.state}`}`,
      details,
    );
  Object.assign(details, {
    step: f.step,
    text: f.text,
    source: f.source,
    exitCode: f.exitCode,
    lastLines: f.lastLines,
    failure: f,
  });
  const where = f.source ? ` (${formatSource(f.source)})` : "";
  const step = f.step !== null ? ` at step ${f.step}/${build.steps}${f.text ? ` ${f.text}` : ""}${where}` : "";
  const code = f.exitCode !== null ? ` (exit code ${f.exitCode})` : "";
  // A build that broke because the daemon's disk is full says so with the code a caller can act on.
  return new SbxError(
    f.code === "no_space" ? "no_space" : "failed_precondition",
    `build ${build.id} of ${build.imageName}:${build.tag} failed${step}: ${f.message}${code}`,
    details,
  );
}

async function withClient<T>(
  option: SandboxClient | ClientOptions | undefined,
  fn: (client: SandboxClient) => Promise<T>,
): Promise<T> {
  if (option instanceof SandboxClient) return fn(option);
  const client = new SandboxClient(option ?? {});
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}
