// Image builds and images: the build request, its record, its NDJSON event stream, images.
import { z } from "@hono/zod-openapi";
import { ImageDefinition, StepSource } from "./build-ir.js";
import { Placement } from "./common.js";

export const BuildState = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);

export const CreateBuildRequest = z
  .strictObject({
    definition: ImageDefinition,
    /** Name to register; defaults to the definition's name. */
    registeredName: z.string().optional(),
    tag: z.string().optional(),
    replace: z.boolean().optional(),
    noCache: z.boolean().optional(),
    placement: Placement("where a cluster control plane may run the build"),
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
export const BaseImageState = z
  .object({
    name: z.string(),
    state: z.enum(["ready", "buildable", "unavailable"]).openapi({
      description: "ready: built; buildable: built on first use; unavailable: cannot be built on this host",
    }),
    reason: z.string().optional().openapi({ description: "why an unavailable base cannot be built" }),
  })
  .openapi("BaseImageState");
export const ImageList = z
  .object({ images: z.array(ImageDetail), bases: z.array(BaseImageState).optional() })
  .openapi("ImageList");
export type ImageT = ImageDetailT;
