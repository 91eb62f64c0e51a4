// Projects and the TCP API: every TCP request needs a project's bearer token, a token only ever
// shows its own project's objects, and projects are managed over the unix socket only.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxClient } from "@sbx-sh/sdk";
import { freePort, TestDaemon } from "./harness.js";

let port = 0;
let daemon: TestDaemon;
let admin: SandboxClient;

beforeAll(async () => {
  port = await freePort();
  daemon = new TestDaemon({ name: "auth", netIndex: 2, extraArgs: ["--listen-tcp", `127.0.0.1:${port}`] });
  await daemon.reset();
  await daemon.start();
  admin = new SandboxClient({ host: daemon.host });
});
afterAll(async () => {
  for (const project of ["alpha", "beta"]) {
    const c = new SandboxClient({ host: daemon.host, project });
    for (const s of await c.list().catch(() => [])) await c.terminate(s.id).catch(() => undefined);
  }
  await daemon.stop();
});

describe("projects and tokens", () => {
  it("refuses TCP requests without a valid token and shows nothing", async () => {
    const bare = await fetch(`http://127.0.0.1:${port}/v1/sandboxes`);
    expect(bare.status).toBe(401);
    const body = (await bare.json()) as { error: { code: string }; sandboxes?: unknown };
    expect(body.error.code).toBe("unauthenticated");
    expect(body.sandboxes).toBeUndefined();
    const wrong = await fetch(`http://127.0.0.1:${port}/v1/sandboxes`, {
      headers: { authorization: "Bearer sbxt_not-a-real-token" },
    });
    expect(wrong.status).toBe(401);
  });

  it("scopes every object to the token's project", async () => {
    await admin.createProject("alpha");
    await admin.createProject("beta");
    const alphaToken = (await admin.createToken("alpha")).token!;
    const betaToken = (await admin.createToken("beta")).token!;
    const alpha = new SandboxClient({ host: `http://127.0.0.1:${port}`, token: alphaToken });
    const beta = new SandboxClient({ host: `http://127.0.0.1:${port}`, token: betaToken });

    const sb = await alpha.create({ allowInternetAccess: false, name: "shared-name" });
    expect(sb.project).toBe("alpha");
    expect((await alpha.list()).map((s) => s.id)).toEqual([sb.id]);
    expect(await beta.list()).toEqual([]);
    await expect(beta.get(sb.id)).rejects.toMatchObject({ code: "sandbox_not_found" });
    await expect(beta.terminate(sb.id)).rejects.toMatchObject({ code: "sandbox_not_found" });
    // Names are per project: beta may use the same one.
    const other = await beta.create({ allowInternetAccess: false, name: "shared-name" });
    expect(other.project).toBe("beta");
    // The default project over the socket sees neither.
    expect((await admin.list()).map((s) => s.id)).not.toContain(sb.id);
    await expect(alpha.createToken("alpha")).rejects.toMatchObject({ code: "permission_denied" });
  });

  it("refuses a TCP request that names another project than its token's, instead of ignoring it", async () => {
    const betaToken = (await admin.createToken("beta")).token!;
    const host = `http://127.0.0.1:${port}`;
    const named = new SandboxClient({ host, token: betaToken, project: "alpha" });
    const err = await named.list().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "permission_denied" });
    expect((err as Error).message).toContain("belongs to project beta");
    // "default" named outright is a project like any other: refused too, not taken as naming none.
    const asDefault = await new SandboxClient({ host, token: betaToken, project: "default" })
      .list()
      .catch((e: unknown) => e);
    expect(asDefault).toMatchObject({ code: "permission_denied" });
    expect((asDefault as Error).message).toContain('this token belongs to project beta, not "default"');
    // Its own project, or none (the SDKs then send no X-Sbx-Project), is the token's.
    expect(await new SandboxClient({ host, token: betaToken, project: "beta" }).list()).toBeInstanceOf(Array);
    expect(await new SandboxClient({ host, token: betaToken }).list()).toBeInstanceOf(Array);
  });

  it("tells the host's data directory to the socket's user only, not to token holders over TCP", async () => {
    const token = (await admin.createToken("beta")).token!;
    const tcp = await new SandboxClient({ host: `http://127.0.0.1:${port}`, token }).info();
    expect(tcp.version).toBeTruthy();
    expect(tcp).not.toHaveProperty("dataDir");
    expect(JSON.stringify(tcp)).not.toContain(daemon.root);
    expect((await admin.info()).dataDir).toBeTruthy();
  });

  it("rejects an unknown project on the socket", async () => {
    const ghost = new SandboxClient({ host: daemon.host, project: "ghost" });
    await expect(ghost.list()).rejects.toMatchObject({ code: "project_not_found" });
  });
});
