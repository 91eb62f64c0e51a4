// A key per node for control → node calls: derived from the control plane's secret, the node's
// name and its salt (different for every node, never the secret itself); handed to the node with
// its lease; a node's API accepts its own key only (another node's is 401); a node the control
// plane refuses (revoked) drops its key, so the key stops opening even that node.
import { createServer, type Server } from "node:http";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SbxError, toSbxError } from "@sbx-sh/protocol";
import { controlPlaneProject } from "../api/node-auth.js";
import { httpStatus } from "../api/http-status.js";
import type { AppEnv } from "../api/api-types.js";
import type { Services } from "../services/services.js";
import { openClusterDb, type ClusterDb } from "./cluster-db.js";
import { NodeAgent } from "./node-agent.js";
import { deriveNodeKey, NodeKeys } from "./node-key.js";
import { NodeRegistry } from "./node-registry.js";
import { report } from "../testing/cluster-kit.js";
import { freshSchema, pgTestUrl } from "../testing/pg-test.js";

const SECRET = "k".repeat(40);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let db: ClusterDb;
beforeAll(async () => {
  db = await openClusterDb({ url: pgTestUrl(), schema: freshSchema("keys") });
});
afterAll(() => db.close());

/** A node's TCP API, as far as its authentication goes. */
function nodeApi(keys: NodeKeys): Hono<AppEnv> {
  const projects = new Set<string>();
  const services = {
    log: quiet,
    projects: {
      require: async (n: string) => {
        if (!projects.has(n)) throw new SbxError("project_not_found", n);
      },
      create: async (n: string) => void projects.add(n),
    },
  } as unknown as Services;
  const app = new Hono<AppEnv>();
  app.get("/v1/sandboxes", async (c) => c.json({ project: await controlPlaneProject(c, services, keys) }));
  app.onError((err, c) => {
    const e = toSbxError(err);
    return c.json({ error: e.toJSON() }, httpStatus(e.code) as 401);
  });
  return app;
}

const call = (app: Hono<AppEnv>, bearer?: string) =>
  app.request("/v1/sandboxes", {
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), "x-sbx-project": "team" },
  });

describe("node keys", () => {
  it("are derived per node and salt from the secret, which they do not reveal", () => {
    const a = deriveNodeKey(SECRET, "n1", "salt-1");
    expect(a).toMatch(/^sbxk_[A-Za-z0-9_-]{43}$/);
    expect(deriveNodeKey(SECRET, "n1", "salt-1")).toBe(a);
    expect(deriveNodeKey(SECRET, "n2", "salt-1")).not.toBe(a);
    expect(deriveNodeKey(SECRET, "n1", "salt-2")).not.toBe(a);
    expect(deriveNodeKey(`${SECRET}x`, "n1", "salt-1")).not.toBe(a);
    expect(a).not.toContain(SECRET);
  });

  it("are handed to each node with its lease, different for every node, none to a revoked one", async () => {
    const reg = new NodeRegistry(db.pool, { leaseSecs: 30, keyFor: (n, salt) => deriveNodeKey(SECRET, n, salt) });
    const one = await reg.add("key-1");
    const two = await reg.add("key-2");
    const g1 = await reg.register(one.token, report(1, 512));
    const g2 = await reg.register(two.token, report(1, 512));
    const { rows } = await db.pool.query<{ name: string; key_salt: string }>(
      "SELECT name, key_salt FROM nodes WHERE name IN ('key-1', 'key-2') ORDER BY name",
    );
    expect(g1.nodeKey).toBe(deriveNodeKey(SECRET, "key-1", rows[0]!.key_salt));
    expect(g2.nodeKey).toBe(deriveNodeKey(SECRET, "key-2", rows[1]!.key_salt));
    expect(g1.nodeKey).not.toBe(g2.nodeKey);
    // The database holds the salts, never a key.
    expect(JSON.stringify((await db.pool.query("SELECT * FROM nodes")).rows)).not.toContain(g1.nodeKey);
    expect((await reg.heartbeat(one.token, report(1, 512))).nodeKey).toBe(g1.nodeKey);
    await reg.setState("key-1", "revoked");
    const refused = await reg.heartbeat(one.token, report(1, 512)).catch((e: unknown) => e);
    expect((refused as SbxError).code).toBe("unauthenticated");
  });

  it("a node's API accepts its own key only: another node's, a project token or none is 401", async () => {
    const [k1, k2] = [deriveNodeKey(SECRET, "n1", "a"), deriveNodeKey(SECRET, "n2", "b")];
    const keysB = new NodeKeys();
    const nodeB = nodeApi(keysB);
    // Not registered yet: no key opens it.
    expect((await call(nodeB, k2)).status).toBe(401);
    keysB.set(k2);
    for (const wrong of [undefined, k1, SECRET, "sbx_project_token", `${k2}x`]) {
      const res = await call(nodeB, wrong);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthenticated");
    }
    const ok = await call(nodeB, k2);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ project: "team" });
    keysB.clear();
    expect((await call(nodeB, k2)).status).toBe(401);
  });

  it("the node agent keeps the key its control plane sends, and drops it once refused (revoked)", async () => {
    let answer: { status: number; body: unknown } = {
      status: 200,
      body: { name: "n1", leaseSecs: 0.3, nodeKey: "sbxk_one" },
    };
    const control: Server = createServer((req, res) => {
      req.resume();
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    });
    await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
    const keys = new NodeKeys();
    const agent = new NodeAgent({
      control: `http://127.0.0.1:${(control.address() as { port: number }).port}`,
      token: "sbxn_x",
      report: async () => report(1, 512),
      log: quiet,
      keys,
    });
    try {
      agent.start();
      await waitUntil(() => keys.matches("sbxk_one"));
      answer = { status: 401, body: { error: { code: "unauthenticated", message: "unknown or revoked node token" } } };
      await waitUntil(() => !keys.known);
      expect(keys.matches("sbxk_one")).toBe(false);
    } finally {
      agent.close();
      await new Promise<void>((r) => control.close(() => r()));
    }
  });
});

async function waitUntil(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(ok()).toBe(true);
}
