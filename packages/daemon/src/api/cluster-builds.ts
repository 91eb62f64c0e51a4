// The control plane's routing of image builds (`sbxd --role control --registry …`): a build is placed
// on a node like a sandbox (same placement transaction: node selector, room, nodes that hold the
// base image's layers preferred) and runs there with that node's builder. The control plane draws
// the build's id and records where it runs (cluster/build-directory.ts) before the node sees it, so
// every later call on the build (get, its NDJSON events, cancel) is forwarded to that node, streamed,
// and the image the node commits is recorded under this placement's project and name. The files of
// copy/add steps, uploaded to the control plane (PUT /v1/contexts/…), are sent on to the node first.
// The placement's room is freed once the node has accepted the build: it holds no sandbox after
// (api/cluster-jobs.ts).
// OCI imports and registry pulls go the same way (api/cluster-imports.ts).
import { createReadStream } from "node:fs";
import type { Context, MiddlewareHandler } from "hono";
import { SbxError, assertValidName, assertValidTag, type BuildInfo } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { ControlImages } from "../cluster/control-images.js";
import { boundedText, forwardHttp } from "../cluster/node-forward.js";
import { type NodeTarget } from "../cluster/node-target.js";
import type { Services } from "../services/services.js";
import type { AppEnv } from "./api-types.js";
import { MAX_JSON_BYTES } from "./body-limits.js";
import { forwardCall, readCreateBody, targetOf } from "./cluster-calls.js";
import { placeJob } from "./cluster-jobs.js";
import { importOnNode } from "./cluster-imports.js";
import { nodeSelector } from "./cluster-routing.js";
import { webBody } from "./routes/web-body.js";

const ONE_BUILD = /^\/v1\/builds\/([^/]+)(\/events)?$/;
const EXPORTS = /^\/v1\/images\/[^/]+\/(oci|push)$/;
const NODE_LIST_MAX = 16 << 20;

export function clusterBuilds(r: ClusterRouting, s: Services): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const path = c.req.path;
    // The control plane holds no layers: an export or push from its own store would fail half way.
    if (r.images && EXPORTS.test(path))
      throw new SbxError(
        "unimplemented",
        "exporting or pushing an image is not available on a cluster control plane yet: the image's layers are on the nodes and in the cluster registry",
      );
    const importing = c.req.method === "POST" && (path === "/v1/images/import" || path === "/v1/images/pull");
    if (!path.startsWith("/v1/builds") && !importing) return next();
    const images = r.images;
    if (!images)
      throw new SbxError(
        "unimplemented",
        "image builds, imports and pulls through the control plane need the cluster registry: start it and the nodes with --registry host:port",
      );
    if (importing) return importOnNode(c, r, images);
    if (path === "/v1/builds" && c.req.method === "POST") return buildOnNode(c, r, s, images);
    if (path === "/v1/builds" && c.req.method === "GET") return listFromNodes(c, r, images);
    const m = ONE_BUILD.exec(path);
    if (!m) return next();
    const project = c.get("project");
    const id = decodeURIComponent(m[1]!);
    const target = targetOf(r, await images.builds.locate(project, id), project);
    const query = new URL(c.req.url).search;
    return forwardCall(c, r, target, `/v1/builds/${encodeURIComponent(id)}${m[2] ?? ""}${query}`);
  };
}

async function buildOnNode(c: Context<AppEnv>, r: ClusterRouting, s: Services, images: ControlImages) {
  const { body } = await readCreateBody(c, MAX_JSON_BYTES);
  const def = body.definition as { name?: unknown; tag?: unknown; baseImage?: unknown; steps?: unknown } | undefined;
  if (typeof def !== "object" || def === null || !Array.isArray(def.steps))
    throw new SbxError("invalid_argument", "invalid request: definition: expected an image definition with steps");
  const wanted = body.registeredName ?? def.name;
  if (typeof wanted !== "string")
    throw new SbxError("invalid_argument", "invalid request: definition.name: expected a name");
  const name = assertValidName("image", wanted);
  const tag = assertValidTag(String(body.tag ?? def.tag ?? "latest"));
  const project = c.get("project");
  const { placement, ...rest } = body;
  const base = await images.resolve(project, def.baseImage).catch(() => null);
  const job = { project, imageName: name, tag, replace: rest.replace === true };
  return placeJob(
    r,
    images,
    { ...job, layers: base?.layers ?? [], selector: nodeSelector(placement) },
    async (target, at) => {
      // The base and COPY --from images, when built elsewhere in the cluster: pulled there first.
      for (const image of [base, ...(await copyFromImages(images, project, def.steps as unknown[]))]) {
        const refused = image ? await images.fetchOn(target, image) : null;
        if (refused) return { response: refused, accepted: false };
      }
      for (const step of def.steps as Array<{ op?: unknown; context?: unknown }>)
        if ((step?.op === "copy" || step?.op === "add") && typeof step.context === "string")
          await sendContext(s, target, step.context);
      const res = await forwardHttp(target, c.req.raw, "/v1/builds", {
        body: new TextEncoder().encode(JSON.stringify(rest)),
      });
      const text = await boundedText(res, MAX_JSON_BYTES);
      const accepted = res.status === 201;
      if (accepted) r.log.info({ build: at.id, node: at.node, image: `${name}:${tag}` }, "build placed");
      return { response: new Response(text, { status: res.status, headers: res.headers }), accepted };
    },
  );
}

/** The cluster images a build's COPY --from steps name (others are left to the node to resolve). */
async function copyFromImages(images: ControlImages, project: string, steps: unknown[]) {
  const names = new Set<string>();
  for (const step of steps as Array<{ op?: unknown; image?: unknown }>)
    if (step?.op === "copy_from" && typeof step.image === "string") names.add(step.image);
  return Promise.all([...names].map((n) => images.resolve(project, n).catch(() => null)));
}

/** Sends a copy/add step's files (uploaded here) on to the node, unless it has them; missing here: the node says so. */
async function sendContext(s: Services, target: NodeTarget, digest: string): Promise<void> {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) return;
  const path = `/v1/contexts/${digest}`;
  const head = await forwardHttp(target, new Request("http://node" + path, { method: "HEAD" }), path);
  if (head.ok) return;
  const info = await s.contexts.stat(target.project, digest);
  if (!info) return;
  const put = await forwardHttp(
    target,
    new Request("http://node" + path, {
      method: "PUT",
      headers: { "content-type": "application/x-tar", "content-length": String(info.size) },
      body: webBody(createReadStream(s.contexts.path(digest))),
      duplex: "half",
    } as RequestInit),
    path,
  );
  const answer = await boundedText(put, 64 << 10);
  if (!put.ok)
    throw new SbxError(
      "node_unavailable",
      `node ${target.node} did not take the build's files ${digest}: ${answer.slice(0, 300)}`,
    );
}

/** The project's builds from the nodes that ran them, newest first; an unreachable node's are left out. */
async function listFromNodes(c: Context<AppEnv>, r: ClusterRouting, images: ControlImages): Promise<Response> {
  const project = c.get("project");
  const builds: BuildInfo[] = [];
  await Promise.all(
    (await images.builds.nodesOf(project)).map(async (at) => {
      try {
        const res = await forwardHttp(targetOf(r, at, project), new Request(c.req.url), "/v1/builds", {
          signal: AbortSignal.timeout(10_000),
        });
        if (res.ok)
          builds.push(...(JSON.parse(await boundedText(res, NODE_LIST_MAX)) as { builds: BuildInfo[] }).builds);
        else await res.body?.cancel();
      } catch (err) {
        r.log.warn({ node: at.node, err: (err as Error).message }, "build list: node left out");
      }
    }),
  );
  builds.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  return c.json({ builds }, 200);
}
