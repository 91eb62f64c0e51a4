// The isolation matrix of the API abuse tests: every route of the daemon's own /openapi.json (read
// at run time, so a new route is covered or the test fails), with its path parameters replaced by
// another project's object ids and bodies that point at that project's objects.
import { expect } from "vitest";
import { send, expectApiError, type Endpoint, type RawRequest, type RawResponse } from "./api-http.js";

/** The other project's objects ("the victim"): every kind the API has. */
export interface Victim {
  project: string;
  sandboxId: string;
  sandboxName: string;
  ipAddress: string;
  processId: string;
  terminalId: string;
  filePath: string;
  fileContent: string;
  snapshotId: string;
  buildId: string;
  imageName: string;
  imageId: string;
  snapImageName: string;
  contextDigest: string;
  /** One of the victim project's TCP tokens (its id; the secret is not needed). */
  tokenId: string;
  /** A pool of the victim's (no warm sandboxes: only the object matters). */
  poolId: string;
  /** A volume of the victim's (not mounted). */
  volumeName: string;
}

export interface Route {
  key: string;
  method: string;
  path: string;
  query: Array<{ name: string; required: boolean }>;
  bodyTypes: string[];
  bodyRequired: string[];
}

/** Routes outside project isolation by design, with the reason; they are not exercised. */
export const SHARED_ROUTES: Record<string, string> = {};
/** Over the root-only unix socket these manage every project (the socket is the admin's). */
export const UNIX_ADMIN_ROUTES: Record<string, string> = {
  "GET /v1/projects": "lists every project over the socket",
  "POST /v1/projects/{name}/tokens": "mints tokens for any project over the socket",
  "GET /v1/projects/{name}/tokens": "lists any project's tokens over the socket",
  "DELETE /v1/projects/{name}": "deletes any (empty) project over the socket",
  "DELETE /v1/projects/{name}/tokens/{id}": "revokes any project's tokens over the socket",
  // Cluster nodes are the daemon's, not a project's: managed over a control plane's socket only
  // (this daemon is none: failed_precondition); over TCP they are permission_denied (exercised).
  "GET /v1/nodes": "lists the cluster's nodes over a control plane's socket",
  "POST /v1/nodes": "adds a cluster node over a control plane's socket",
  "POST /v1/nodes/{name}/state": "cordons/drains/revokes a cluster node over a control plane's socket",
  "POST /v1/nodes/{name}/drain":
    "drains a cluster node (moving every project's sandboxes) over a control plane's socket",
  // Quotas: any project's over a control plane's socket (this daemon is none: failed_precondition);
  // over TCP another project's is permission_denied (exercised).
  "GET /v1/projects/{name}/quota": "reads any project's cluster quota over a control plane's socket",
  "PUT /v1/projects/{name}/quota": "sets any project's cluster quota over a control plane's socket",
};
/**
 * Authenticated by a node token, not a project's (a project token is refused 401): outside the
 * matrix, but in the authentication test below, which sends them every bad credential.
 */
export const NODE_ROUTES: Record<string, string> = {
  "POST /cluster/v1/register": "a node daemon joins with its node token; project tokens are 401",
  "POST /cluster/v1/heartbeat": "a node daemon renews its lease with its node token; project tokens are 401",
  "POST /cluster/v1/images":
    "a node reports an image it committed for a build placed on it, with its node token; project tokens are 401",
};
/** Served outside /v1 and the OpenAPI document, identical for everyone. */
export const NEUTRAL_PATHS = ["/healthz", "/openapi.json"];

/** Where the matrix writes if isolation failed: checked to be absent afterwards. */
export const PWNED_PATH = "/tmp/pwned-by-other-project";
const DENIED = [
  "not_found",
  "volume_not_found",
  "sandbox_not_found",
  "process_not_found",
  "terminal_not_found",
  "image_not_found",
  "project_not_found",
  "file_not_found",
  "permission_denied",
];

interface Case {
  route: Route;
  req: RawRequest;
  /** Error codes the route may answer; undefined = a 200 scoped to the caller's project. */
  denied?: string[];
}

type Schema = { $ref?: string; required?: string[] };

export async function loadRoutes(ep: Endpoint): Promise<Route[]> {
  const res = await send(ep, { method: "GET", path: "/openapi.json" });
  expect(res.status).toBe(200);
  const doc = JSON.parse(res.text) as {
    paths: Record<
      string,
      Record<
        string,
        {
          parameters?: Array<{ name: string; in: string; required?: boolean }>;
          requestBody?: { content: Record<string, { schema: Schema }> };
        }
      >
    >;
    components?: { schemas?: Record<string, Schema> };
  };
  const resolve = (s: Schema): Schema => (s.$ref ? (doc.components?.schemas?.[s.$ref.split("/").pop()!] ?? {}) : s);
  const routes: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const content = op.requestBody?.content ?? {};
      const jsonSchema = content["application/json"]?.schema;
      routes.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        query: (op.parameters ?? [])
          .filter((p) => p.in === "query")
          .map((p) => ({ name: p.name, required: p.required === true })),
        bodyTypes: Object.keys(content),
        bodyRequired: jsonSchema ? (resolve(jsonSchema).required ?? []) : [],
      });
    }
  }
  return routes;
}

/** Values for a path parameter, chosen by the collection it follows (`/v1/<collection>/{param}`). */
function paramValues(v: Victim, route: Route, param: string): string[] {
  const segs = route.path.split("/");
  const collection = segs[segs.indexOf(`{${param}}`) - 1];
  const byCollection: Record<string, string[]> = {
    sandboxes: [v.sandboxId, v.sandboxName],
    processes: [v.processId],
    terminals: [v.terminalId],
    snapshots: [v.snapshotId],
    builds: [v.buildId],
    images: [v.imageName, `${v.imageName}:latest`, v.snapImageName, v.imageId],
    contexts: [v.contextDigest],
    projects: [v.project],
    ports: ["8080"],
    tokens: [v.tokenId],
    pools: [v.poolId],
    volumes: [v.volumeName],
    // Nodes belong to the daemon, not to a project: any name; TCP callers are refused before the lookup.
    nodes: ["victim-node"],
  };
  const values = byCollection[collection ?? ""];
  if (!values)
    throw new Error(
      `${route.key}: no victim object for {${param}} after /${collection}/: add the collection to paramValues`,
    );
  return values;
}

const QUERY: Record<string, (v: Victim) => string> = {
  path: (v) => v.filePath,
  follow: () => "0",
  all: () => "1",
  recursive: () => "1",
  name: (v) => v.imageName,
  replace: () => "1",
};

/**
 * Routes that name no object of the victim's (they make new ones in the caller's project): aimed
 * at the victim's names anyway, they must fail this way and leave the victim's objects alone.
 */
const NOT_AIMED: Record<string, { status: number[]; codes: string[] }> = {
  // An import under the victim's image name (replace=1) of an archive that is not one.
  "POST /v1/images/import": { status: [400], codes: ["invalid_archive"] },
  // A pull under the victim's image name from a registry that does not answer.
  "POST /v1/images/pull": { status: [412], codes: ["failed_precondition"] },
  // An upload under the victim's context digest of bytes that do not hash to it (contexts are stored
  // once by digest; the GET of the victim's digest is a plain 404 for another project).
  "PUT /v1/contexts/{digest}": { status: [400], codes: ["invalid_archive"] },
  // Listing the cluster's nodes is the control plane's socket's only (the unix case is an exception).
  "GET /v1/nodes": { status: [403], codes: ["permission_denied"] },
};

const pwn = { command: "sh", args: ["-c", `echo pwned > ${PWNED_PATH}`] };
/** Routes that answer with an endless stream. */
const STREAMS = new Set(["GET /v1/events"]);

/** Actions without a path parameter that act on the caller's own project only: a 200, scoped. */
const SCOPED_ACTIONS: Record<string, string> = {
  "POST /v1/sandboxes/prune": "removes the caller's own stopped sandboxes",
  "POST /v1/volumes": "creates a volume in the caller's own project",
};

/** Bodies that aim at the victim; routes with a required body field need an entry here. */
const JSON_BODIES: Record<string, (v: Victim) => unknown[]> = {
  "POST /v1/projects": (v) => [{ name: v.project }],
  "POST /v1/sandboxes": (v) =>
    [
      { snapshotId: v.snapshotId },
      { image: v.imageName },
      { image: `${v.imageName}:latest` },
      { image: v.snapImageName },
      { image: v.imageId },
    ].map((b) => ({ allowInternetAccess: false, ...b })),
  "PATCH /v1/sandboxes/{id}/network": () => [{ allowOut: ["192.0.2.1"] }],
  // A real change, so the answer is about whose sandbox it is, not about an empty request.
  "PATCH /v1/sandboxes/{id}": () => [{ timeoutSecs: 600 }],
  "POST /v1/sandboxes/{id}/processes": () => [pwn],
  "POST /v1/sandboxes/{id}/exec": () => [pwn],
  "POST /v1/sandboxes/{id}/processes/{pid}/signal": () => [{ signal: "SIGKILL" }],
  "POST /v1/sandboxes/{id}/terminals": () => [{ cols: 80, rows: 24, ...pwn }],
  "POST /v1/sandboxes/{id}/terminals/{tid}/resize": () => [{ cols: 10, rows: 5 }],
  "POST /v1/builds": (v) => [
    { definition: { name: "stolen", baseImage: v.imageName, steps: [{ op: "run", command: "true" }] } },
    { definition: { name: "stolen", baseImage: v.snapImageName, steps: [] } },
  ],
  "POST /v1/images": (v) => [
    { name: "stolen", snapshotId: v.snapshotId },
    { name: v.snapImageName, snapshotId: v.snapshotId, replace: true },
  ],
  "POST /v1/sandboxes/{id}/copy": () => [{ times: 1 }],
  "POST /v1/images/{name}/push": () => [{ reference: "127.0.0.1:1/stolen/image:1" }],
  "POST /v1/images/pull": (v) => [{ reference: "127.0.0.1:1/stolen/image:1", name: v.imageName, replace: true }],
  "POST /v1/pools": (v) => [
    { image: v.imageName, warm: 0 },
    { image: v.snapImageName, warm: 0 },
  ],
  // Volume names are per project: the caller's own "stolen-vol" (then GET/DELETE of the victim's name must 404).
  "POST /v1/volumes": () => [{ name: `stolen-vol-${Math.random().toString(36).slice(2, 8)}`, sizeMb: 16 }],
  "POST /v1/nodes": () => [{ name: "stolen-node" }],
  "POST /v1/nodes/{name}/state": () => [{ state: "revoked" }],
  "PUT /v1/projects/{name}/quota": () => [{ maxSandboxes: 0, maxCpus: 0, maxMemoryMb: 0 }],
};

/**
 * Every request of the matrix for one route (one per combination of victim ids and bodies). A
 * route under a sandbox that also names a victim's child object (a process) is tried through the
 * caller's own sandbox too, so ownership is checked per object, not only at the top.
 */
export function casesFor(route: Route, v: Victim, transport: "tcp" | "unix", ownSandboxId: string): Case[] {
  const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  let paths = [route.path];
  for (const p of params) {
    // A port is a number, not an object of the victim's: only processes are tried through the caller's sandbox.
    const own =
      p === "id" && route.path.startsWith("/v1/sandboxes/{id}/") && params.length > 1 && !params.includes("port")
        ? [ownSandboxId]
        : [];
    paths = paths.flatMap((path) =>
      [...paramValues(v, route, p), ...own].map((val) => path.replace(`{${p}}`, encodeURIComponent(val))),
    );
  }
  const missing = route.query.find((q) => q.required && !QUERY[q.name]);
  if (missing)
    throw new Error(`${route.key}: no value for the required query parameter ${missing.name}: add it to QUERY`);
  const qs = route.query
    .filter((q) => QUERY[q.name])
    .map((q) => `${q.name}=${encodeURIComponent(QUERY[q.name]!(v))}`)
    .join("&");

  let bodies: Array<{ body?: string | Buffer; headers?: Record<string, string> }> = [{}];
  if (route.bodyTypes.includes("application/json")) {
    const make = JSON_BODIES[route.key];
    if (!make && route.bodyRequired.length)
      throw new Error(
        `${route.key}: its body needs ${route.bodyRequired.join(", ")}: add a victim-aimed body to JSON_BODIES`,
      );
    bodies = (make ? make(v) : [{}]).map((b) => ({ body: JSON.stringify(b) }));
  } else if (route.bodyTypes.length) {
    bodies = [
      { body: Buffer.from("written by the other project\n"), headers: { "content-type": route.bodyTypes[0]! } },
    ];
  }

  // Over the socket, POST /v1/projects is the admin's: the victim's name already exists.
  const denied =
    params.length || (route.method !== "GET" && !SCOPED_ACTIONS[route.key])
      ? transport === "unix" && route.key === "POST /v1/projects"
        ? ["already_exists"]
        : DENIED
      : undefined;
  return paths.flatMap((path) =>
    bodies.map((b) => ({ route, denied, req: { method: route.method, path: qs ? `${path}?${qs}` : path, ...b } })),
  );
}

/** The victim's values that must never reach the other project (unless it sent them itself). */
export function secrets(v: Victim): string[] {
  return [
    v.project,
    v.sandboxId,
    v.sandboxName,
    v.ipAddress,
    v.processId,
    v.terminalId,
    v.fileContent,
    v.snapshotId,
    v.buildId,
    v.imageName,
    v.imageId,
    v.snapImageName,
    v.tokenId,
    v.poolId,
  ];
}

/** Runs one case and checks its answer: denied with a stable code, or scoped (counts too), and never a leak. */
export async function runCase(ep: Endpoint, c: Case, v: Victim, callerRunning: number): Promise<RawResponse> {
  // A stream (server-sent events) never ends: its status and first bytes are what is checked.
  const res = await send(ep, c.req, STREAMS.has(c.route.key) ? 1_000 : 15_000);
  const what = `${ep.label} ${c.req.method} ${c.req.path} ${c.req.body && !Buffer.isBuffer(c.req.body) ? c.req.body : ""}`;
  const notAimed = NOT_AIMED[c.route.key];
  if (notAimed) expectApiError(res, what, notAimed);
  else if (c.denied) expectApiError(res, what, { status: [403, 404, 409], codes: c.denied });
  // Scoped: 200, or 201 for a create in the caller's own project.
  else expect([200, 201], `${what} -> ${res.text.slice(0, 300)}`).toContain(res.status);
  const sent = `${decodeURIComponent(c.req.path)} ${c.req.body?.toString() ?? ""}`;
  for (const s of secrets(v))
    if (!sent.includes(s)) expect(res.text.includes(s), `${what} leaked ${s}: ${res.text.slice(0, 300)}`).toBe(false);
  if (c.route.key === "GET /v1/info")
    expect((JSON.parse(res.text) as { sandboxesRunning: number }).sandboxesRunning, what).toBe(callerRunning);
  return res;
}
