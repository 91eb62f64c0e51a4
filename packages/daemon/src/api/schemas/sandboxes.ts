// Sandboxes: the create request, the sandbox as answered, and the network update.
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../domain/limits.js";
import { EgressList, EnvMap, Placement } from "./common.js";
import { VolumeMount } from "./volumes.js";

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
    labels: z
      .record(z.string(), z.string())
      .optional()
      .openapi({ description: "key/value labels for filtering; values are one printable line" }),
    entrypoint: z.array(z.string().min(1).max(4096)).min(1).max(256).optional().openapi({
      description:
        "program started as a background process once the sandbox runs, instead of the image's ENTRYPOINT + CMD",
    }),
    secrets: EnvMap.optional().openapi({
      description: "env for every process, never answered by the API (info shows the names only)",
    }),
    noEntrypoint: z
      .boolean()
      .optional()
      .openapi({ description: "start nothing, even if the image has an ENTRYPOINT or CMD" }),
    volumes: z.array(VolumeMount).max(16).optional().openapi({
      description: "volumes of the project to mount; read-write by one sandbox at a time, read-only by any number",
    }),
    placement: Placement("where a cluster control plane may place the sandbox"),
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
    secrets: z.array(z.string()).optional().openapi({ description: "names of the secrets given at create" }),
    volumes: z
      .array(z.object({ name: z.string(), path: z.string(), readOnly: z.boolean() }))
      .optional()
      .openapi({ description: "the volumes mounted in it" }),
    ipAddress: z.string().nullable(),
    snapshotId: z.string().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    terminatedAt: z.string().nullable(),
    terminationReason: z
      .string()
      .nullable()
      .openapi({ description: "requested | timeout | died | daemon_restart | error | given_up" }),
    labels: z.record(z.string(), z.string()),
    expiresAt: z.string().nullable().openapi({ description: "when the timeout ends it; null: none or not running" }),
  })
  .openapi("Sandbox");

export const UpdateSandboxRequest = z
  .strictObject({
    timeoutSecs: z
      .number()
      .int()
      .min(LIMITS.timeoutSecs.min)
      .max(LIMITS.timeoutSecs.max)
      .optional()
      .openapi({ description: "the sandbox's timeout, counted from now; 0 disables it" }),
  })
  .openapi("UpdateSandboxRequest");

export const UpdateNetworkRequest = z
  .strictObject({
    allowOut: EgressList.optional().openapi({
      description: "replaces the list; omitted = unchanged, [] = no restriction",
    }),
    denyOut: EgressList.optional().openapi({ description: "replaces the list; omitted = unchanged" }),
  })
  .openapi("UpdateNetworkRequest");

export const SandboxList = z.object({ sandboxes: z.array(Sandbox) }).openapi("SandboxList");

export type CreateSandboxRequest = z.infer<typeof CreateSandboxRequest>;
export type SandboxT = z.infer<typeof Sandbox>;
export type UpdateNetworkRequest = z.infer<typeof UpdateNetworkRequest>;
