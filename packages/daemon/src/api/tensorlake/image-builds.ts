// Image builds from the Tensorlake SDK (`Image.build()`, `createSandboxImage`) on sbx's own build
// service, with the SDK unchanged. The SDK's flow (research tensorlake-wire.md §7): prepare a
// template build (it sends the Dockerfile), create a builder sandbox from the image the answer
// names, upload the context into it, start `tl-rootfs-build --spec …` there and stream its output
// as the build log, read `metadata.json`, then complete the template build.
//
// sbx serves it this way, which needs no builder image and keeps the Dockerfile front end out of
// any sandbox: at prepare the daemon parses the Dockerfile (the front end in @sbx-sh/protocol),
// maps `tensorlake/<base>` to sbx's base, and starts a normal sbx build (cache, registry, events);
// a base that cannot be built, or an unsupported instruction, fails prepare before any builder
// sandbox exists. The builder is an ordinary sandbox of the default base. When the SDK starts
// `tl-rootfs-build` in it, the process route hands the start here: the spec names the prepared
// build, and a relay process (`cat`) in the builder sandbox replays the sbx build's events as its
// output, so the SDK streams real build logs; the daemon writes `metadata.json` when the build has
// succeeded and then closes the relay's stdin (exit 0, or 1 without metadata). Complete answers the
// registered image as the template.
import { Readable } from "node:stream";
import { posix } from "node:path";
import type { Context } from "hono";
import { z } from "zod";
import {
  SbxError,
  flattenDockerfile,
  parseDockerfile,
  type DockerfileStep,
  type ImageDefinition,
  type Step,
} from "@sbx-sh/protocol";
import type { BuildEvent } from "../../domain/build-events.js";
import type { ImageRecord, ProcessRecord } from "../../domain/records.js";
import type { Services } from "../../services/services.js";
import type { Api, AppEnv } from "../api-types.js";
import { parse, readJson } from "./common.js";
import { sbxImageName } from "./lifecycle.js";
import { toTemplate } from "./templates.js";

/** The builder sandbox's image: any image with sh, tar and gzip (the SDK untars the context). */
const BUILDER_IMAGE = "debian-minimal";
const PREFIX = "/platform/v1/organizations/:org/projects/:proj/sandbox-template-builds";

const PrepareBody = z.object({
  name: z.string().min(1),
  dockerfile: z.string().optional().nullable(),
});

interface Pending {
  project: string;
  buildId: string;
  /** Settles with the registered image, or rejects with the build's failure. */
  image: Promise<ImageRecord>;
  events: () => AsyncGenerator<BuildEvent>;
  preparedAt: number;
}

/** A Dockerfile step as a build IR step; what needs the uploaded context is refused, by line. */
function toIrStep(step: DockerfileStep): Step {
  const source = { file: step.source.file, line: step.source.line };
  switch (step.op) {
    case "copy":
    case "add":
    case "copy_from":
      throw new SbxError(
        "unimplemented",
        `${step.source.file}:${step.source.line}: COPY/ADD is not served on sbx's Tensorlake build path: build images with files with \`sbx image create\` (a Dockerfile or the Image model)`,
      );
    default:
      return { ...step, source };
  }
}

/** One build event as the lines of build log the SDK prints. */
function logLines(e: BuildEvent): string {
  if (e.type === "step") return `#${e.step}/${e.total} ${e.text}${e.cached ? " (cached)" : ""}\n`;
  if (e.type === "log") return e.data.endsWith("\n") ? e.data : `${e.data}\n`;
  if (e.type === "done")
    return e.image
      ? `built ${e.image.name}:${e.image.tag} (${e.image.id})\n`
      : `build failed: ${e.build.failure ?? ""}\n`;
  return "";
}

export class TlImageBuilds {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly s: Services) {}

  /** Parses the Dockerfile and starts the sbx build; its errors are the prepare call's. */
  async prepare(project: string, name: string, dockerfile: string): Promise<Pending> {
    const parsed = parseDockerfile(dockerfile, { buildArgs: {}, fileName: "Dockerfile" });
    const flat = flattenDockerfile(parsed);
    if (flat.needs.length > 0)
      throw new SbxError("unimplemented", "multi-stage COPY --from is not served on sbx's Tensorlake build path");
    const definition: ImageDefinition = {
      name,
      baseImage: sbxImageName(flat.baseImage) ?? flat.baseImage,
      steps: flat.steps.map(toIrStep),
    };
    const build = await this.s.builds.create(project, { definition, registeredName: name, replace: true });
    const events = () => this.s.builds.events(project, build.id, true);
    const image = (async () => {
      for await (const e of events())
        if (e.type === "done") {
          if (e.image) return e.image;
          throw new SbxError("failed_precondition", `build ${build.id} failed: ${e.build.failure ?? "unknown"}`);
        }
      throw new SbxError("failed_precondition", `build ${build.id} ended without a result`);
    })();
    image.catch(() => undefined);
    const p: Pending = { project, buildId: build.id, image, events, preparedAt: Date.now() };
    this.pending.set(build.id, p);
    return p;
  }

  /** Completed (or abandoned: prepared over an hour ago and never completed). */
  forget(buildId: string): void {
    this.pending.delete(buildId);
    for (const [id, p] of this.pending) if (Date.now() - p.preparedAt > 3_600_000) this.pending.delete(id);
  }

  get(project: string, buildId: string): Pending {
    const p = this.pending.get(buildId);
    if (!p || p.project !== project) throw new SbxError("not_found", `template build ${buildId} does not exist`);
    return p;
  }

  /**
   * `tl-rootfs-build` started in a builder sandbox: undefined when `command` is anything else.
   * The spec it names must be a build this project prepared.
   */
  async startBuilder(
    project: string,
    sandbox: string,
    command: string,
    args: string[],
  ): Promise<ProcessRecord | undefined> {
    if (posix.basename(command) !== "tl-rootfs-build") return undefined;
    const arg = (flag: string) => {
      const i = args.indexOf(flag);
      return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
    };
    const specPath = arg("--spec");
    const metadataPath = arg("--metadata-out");
    if (!specPath || !metadataPath)
      throw new SbxError("invalid_argument", "tl-rootfs-build needs --spec and --metadata-out");
    // Written by the SDK in a sandbox: hostile input, only a build id is taken from it.
    let spec: unknown;
    try {
      spec = JSON.parse((await this.s.files.read(project, sandbox, specPath)).toString("utf8"));
    } catch (err) {
      throw new SbxError("invalid_argument", `cannot read the build spec ${specPath}: ${(err as Error).message}`);
    }
    const id = (spec as { buildId?: unknown } | null)?.buildId;
    if (typeof id !== "string") throw new SbxError("invalid_argument", `the build spec ${specPath} has no buildId`);
    const p = this.get(project, id);
    const relay = await this.s.processes.start(project, sandbox, {
      command: "/bin/sh",
      args: ["-c", 'cat && test -f "$1"', "tl-rootfs-build", metadataPath],
      user: "root",
      stdin: true,
    });
    void this.relay(p, sandbox, relay, metadataPath).catch(() => undefined);
    return relay;
  }

  /** Feeds the build's log to the relay, writes metadata.json on success, then ends the relay. */
  private async relay(p: Pending, sandbox: string, relay: ProcessRecord, metadataPath: string): Promise<void> {
    const write = (text: string) =>
      text ? this.s.processes.writeStdin(p.project, sandbox, relay.id, Buffer.from(text)) : Promise.resolve();
    try {
      for await (const e of p.events()) await write(logLines(e));
      const image = await p.image;
      const metadata = {
        buildId: p.buildId,
        snapshotId: image.id,
        snapshotUri: `sbx://images/${image.id}`,
        snapshotFormatVersion: "sbx-layers",
        snapshotSizeBytes: image.sizeBytes,
        rootfsDiskBytes: image.sizeBytes,
        rootfsNodeKind: "base",
      };
      await this.s.files.write(p.project, sandbox, metadataPath, Readable.from([JSON.stringify(metadata)]));
    } finally {
      await this.s.processes.closeStdin(p.project, sandbox, relay.id).catch(() => undefined);
    }
  }
}

export function registerTlImageBuilds(app: Api, builds: TlImageBuilds, scope: (c: Context<AppEnv>) => string): void {
  app.post(PREFIX, async (c) => {
    const project = scope(c);
    const body = parse(PrepareBody, await readJson(c));
    if (!body.dockerfile)
      throw new SbxError(
        "unimplemented",
        "importing a registry image through the Tensorlake SDK is not served: pull it with `sbx image pull`",
      );
    const p = await builds.prepare(project, body.name, body.dockerfile);
    return c.json(
      {
        buildId: p.buildId,
        snapshotId: p.buildId,
        rootfsNodeKind: "base",
        builder: { image: BUILDER_IMAGE, command: "tl-rootfs-build", cpus: 1, memoryMb: 1024, diskMb: 2048 },
      },
      200,
    );
  });

  app.post(`${PREFIX}/:buildId/complete`, async (c) => {
    const p = builds.get(scope(c), c.req.param("buildId") ?? "");
    const image = await p.image;
    builds.forget(p.buildId);
    return c.json(toTemplate(image), 200);
  });
}
