// The API's paths in one table: clients build request paths with apiPath(), and a daemon test
// holds every template against the routes the daemon serves (openapi.json), so a path cannot be
// misspelled in one client and go unnoticed.

export const ROUTES = {
  info: "/v1/info",
  projects: "/v1/projects",
  project: "/v1/projects/{name}",
  projectTokens: "/v1/projects/{name}/tokens",
  projectToken: "/v1/projects/{name}/tokens/{id}",
  sandboxes: "/v1/sandboxes",
  sandbox: "/v1/sandboxes/{id}",
  sandboxesPrune: "/v1/sandboxes/prune",
  sandboxNetwork: "/v1/sandboxes/{id}/network",
  sandboxExec: "/v1/sandboxes/{id}/exec",
  sandboxSnapshot: "/v1/sandboxes/{id}/snapshot",
  sandboxCopy: "/v1/sandboxes/{id}/copy",
  sandboxSuspend: "/v1/sandboxes/{id}/suspend",
  sandboxResume: "/v1/sandboxes/{id}/resume",
  processes: "/v1/sandboxes/{id}/processes",
  process: "/v1/sandboxes/{id}/processes/{pid}",
  processOutput: "/v1/sandboxes/{id}/processes/{pid}/output",
  processSignal: "/v1/sandboxes/{id}/processes/{pid}/signal",
  processStdin: "/v1/sandboxes/{id}/processes/{pid}/stdin",
  files: "/v1/sandboxes/{id}/files",
  filesList: "/v1/sandboxes/{id}/files/list",
  archive: "/v1/sandboxes/{id}/archive",
  ports: "/v1/sandboxes/{id}/ports",
  port: "/v1/sandboxes/{id}/ports/{port}",
  /** WebSocket: the exposed port's TCP bytes as binary frames (not in openapi.json). */
  portConnect: "/v1/sandboxes/{id}/ports/{port}/connect",
  terminals: "/v1/sandboxes/{id}/terminals",
  terminal: "/v1/sandboxes/{id}/terminals/{tid}",
  terminalResize: "/v1/sandboxes/{id}/terminals/{tid}/resize",
  terminalAttach: "/v1/sandboxes/{id}/terminals/{tid}/attach",
  context: "/v1/contexts/{digest}",
  builds: "/v1/builds",
  build: "/v1/builds/{id}",
  buildEvents: "/v1/builds/{id}/events",
  images: "/v1/images",
  image: "/v1/images/{name}",
  imageOci: "/v1/images/{name}/oci",
  imagePush: "/v1/images/{name}/push",
  imagesImport: "/v1/images/import",
  imagesPull: "/v1/images/pull",
  pools: "/v1/pools",
  pool: "/v1/pools/{id}",
  poolSandboxes: "/v1/pools/{id}/sandboxes",
  snapshots: "/v1/snapshots",
  snapshot: "/v1/snapshots/{id}",
  nodes: "/v1/nodes",
  /** A project's quota on a cluster control plane (placement enforces it). */
  projectQuota: "/v1/projects/{name}/quota",
  nodeState: "/v1/nodes/{name}/state",
  /** Drain a node: it takes no new sandboxes and its named sandboxes move to other nodes (NDJSON progress). */
  nodeDrain: "/v1/nodes/{name}/drain",
  /** A node daemon's own calls to the control plane, with its node token (not a project's). */
  nodeRegister: "/cluster/v1/register",
  nodeHeartbeat: "/cluster/v1/heartbeat",
  sandboxStats: "/v1/sandboxes/{id}/stats",
  stats: "/v1/stats",
  /** Server-sent events of the project (resume with Last-Event-ID). */
  events: "/v1/events",
  volumes: "/v1/volumes",
  volume: "/v1/volumes/{name}",
} as const;

export type RouteName = keyof typeof ROUTES;

/** The `{name}` placeholders of a path template, as an object type. */
type ParamsOf<T extends string> = T extends `${string}{${infer P}}${infer Rest}`
  ? { [K in P]: string | number } & ParamsOf<Rest>
  : unknown;

type ArgsOf<R extends RouteName> = (typeof ROUTES)[R] extends `${string}{${string}`
  ? [params: ParamsOf<(typeof ROUTES)[R]>]
  : [];

/** The path of `route` with each placeholder filled in and URL-encoded: `apiPath("sandbox", { id })`. */
export function apiPath<R extends RouteName>(route: R, ...args: ArgsOf<R>): string {
  const params = (args[0] ?? {}) as Record<string, string | number>;
  return ROUTES[route].replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`apiPath(${route}): no value for {${name}}`);
    return encodeURIComponent(String(value));
  });
}
