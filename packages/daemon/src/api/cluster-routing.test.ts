// The control plane's routing middlewares (sbx's and Tensorlake's) on what they decide before any
// node is called: a DELETE of a sandbox whose node is lost gives it up in both APIs (answered as
// terminated, in each API's own shape), and a malformed %-escape in a routed path is the caller's
// invalid_argument, never a 500. The routing's directory and give-up record are stand-ins here.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { SbxError, toSbxError, type SandboxInfo } from "@sbx-sh/protocol";
import type { ClusterRouting } from "../cluster/cluster-role.js";
import type { SandboxLocation } from "../cluster/sandbox-directory.js";
import type { AppEnv, UpgradeWebSocket } from "./api-types.js";
import { clusterRouting } from "./cluster-routing.js";
import { clusterTensorlake } from "./cluster-tensorlake.js";
import { httpStatus } from "./http-status.js";

const lost: SandboxLocation = {
  sandboxId: "sb-1",
  name: "one",
  node: "n1",
  address: "10.0.0.1:7070",
  unavailable: "its node n1 is lost",
  keySalt: "salt",
  proxyAddress: null,
};

/** An app with both middlewares; `keptAnswer`: whether the give-up record has the create's answer. */
function app(keptAnswer = true): { app: Hono<AppEnv>; givenUp: string[]; located: string[] } {
  const givenUp: string[] = [];
  const located: string[] = [];
  const r = {
    directory: {
      locate: async (_project: string, idOrName: string) => {
        located.push(idOrName);
        return lost;
      },
    },
    givenUp: {
      terminate: async (id: string): Promise<Partial<SandboxInfo> | null> => {
        givenUp.push(id);
        return keptAnswer
          ? {
              id,
              name: "one",
              status: "terminated",
              terminatedAt: "2026-12-06T17:00:00.000Z",
              terminationReason: "requested",
            }
          : null;
      },
    },
  } as unknown as ClusterRouting;
  const ws = (() => () => undefined) as unknown as UpgradeWebSocket;
  const a = new Hono<AppEnv>();
  a.onError((err, c) => {
    const e = err instanceof SbxError ? err : toSbxError(err);
    return c.json({ error: e.toJSON() }, httpStatus(e.code) as 400);
  });
  a.use("*", async (c, next) => {
    c.set("project", "default");
    await next();
  });
  a.use("/v1/*", clusterRouting(r, ws));
  a.use(
    "*",
    clusterTensorlake(r, ws, () => "http://control.example:7070"),
  );
  return { app: a, givenUp, located };
}

describe("cluster routing before the node", () => {
  it("gives up a sandbox of a lost node on a Tensorlake DELETE, as on sbx's own", async () => {
    const t = app();
    for (const path of ["/sandboxes/one", "/v1/namespaces/default/sandboxes/one"]) {
      const res = await t.app.request(path, { method: "DELETE" });
      expect(res.status, path).toBe(200);
      expect(await res.json()).toEqual({
        sandbox_id: "sb-1",
        namespace: "default",
        status: "terminated",
        name: "one",
        terminated_at: "2026-12-06T17:00:00.000Z",
        termination_reason: "requested",
        sandbox_url: "http://control.example:7070",
      });
    }
    const own = await t.app.request("/v1/sandboxes/one", { method: "DELETE" });
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ id: "sb-1", status: "terminated" });
    expect(t.givenUp).toEqual(["sb-1", "sb-1", "sb-1"]);
  });

  it("answers node_unavailable when it cannot give up (no kept answer), and for other calls", async () => {
    const t = app(false);
    const res = await t.app.request("/sandboxes/one", { method: "DELETE" });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("node_unavailable");
    const get = await app().app.request("/sandboxes/one");
    expect(get.status).toBe(503);
  });

  it("answers a malformed %-escape in a routed path with 400 invalid_argument", async () => {
    const t = app();
    for (const path of ["/v1/sandboxes/%zz/exec", "/v1/sandboxes/a%E0%A4%A", "/sandboxes/%zz", "/sandboxes/%/logs"]) {
      const res = await t.app.request(path, { method: "POST" });
      expect(res.status, path).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("invalid_argument");
      expect(body.error.message).toMatch(/malformed %-escape/);
    }
    // Well-formed escapes are decoded before the lookup.
    await t.app.request("/v1/sandboxes/my%20box", { method: "GET" });
    expect(t.located).toEqual(["my box"]);
  });
});
