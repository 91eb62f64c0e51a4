// Unit tests of the proxy's routing decision: host name parsing, tokens, and sandbox state, on a
// real SQLite store (the e2e suite drives the same decisions with real traffic).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStores } from "../store/open-stores.js";
import type { Store, Stores } from "../store/store.js";
import type { PortExposureRecord, SandboxRecord } from "../domain/records.js";
import { PortTokens } from "./port-tokens.js";
import { PortService, type ProxyDecision } from "./port-service.js";
import { SandboxEvents } from "./sandbox-events.js";
import type { SandboxService } from "./sandbox-service.js";

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function sandbox(id: string, over: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id,
    project: "default",
    name: null,
    image: "debian-minimal",
    imageId: "sha256:x",
    status: "running",
    cpus: 1,
    memoryMb: 512,
    pidsLimit: 64,
    diskMb: 64,
    timeoutSecs: 0,
    allowInternetAccess: true,
    env: {},
    config: { env: [], workingDir: "/", user: "0:0" },
    netSlot: 3,
    ipAddress: "10.89.0.14",
    createdAt: new Date(0).toISOString(),
    startedAt: null,
    terminatedAt: null,
    terminationReason: null,
    ...over,
  };
}

/** A decision with a refusal's error flattened to its code and message (api/http-status.test.ts has their statuses). */
function answered(d: ProxyDecision) {
  return d.ok ? d : { ok: false, code: d.error.code, message: d.error.message };
}

describe("port proxy decisions", () => {
  let dir: string;
  let stores: Stores;
  let store: Store;
  let ports: PortService;
  let secret: string;
  const tokens = new PortTokens(Buffer.alloc(32, 7));

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "sbx-ports-"));
    stores = await openStores({ kind: "sqlite", path: join(dir, "sbx.db") });
    store = stores.meta;
    ports = new PortService(store, {} as SandboxService, new SandboxEvents(), "localhost", quiet, tokens);
    await store.insertSandbox(sandbox("sb-aaa"));
    const minted = tokens.mint();
    await store.putPortExposure({
      sandboxId: "sb-aaa",
      project: "default",
      port: 8080,
      public: false,
      token: "",
      ...minted,
      createdAt: new Date(0).toISOString(),
    });
    secret = tokens.opened({ ...minted } as PortExposureRecord).token;
    await store.putPortExposure({
      sandboxId: "sb-aaa",
      project: "default",
      port: 3000,
      public: true,
      token: "other",
      createdAt: new Date(0).toISOString(),
    });
  });
  afterEach(async () => {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("routes <port>-<id>.<domain> with or without the proxy port, any case, trailing dot", async () => {
    for (const host of [
      "8080-sb-aaa.localhost:7071",
      "8080-sb-aaa.localhost",
      "8080-SB-AAA.LocalHost:7071",
      "8080-sb-aaa.localhost.:7071",
    ]) {
      expect(answered(await ports.decide(host, secret)), host).toEqual({
        ok: true,
        target: { host: "10.89.0.14", port: 8080 },
        exposure: expect.objectContaining({ sandboxId: "sb-aaa", port: 8080 }),
      });
    }
  });

  it("answers not_found for other domains, malformed names and ports that are not exposed", async () => {
    for (const host of [
      undefined,
      "",
      "localhost:7071",
      "sb-aaa.localhost",
      "8080-sb-aaa.example.com",
      "8080-sb-aaa.localhost.evil.com",
      "8081-sb-aaa.localhost",
      "8080-sb-bbb.localhost",
      "99999999-sb-aaa.localhost",
      "x8080-sb-aaa.localhost",
    ]) {
      expect(answered(await ports.decide(host, secret)), String(host)).toMatchObject({
        ok: false,
        code: "not_found",
      });
    }
  });

  it("needs the right token unless public", async () => {
    expect(answered(await ports.decide("8080-sb-aaa.localhost", undefined))).toMatchObject({
      ok: false,
      code: "unauthenticated",
    });
    expect(answered(await ports.decide("8080-sb-aaa.localhost", "secret-tokeN"))).toMatchObject({
      ok: false,
      code: "permission_denied",
    });
    expect(answered(await ports.decide("8080-sb-aaa.localhost", "secret"))).toMatchObject({
      ok: false,
      code: "permission_denied",
    });
    expect(answered(await ports.decide("3000-sb-aaa.localhost", undefined))).toMatchObject({
      ok: true,
      target: { port: 3000 },
    });
  });

  it("answers sandbox_not_running while the sandbox is not running, after the token check", async () => {
    await store.updateSandbox("sb-aaa", { status: "suspended", ipAddress: null });
    expect(answered(await ports.decide("8080-sb-aaa.localhost", undefined))).toMatchObject({ code: "unauthenticated" });
    expect(answered(await ports.decide("8080-sb-aaa.localhost", secret))).toMatchObject({
      ok: false,
      code: "sandbox_not_running",
      message: expect.stringContaining("resume"),
    });
  });

  it("prune drops exposures of terminated sandboxes only", async () => {
    await store.insertSandbox(sandbox("sb-dead", { status: "terminated", netSlot: null }));
    await store.putPortExposure({
      sandboxId: "sb-dead",
      project: "default",
      port: 80,
      public: true,
      token: "t",
      createdAt: new Date(0).toISOString(),
    });
    expect(await ports.prune()).toBe(1);
    expect((await store.listPortExposures()).map((e) => `${e.sandboxId}:${e.port}`)).toEqual([
      "sb-aaa:3000",
      "sb-aaa:8080",
    ]);
  });

  it("keeps tokens out of the database, and replaces clear ones an older daemon stored", async () => {
    await store.putPortExposure({
      sandboxId: "sb-aaa",
      project: "default",
      port: 5000,
      public: false,
      token: "legacy-clear-token",
      createdAt: new Date(0).toISOString(),
    });
    expect(answered(await ports.decide("5000-sb-aaa.localhost", "legacy-clear-token"))).toMatchObject({ ok: false });
    await ports.prune();
    const migrated = await store.getPortExposure("sb-aaa", 5000);
    expect(migrated).toMatchObject({ token: "" });
    expect(migrated!.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    const fresh = tokens.opened(migrated!).token;
    expect(answered(await ports.decide("5000-sb-aaa.localhost", fresh))).toMatchObject({ ok: true });
    await stores.close();
    const bytes = ["sbx.db", "sbx.db-wal"].map((f) => {
      try {
        return readFileSync(join(dir, f)).toString("latin1");
      } catch {
        return "";
      }
    });
    for (const t of [secret, fresh, "legacy-clear-token"]) expect(bytes.join("")).not.toContain(t);
    stores = await openStores({ kind: "sqlite", path: join(dir, "sbx.db") });
  });
});
