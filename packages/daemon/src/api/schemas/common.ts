// Shared pieces of the API's zod schemas: the error body, and the string, env and egress-list
// rules that more than one request uses.
import { z } from "@hono/zod-openapi";

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
export const ExecString = z.string().regex(/^[^\0]*$/, "must not contain NUL bytes");
/** Bounded so every exec of the sandbox still fits what the kernel accepts (see assertExecFits). */
export const EnvMap = z
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
export const EgressList = z.array(z.string().max(255)).max(256);

/** Where a cluster control plane may place a sandbox or run a build (`description` says which). */
export const Placement = (description: string) =>
  z
    .strictObject({
      nodeSelector: z
        .record(z.string().min(1).max(63), z.string().max(63))
        .optional()
        .openapi({ description: "only nodes with every one of these labels (cluster control plane only)" }),
    })
    .optional()
    .openapi({ description });
