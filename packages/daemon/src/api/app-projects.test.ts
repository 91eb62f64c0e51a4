// The HTTP layer's auth per transport, on fake services: unix → X-Sbx-Project, TCP → bearer token
// (the token decides the project), and project and token management kept to the unix socket.
import { describe, expect, it } from "vitest";
import type { SandboxRecord } from "../domain/records.js";
import { expectError, setupApp as setup, T0 } from "./testing/fake-app.js";

describe("TCP transport: bearer tokens", () => {
  it.each([
    ["no Authorization header", {}],
    ["a wrong token", { authorization: "Bearer sbxt_wrong" }],
    ["a non-bearer scheme", { authorization: "Basic c2J4dF9nb29k" }],
    ["an empty bearer", { authorization: "Bearer " }],
  ])("rejects %s with 401 before any service runs", async (_what, headers: Record<string, string>) => {
    const t = setup("tcp");
    expectError(await t.call("GET", "/v1/sandboxes", { headers }), 401, "unauthenticated");
    expectError(await t.call("POST", "/v1/sandboxes", { headers, json: { cpus: 1000 } }), 401, "unauthenticated");
    expectError(await t.call("GET", "/v1/info", { headers }), 401, "unauthenticated");
    expect(t.sandboxes.list).not.toHaveBeenCalled();
    expect(t.sandboxes.create).not.toHaveBeenCalled();
    expect(t.projects.require).not.toHaveBeenCalled();
  });

  it("refuses a request that names another project than its token's, default too", async () => {
    const t = setup("tcp");
    for (const named of ["default", "team-b"]) {
      const r = await t.call("GET", "/v1/sandboxes", {
        headers: { authorization: "Bearer sbxt_good", "x-sbx-project": named },
      });
      expectError(r, 403, "permission_denied");
      expect(r.body.error?.message).toContain(`this token belongs to project team-a, not "${named}"`);
    }
    expect(t.sandboxes.list).not.toHaveBeenCalled();
  });

  it("uses the token's project, named or not", async () => {
    const t = setup("tcp");
    expect(
      (
        await t.call("GET", "/v1/sandboxes", {
          headers: { authorization: "Bearer sbxt_good", "x-sbx-project": "team-a" },
        })
      ).status,
    ).toBe(200);
    const r = await t.call("GET", "/v1/sandboxes?all=1", { headers: { authorization: "Bearer sbxt_good" } });
    expect(r.status).toBe(200);
    expect(t.projects.identify).toHaveBeenCalledWith("sbxt_good");
    expect(t.sandboxes.list).toHaveBeenCalledWith("team-a", true);
    expect((r.body.sandboxes as SandboxRecord[]).map((s) => s.id)).toEqual(["sb-a"]);
    expectError(
      await t.call("GET", "/v1/sandboxes/sb-1", { headers: { authorization: "Bearer sbxt_good" } }),
      404,
      "sandbox_not_found",
    );
    expect(t.sandboxes.get).toHaveBeenLastCalledWith("team-a", "sb-1");
  });

  it("keeps project and token management to the unix socket (403)", async () => {
    const t = setup("tcp");
    const auth = { authorization: "Bearer sbxt_good" };
    expectError(
      await t.call("POST", "/v1/projects", { headers: auth, json: { name: "evil" } }),
      403,
      "permission_denied",
    );
    expectError(await t.call("POST", "/v1/projects/team-a/tokens", { headers: auth }), 403, "permission_denied");
    expect(t.projects.create).not.toHaveBeenCalled();
    expect(t.projects.createToken).not.toHaveBeenCalled();
    const list = await t.call("GET", "/v1/projects", { headers: auth });
    expect(list.body).toEqual({ projects: [{ name: "team-a", createdAt: T0 }] });
  });
});

describe("unix transport: X-Sbx-Project", () => {
  it("defaults to the default project and takes the header otherwise", async () => {
    const t = setup("unix");
    expect((await t.call("GET", "/v1/sandboxes")).status).toBe(200);
    expect(t.sandboxes.list).toHaveBeenLastCalledWith("default", false);
    expect((await t.call("GET", "/v1/sandboxes", { headers: { "x-sbx-project": "team-a" } })).status).toBe(200);
    expect(t.sandboxes.list).toHaveBeenLastCalledWith("team-a", false);
    expect(t.projects.identify).not.toHaveBeenCalled();
  });

  it("rejects an invalid or unknown project name", async () => {
    const t = setup("unix");
    for (const bad of ["Bad Name", "../etc", "-x", "a".repeat(64)]) {
      expectError(await t.call("GET", "/v1/sandboxes", { headers: { "x-sbx-project": bad } }), 400, "invalid_name");
    }
    expectError(
      await t.call("GET", "/v1/sandboxes", { headers: { "x-sbx-project": "ghost" } }),
      404,
      "project_not_found",
    );
    expect(t.sandboxes.list).not.toHaveBeenCalled();
  });

  it("allows project and token management", async () => {
    const t = setup("unix");
    const created = await t.call("POST", "/v1/projects", { json: { name: "team-c" } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ name: "team-c", createdAt: T0 });
    const token = await t.call("POST", "/v1/projects/team-a/tokens");
    expect(token.status).toBe(201);
    expect(token.body).toEqual({ id: "tok-1", project: "team-a", token: "sbxt_new", createdAt: T0 });
  });
});
