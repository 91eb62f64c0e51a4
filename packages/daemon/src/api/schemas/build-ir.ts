// The image step IR: the one internal form of an image definition. The SDK's `Image` (and later
// the Dockerfile front end) produce it; the daemon replays it. Plain JSON, validated with zod.
import { z } from "@hono/zod-openapi";

export const StepSource = z
  .object({ file: z.string(), line: z.number().int(), column: z.number().int().optional() })
  .openapi("StepSource", { description: "where the step was declared, for error messages" });

const Chown = z
  .string()
  .regex(/^(\d+|[a-z_][a-z0-9_-]*)(:(\d+|[a-z_][a-z0-9_-]*))?$/, "chown is user[:group], by name or id");
const Chmod = z.string().regex(/^[0-7]{3,4}$/, "chmod is an octal mode such as 0755");

/** One source of a copy/add step: entry `<index>/<name>` of the step's context tar. */
export const CopySource = z.object({
  name: z
    .string()
    .min(1)
    .max(255)
    .refine((n) => !n.includes("/") && n !== "." && n !== "..", "a source name is one path component"),
  type: z.enum(["file", "dir"]),
  /** add() only: unpack this local archive into the destination. */
  extract: z.boolean().optional(),
});

export const Step = z
  .discriminatedUnion("op", [
    z.strictObject({
      op: z.literal("run"),
      command: z.union([z.string().min(1), z.array(z.string()).min(1)]),
      source: StepSource.optional(),
    }),
    z.strictObject({
      op: z.literal("env"),
      key: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
      value: z.string(),
      source: StepSource.optional(),
    }),
    z.strictObject({ op: z.literal("workdir"), path: z.string().min(1), source: StepSource.optional() }),
    z.strictObject({
      op: z.literal("user"),
      user: z.string().regex(/^(\d+|[a-z_][a-z0-9_-]*)(:(\d+|[a-z_][a-z0-9_-]*))?$/),
      source: StepSource.optional(),
    }),
    z.strictObject({
      op: z.enum(["copy", "add"]),
      /** sha256 digest of the step's context tar (uploaded with PUT /v1/contexts/{digest}). */
      context: z.string().regex(/^sha256:[0-9a-f]{64}$/),
      sources: z.array(CopySource).min(1),
      dest: z.string().min(1),
      chown: Chown.optional(),
      chmod: Chmod.optional(),
      /** What the user wrote, for progress lines and errors (`copy("scripts/", "/opt/app/scripts/")`). */
      text: z.string().optional(),
      source: StepSource.optional(),
    }),
    z.strictObject({
      op: z.literal("copy_from"),
      /** Image (name[:tag] or id) whose files are copied: a Dockerfile's `COPY --from=<stage|image>`. */
      image: z.string().min(1).max(255),
      /** Paths in that image (absolute, or relative to its root); `*`, `?` and `[...]` match as in sh. */
      paths: z
        .array(
          z
            .string()
            .min(1)
            .max(4096)
            .refine((p) => !p.includes("\0"), "a path has no NUL byte"),
        )
        .min(1)
        .max(64),
      dest: z.string().min(1),
      chown: Chown.optional(),
      chmod: Chmod.optional(),
      text: z.string().optional(),
      source: StepSource.optional(),
    }),
    z.strictObject({ op: z.literal("entrypoint"), args: z.array(z.string()), source: StepSource.optional() }),
    z.strictObject({ op: z.literal("cmd"), args: z.array(z.string()), source: StepSource.optional() }),
  ])
  .openapi("Step");

export const ImageDefinition = z
  .strictObject({
    name: z.string(),
    tag: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/)
      .optional(),
    baseImage: z.string().min(1),
    steps: z.array(Step).max(200),
  })
  .openapi("ImageDefinition");

export type StepT = z.infer<typeof Step>;
export type ImageDefinitionT = z.infer<typeof ImageDefinition>;
export type CopySourceT = z.infer<typeof CopySource>;

export { describeStep } from "@sbx-sh/protocol";
