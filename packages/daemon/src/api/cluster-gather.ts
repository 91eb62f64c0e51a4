// A project's list gathered from the nodes that run its sandboxes (sbx's `GET /v1/sandboxes` and
// Tensorlake's `GET /sandboxes`): one call per node, in parallel, each answer kept to the sandboxes
// the cluster placed there; those on a node that is lost or does not answer are listed apart, with
// the reason, instead of failing the whole list.
import type { Context } from "hono";
import { SbxError } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import { boundedText, forwardHttp } from "../cluster/node-forward.js";
import type { SandboxLocation } from "../cluster/sandbox-directory.js";
import type { AppEnv } from "./api-types.js";
import { targetOf } from "./cluster-calls.js";

/** A node's list answer is read up to this size (thousands of sandboxes fit; a flood from a bad node does not). */
const NODE_LIST_MAX = 64 << 20;

export interface Unavailable {
  id: string;
  name: string | null;
  node: string;
  reason: string;
}

export async function gatherFromNodes<T>(
  c: Context<AppEnv>,
  r: ClusterRouting,
  nodePath: string,
  itemsOf: (answer: unknown) => T[],
  idOf: (item: T) => string,
  extraHeaders?: Record<string, string>,
): Promise<{ items: T[]; unavailable: Unavailable[] }> {
  const project = c.get("project");
  const byNode = new Map<string, SandboxLocation[]>();
  for (const p of await r.directory.ofProject(project)) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  const items: T[] = [];
  const unavailable: Unavailable[] = [];
  await Promise.all(
    [...byNode.values()].map(async (ats) => {
      // A sandbox being moved is unavailable by itself (sandbox-directory.ts), not its node.
      const at = ats.find((a) => !a.unavailable) ?? ats[0]!;
      const ours = new Set(ats.map((a) => a.sandboxId));
      try {
        const target = targetOf(r, at, project, extraHeaders);
        const res = await forwardHttp(target, new Request(c.req.url), nodePath, {
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new SbxError("node_unavailable", `node ${at.node} answered ${res.status}`);
        items.push(
          ...itemsOf(JSON.parse(await boundedText(res, NODE_LIST_MAX)) as unknown).filter((x) => ours.has(idOf(x))),
        );
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        for (const a of ats) unavailable.push({ id: a.sandboxId, name: a.name, node: a.node, reason });
      }
    }),
  );
  return { items, unavailable };
}
