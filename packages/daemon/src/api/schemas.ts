// The HTTP contract: every request body and response object of the sbx API, as zod schemas.
// The same schemas validate requests, generate openapi.json, and type the SDK.
import { z } from "@hono/zod-openapi";
import { ImageDefinition, StepSource } from "./build-ir-schema.js";
import { LIMITS, TERMINAL_SIZE } from "../domain/limits.js";

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "sandbox_not_found" }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi("Error");

/** Strings that end up in an exec's argv or environment: the kernel cannot pass a NUL byte. */
const ExecString = z.string().regex(/^[^\0]*$/, "must not contain NUL bytes");
/** Bounded so every exec of the sandbox still fits what the kernel accepts (see assertExecFits). */
const EnvMap = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .max(255),
    ExecString.refine((v) => Buffer.byteLength(v) <= 65536, "an env value is at most 64 KiB"),
    { error: "env names are letters, digits and _, not starting with a digit; values are strings" },
  )
  .refine((env) => Object.keys(env).length <= 1024, "at most 1024 env variables");

/** Entries are checked by the service, which names a bad one in its error. */
const EgressList = z.array(z.string().max(255)).max(256);

export const SandboxStatus = z.enum(["pending", "running", "suspended", "terminated"]);

export const CreateSandboxRequest = z
  .strictObject({
    image: z.string().min(1).max(255).optional().openapi({ description: "image name; default debian-minimal" }),
    name: z.string().optional(),
    cpus: z.number().min(LIMITS.cpus.min).max(LIMITS.cpus.max).optional(),
    memoryMb: z.number().int().min(LIMITS.memoryMb.min).max(LIMITS.memoryMb.max).optional(),
    pidsLimit: z.number().int().min(LIMITS.pids.min).max(LIMITS.pids.max).optional(),
    diskMb: z.number().int().min(LIMITS.diskMb.min).max(LIMITS.diskMb.max).optional(),
    timeoutSecs: z
      .number()
      .int()
      .min(LIMITS.timeoutSecs.min)
      .max(LIMITS.timeoutSecs.max)
      .optional()
      .openapi({ description: "0 disables the timeout" }),
    allowInternetAccess: z.boolean().optional(),
    allowOut: EgressList.optional().openapi({
      description:
        "only these IPv4 addresses/CIDRs (and DNS to the resolvers) are reachable; simple host names are resolved on the host now",
    }),
    denyOut: EgressList.optional().openapi({ description: "IPv4 addresses/CIDRs dropped even if allowed" }),
    env: EnvMap.optional(),
    snapshotId: z.string().optional().openapi({ description: "start from this snapshot instead of an image" }),
  })
  .openapi("CreateSandboxRequest");

export const Sandbox = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    project: z.string(),
    image: z.string(),
    imageId: z.string(),
    status: SandboxStatus,
    cpus: z.number(),
    memoryMb: z.number(),
    pidsLimit: z.number(),
    diskMb: z.number(),
    timeoutSecs: z.number(),
    allowInternetAccess: z.boolean(),
    allowOut: z
      .array(z.string())
      .openapi({ description: "enforced now: addresses and CIDRs, host names replaced by their current addresses" }),
    denyOut: z.array(z.string()),
    egressEntries: z
      .object({ allowOut: z.array(z.string()), denyOut: z.array(z.string()) })
      .openapi({ description: "the lists as given: CIDRs and host names" }),
    egressHosts: z.record(z.string(), z.array(z.string())).openapi({
      description: "host name → its current IPv4 addresses (re-resolved by the daemon every --egress-refresh seconds)",
    }),
    env: z.record(z.string(), z.string()),
    ipAddress: z.string().nullable(),
    snapshotId: z.string().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    terminatedAt: z.string().nullable(),
    terminationReason: z
      .string()
      .nullable()
      .openapi({ description: "requested | timeout | died | daemon_restart | error" }),
  })
  .openapi("Sandbox");

export const UpdateNetworkRequest = z
  .strictObject({
    allowOut: EgressList.optional().openapi({
      description: "replaces the list; omitted = unchanged, [] = no restriction",
    }),
    denyOut: EgressList.optional().openapi({ description: "replaces the list; omitted = unchanged" }),
  })
  .openapi("UpdateNetworkRequest");

export const SandboxList = z.object({ sandboxes: z.array(Sandbox) }).openapi("SandboxList");

export const ProcessStatus = z.enum(["running", "exited"]);

export const StartProcessRequest = z
  .strictObject({
    command: ExecString.min(1),
    args: z.array(ExecString).optional(),
    env: EnvMap.optional(),
    workingDir: ExecString.optional(),
    user: z
      .string()
      .regex(
        /^(\d+|[a-z_][a-z0-9_-]*)(:(\d+|[a-z_][a-z0-9_-]*))?$/,
        "user is root, a uid, uid:gid, or a user name (name:group)",
      )
      .optional(),
    timeoutSecs: z.number().int().min(1).max(LIMITS.timeoutSecs.max).optional(),
    stdin: z.boolean().optional().openapi({ description: "keep stdin open for POST .../stdin" }),
  })
  .openapi("StartProcessRequest");

export const Process = z
  .object({
    id: z.string(),
    sandboxId: z.string(),
    command: z.string(),
    args: z.array(z.string()),
    status: ProcessStatus,
    exitCode: z.number().nullable(),
    signal: z.string().nullable(),
    timedOut: z.boolean(),
    stdin: z.boolean(),
    startedAt: z.string(),
    endedAt: z.string().nullable(),
  })
  .openapi("Process");

export const ProcessList = z.object({ processes: z.array(Process) }).openapi("ProcessList");

export const SignalRequest = z
  .strictObject({
    signal: z
      .string()
      .regex(/^(SIG)?[A-Z0-9]+$/)
      .default("SIGTERM"),
  })
  .openapi("SignalRequest");

export const FileEntry = z
  .object({
    name: z.string(),
    type: z.enum(["file", "directory", "symlink", "other"]),
    size: z.number(),
    mode: z.number(),
    modifiedAt: z.string(),
  })
  .openapi("FileEntry");

export const DirectoryListing = z.object({ path: z.string(), entries: z.array(FileEntry) }).openapi("DirectoryListing");

export const DaemonInfo = z
  .object({
    version: z.string(),
    runtime: z.string(),
    cgroupVersion: z.union([z.literal(1), z.literal(2)]),
    dataDir: z.string(),
    sandboxesRunning: z.number(),
  })
  .openapi("DaemonInfo");

export const Project = z.object({ name: z.string(), createdAt: z.string() }).openapi("Project");
export const CreateProjectRequest = z.strictObject({ name: z.string() }).openapi("CreateProjectRequest");
export const Token = z
  .object({ id: z.string(), project: z.string(), token: z.string().optional(), createdAt: z.string() })
  .openapi("Token");

/** One line of an output stream (NDJSON): a chunk of stdout/stderr (base64) or the final exit. */
export const OutputEvent = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("stdout"), data: z.string().openapi({ description: "base64" }) }),
    z.object({ type: z.literal("stderr"), data: z.string().openapi({ description: "base64" }) }),
    z.object({
      type: z.literal("exit"),
      exitCode: z.number().nullable(),
      signal: z.string().nullable(),
      timedOut: z.boolean(),
    }),
  ])
  .openapi("OutputEvent");

export type CreateSandboxRequest = z.infer<typeof CreateSandboxRequest>;
export type SandboxT = z.infer<typeof Sandbox>;
export type UpdateNetworkRequest = z.infer<typeof UpdateNetworkRequest>;
export type StartProcessRequest = z.infer<typeof StartProcessRequest>;
export type ProcessT = z.infer<typeof Process>;
export type FileEntryT = z.infer<typeof FileEntry>;
export type OutputEventT = z.infer<typeof OutputEvent>;
export type DaemonInfoT = z.infer<typeof DaemonInfo>;

// ---- image builds -------------------------------------------------------------------------

export const BuildState = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);

export const CreateBuildRequest = z
  .strictObject({
    definition: ImageDefinition,
    /** Name to register; defaults to the definition's name. */
    registeredName: z.string().optional(),
    tag: z.string().optional(),
    replace: z.boolean().optional(),
    noCache: z.boolean().optional(),
  })
  .openapi("CreateBuildRequest");

export const BuildFailure = z
  .object({
    step: z
      .number()
      .nullable()
      .openapi({ description: "1-based step number, null when the build failed outside a step" }),
    text: z.string().nullable(),
    source: StepSource.nullable(),
    exitCode: z.number().nullable(),
    message: z.string(),
    lastLines: z.array(z.string()),
    code: z
      .string()
      .optional()
      .openapi({ description: "error code when the build failed outside a step's command, e.g. no_space" }),
  })
  .openapi("BuildFailure");

export const Build = z
  .object({
    id: z.string(),
    project: z.string(),
    imageName: z.string(),
    tag: z.string(),
    state: BuildState,
    steps: z.number(),
    imageId: z.string().nullable(),
    failure: BuildFailure.nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
  })
  .openapi("Build");

/** One line of a build's event stream (NDJSON); the same events replay for a late follower. */
export const BuildEvent = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("build"), build: Build }),
    z.object({
      type: z.literal("step"),
      step: z.number(),
      total: z.number(),
      text: z.string(),
      cached: z.boolean(),
      key: z.string(),
    }),
    z.object({ type: z.literal("log"), step: z.number(), stream: z.enum(["stdout", "stderr"]), data: z.string() }),
    z.object({
      type: z.literal("step_done"),
      step: z.number(),
      cached: z.boolean(),
      durationMs: z.number(),
      layer: z.object({ digest: z.string(), sizeBytes: z.number() }).nullable(),
    }),
    z.object({ type: z.literal("done"), build: Build, image: z.lazy(() => ImageDetail).nullable() }),
  ])
  .openapi("BuildEvent");

export const ImageLayer = z
  .object({ digest: z.string(), key: z.string(), sizeBytes: z.number(), step: z.string(), cached: z.boolean() })
  .openapi("ImageLayer");

export const ImageConfig = z
  .object({
    env: z.array(z.string()),
    workingDir: z.string(),
    user: z.string(),
    entrypoint: z.array(z.string()).nullable(),
    cmd: z.array(z.string()).nullable(),
    systemd: z.boolean(),
  })
  .openapi("ImageConfig");

export const ImageDetail = z
  .object({
    name: z.string(),
    tag: z.string(),
    id: z.string(),
    project: z.string().nullable(),
    kind: z.enum(["base", "built"]),
    baseImage: z.string().nullable(),
    sizeBytes: z.number(),
    layers: z.array(ImageLayer),
    config: ImageConfig,
    buildId: z.string().nullable(),
    isolation: z.string().openapi({ description: "userns (default) or host-ids (systemd images on cgroup v1 hosts)" }),
    createdAt: z.string(),
  })
  .openapi("ImageDetail");

export type BuildT = z.infer<typeof Build>;
export type BuildEventT = z.infer<typeof BuildEvent>;
export type CreateBuildRequestT = z.infer<typeof CreateBuildRequest>;
export type ImageDetailT = z.infer<typeof ImageDetail>;

/** Images are listed with their full detail (base and built alike). */
export const ImageList = z.object({ images: z.array(ImageDetail) }).openapi("ImageList");
export type ImageT = ImageDetailT;

// ---- snapshots ----------------------------------------------------------------------------

export const Snapshot = z
  .object({
    id: z.string(),
    project: z.string(),
    type: z.enum(["filesystem", "memory"]),
    status: z.enum(["in_progress", "completed", "failed"]),
    sourceSandboxId: z.string(),
    sourceImage: z.string(),
    sourceImageId: z.string(),
    parentSnapshotId: z.string().nullable(),
    layers: z.number().openapi({ description: "depth of the layer stack above the base" }),
    sizeBytes: z.number(),
    error: z.string().nullable(),
    createdAt: z.string(),
    completedAt: z.string().nullable(),
  })
  .openapi("Snapshot");

export const CreateSnapshotRequest = z
  .strictObject({ type: z.enum(["filesystem", "memory"]).optional() })
  .openapi("CreateSnapshotRequest");
export const CopySandboxRequest = z
  .strictObject({ times: z.number().int().min(1).max(50).default(1) })
  .openapi("CopySandboxRequest");
export const RegisterImageRequest = z
  .strictObject({
    name: z.string(),
    tag: z.string().optional(),
    snapshotId: z.string(),
    replace: z.boolean().optional(),
  })
  .openapi("RegisterImageRequest");
export type SnapshotT = z.infer<typeof Snapshot>;

// ---- terminals ----------------------------------------------------------------------------

const Cols = z.number().int().min(TERMINAL_SIZE.min).max(TERMINAL_SIZE.max);
const Rows = z.number().int().min(TERMINAL_SIZE.min).max(TERMINAL_SIZE.max);

export const CreateTerminalRequest = z
  .strictObject({
    command: z.string().min(1).optional().openapi({ description: "default: bash if the image has it, else sh" }),
    args: StartProcessRequest.shape.args,
    env: StartProcessRequest.shape.env.openapi({ description: "TERM defaults to xterm-256color" }),
    workingDir: StartProcessRequest.shape.workingDir,
    user: StartProcessRequest.shape.user,
    cols: Cols,
    rows: Rows,
  })
  .openapi("CreateTerminalRequest");

export const ResizeTerminalRequest = z.strictObject({ cols: Cols, rows: Rows }).openapi("ResizeTerminalRequest");

export const Terminal = z
  .object({
    id: z.string(),
    sandboxId: z.string(),
    command: z.string(),
    args: z.array(z.string()),
    cols: z.number(),
    rows: z.number(),
    status: z.enum(["running", "exited"]),
    exitCode: z.number().nullable(),
    attached: z.number().openapi({ description: "WebSocket clients attached now" }),
    createdAt: z.string(),
    endedAt: z.string().nullable(),
  })
  .openapi("Terminal");

export const TerminalList = z.object({ terminals: z.array(Terminal) }).openapi("TerminalList");

export type CreateTerminalRequestT = z.infer<typeof CreateTerminalRequest>;
export type TerminalT = z.infer<typeof Terminal>;
