// The control plane's part in cluster content (with --registry): it records each snapshot a node
// committed to the registry (the node's answer names the manifest digest in
// x-sbx-content-manifest) and, to create a sandbox from a snapshot, has the chosen node pull it
// (POST /node/v1/content/snapshots on the node, by digest) before forwarding the create there.
// The content itself never passes through the control plane: nodes and the registry move it.
import { SbxError } from "@sbx-sh/protocol";
import type { Logger } from "../common/log.js";
import type { ContentRecord, ContentRecords } from "./content-records.js";
import { boundedText, forwardHttp } from "./node-forward.js";
import { type NodeTarget } from "./node-target.js";

export const MANIFEST_HEADER = "x-sbx-content-manifest";
/** On the node; not under /cluster/v1 (node tokens, the control plane's) nor /v1 (the public API). */
export const FETCH_PATH = "/node/v1/content/snapshots";
/** On the node: pull an image (content-image.ts) the control plane recorded. */
export const FETCH_IMAGE_PATH = "/node/v1/content/images";
/** The id the control plane drew for a build it places on a node (cluster/build-directory.ts). */
export const BUILD_ID_HEADER = "x-sbx-build-id";
export const BUILD_ID = /^bld-[0-9a-z]{8,40}$/;

export class ControlContent {
  constructor(
    readonly records: ContentRecords,
    private readonly log: Logger,
  ) {}

  /** The snapshot a create names, if this project's and stored in the registry. */
  resolveSnapshot(project: string, snapshotId: unknown): Promise<ContentRecord> {
    if (typeof snapshotId !== "string" || snapshotId.length === 0 || snapshotId.length > 200)
      throw new SbxError("invalid_argument", "invalid request: snapshotId: expected a snapshot id");
    return this.records.snapshot(project, snapshotId);
  }

  /** Has the node pull the snapshot (a no-op where it is already); the node's refusal is the caller's error. */
  async fetchOn(target: NodeTarget, rec: ContentRecord, signal?: AbortSignal): Promise<Response | null> {
    const body = new TextEncoder().encode(JSON.stringify({ id: rec.id, manifest: rec.manifest }));
    const res = await forwardHttp(
      target,
      new Request("http://node" + FETCH_PATH, { method: "POST", headers: { "content-type": "application/json" } }),
      FETCH_PATH,
      { body, ...(signal ? { signal } : {}) },
    );
    if (res.ok) {
      await res.body?.cancel();
      return null;
    }
    return res;
  }

  /** A node's answer to a snapshot: recorded when it says the registry holds it; passed on as it came. */
  async recordSnapshot(res: Response, node: string, project: string): Promise<Response> {
    if (res.status !== 201) return res;
    // The node's answer is checked like any input: bounded, parsed safely, its id and digest well formed.
    const text = await boundedText(res, 64 << 10);
    const manifest = res.headers.get(MANIFEST_HEADER);
    let id: unknown;
    try {
      id = (JSON.parse(text) as { id?: unknown }).id;
    } catch {
      throw new SbxError("node_unavailable", `node ${node} answered the snapshot with something that is not JSON`);
    }
    const good = typeof id === "string" && /^[A-Za-z0-9_-]{1,100}$/.test(id);
    if (good && manifest && /^sha256:[0-9a-f]{64}$/.test(manifest))
      await this.records.put({ id: id as string, kind: "snapshot", project, manifest, node });
    else this.log.warn({ node, snapshot: id }, "node took a snapshot without storing it in the cluster registry");
    return new Response(text, { status: res.status, headers: res.headers });
  }
}
