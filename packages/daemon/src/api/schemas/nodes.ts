// Cluster nodes: the listing and credential an operator sees, and the report a node daemon sends.
import { z } from "@hono/zod-openapi";

const Resources = z.object({ cpus: z.number(), memoryMb: z.number(), diskMb: z.number() });

export const ClusterNode = z
  .object({
    name: z.string(),
    state: z.enum(["new", "ready", "cordoned", "draining", "lost", "revoked"]),
    labels: z.record(z.string(), z.string()),
    address: z.string().nullable(),
    capacity: Resources,
    allocated: z.object({ cpus: z.number(), memoryMb: z.number(), sandboxes: z.number() }),
    layers: z.number(),
    leaseSecsLeft: z.number().nullable(),
  })
  .openapi("ClusterNode");

export const AddNodeRequest = z
  .strictObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional() })
  .openapi("AddNodeRequest");

export const NodeCredential = z.object({ name: z.string(), token: z.string() }).openapi("NodeCredential");

const Amount = z
  .number()
  .min(0)
  .max(2 ** 31);
export const NodeReport = z
  .strictObject({
    address: z.string().min(1).max(255),
    capacity: z.strictObject({ cpus: Amount, memoryMb: Amount, diskMb: Amount }),
    usage: z.strictObject({ cpus: Amount, memoryMb: Amount, diskMb: Amount, sandboxes: Amount }),
    layers: z.array(z.string()).max(100_000),
    sandboxIds: z.array(z.string().max(64)).max(100_000).optional(),
    suspended: z.array(z.string().max(64)).max(100_000).optional(),
    proxyAddress: z.string().min(3).max(255).optional(),
  })
  .openapi("NodeReport");

export const NodeLease = z
  .object({
    name: z.string(),
    leaseSecs: z.number(),
    destroy: z.array(z.string()).optional().openapi({ description: "given-up sandboxes the node must destroy" }),
    nodeKey: z.string().optional(),
  })
  .openapi("NodeLease");

export const SetNodeStateRequest = z
  .strictObject({ state: z.enum(["ready", "cordoned", "draining", "revoked"]) })
  .openapi("SetNodeStateRequest");

export const DrainOutcome = z
  .object({
    sandbox: z.string(),
    name: z.string().nullable(),
    project: z.string(),
    outcome: z.enum(["moving", "moved", "failed", "suspended", "stays"]),
    from: z.string(),
    to: z.string().optional(),
    reason: z.string().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .openapi("DrainOutcome");

export const DrainSummary = z
  .object({
    node: z.string(),
    moved: z.number(),
    failed: z.number(),
    suspended: z.number(),
    stays: z.number(),
    sandboxes: z.array(DrainOutcome),
  })
  .openapi("DrainSummary");

/** One line of a drain's NDJSON answer: a sandbox's outcome, the summary at the end, or an error. */
export const DrainEvent = z
  .object({
    event: z.enum(["sandbox", "result"]).optional(),
    sandbox: DrainOutcome.optional(),
    result: DrainSummary.optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .openapi("DrainEvent");
