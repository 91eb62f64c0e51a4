// sbxd on PostgreSQL (--store postgres://…): a real daemon on real crun keeps its metadata in a
// throwaway PostgreSQL server instead of the SQLite file, and finds it again after a kill -9.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { freePort, TestDaemon } from "./harness.js";

let cluster: PgCluster;
let daemon: TestDaemon;
let client: SandboxClient;
let db: pg.Client;

beforeAll(async () => {
  cluster = await startPgCluster();
  db = new pg.Client({ connectionString: cluster.url });
  await db.connect();
  daemon = new TestDaemon({ name: "pgstore", netIndex: 4, extraArgs: ["--warm-pool", "0", "--store", cluster.url] });
  await daemon.reset();
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
});
afterAll(async () => {
  for (const s of (await client?.list().catch(() => [])) ?? []) await client.terminate(s.id).catch(() => undefined);
  await daemon?.stop();
  await db?.end();
  await cluster?.stop();
});

describe("sbxd --store postgres://", () => {
  it("keeps sandboxes and processes in PostgreSQL, not in a SQLite file, across a kill -9", async () => {
    const sb = await Sandbox.create({ name: "pg-web", allowInternetAccess: false }, client);
    const r = await sb.run("sh", { args: ["-c", "echo from-pg; exit 3"] });
    expect(r).toMatchObject({ stdout: "from-pg\n", exitCode: 3 });

    // The rows are PostgreSQL's (schema sbx), with what the API said.
    const rows = await db.query<{ doc: { name: string; status: string } }>(
      "SELECT doc FROM sbx.sandboxes WHERE id = $1",
      [sb.id],
    );
    expect(rows.rows[0]?.doc).toMatchObject({ name: "pg-web", status: "running" });
    const procs = await db.query<{ doc: { exitCode: number } }>("SELECT doc FROM sbx.processes WHERE sandbox_id = $1", [
      sb.id,
    ]);
    expect(procs.rows.map((p) => p.doc.exitCode)).toEqual([3]);
    expect(existsSync(join(daemon.root, "data", "sbx.db"))).toBe(false);
    expect(daemon.log).toMatch(/"store":"postgres:\/\/sbx@127\.0\.0\.1:\d+\/postgres"/);

    await daemon.stop("SIGKILL");
    await daemon.start();
    expect(await client.get(sb.id)).toMatchObject({ name: "pg-web", status: "running" });
    expect((await sb.run("echo", { args: ["again"] })).stdout).toBe("again\n");

    await sb.terminate();
    const after = await db.query<{ status: string }>("SELECT status FROM sbx.sandboxes WHERE id = $1", [sb.id]);
    expect(after.rows[0]?.status).toBe("terminated");
  });

  it("masks a --store password in its command line, which every host user can read (ps)", async () => {
    // The test server trusts loopback, so the password is ignored by PostgreSQL and the daemon starts.
    const url = new URL(cluster.url);
    url.password = "hunter2pw";
    const d = new TestDaemon({
      name: "pgstore-pw",
      netIndex: 5,
      extraArgs: ["--warm-pool", "0", "--store", url.toString()],
    });
    await d.reset();
    await d.start();
    try {
      const pid = readFileSync(join(d.root, "run", "sbxd.pid"), "utf8").trim();
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      expect(cmdline).toContain("--store postgres://sbx:***@");
      expect(cmdline).not.toContain("hunter2pw");
      expect(d.log).toMatch(/--store holds a password/);
    } finally {
      await d.stop();
    }
  });

  it("a store it cannot open stops it with an error that names the store, never its password", async () => {
    // It used to print the driver's words alone ("sbxd: connect ECONNREFUSED 127.0.0.1:…", "sbxd: role
    // "nobody" does not exist"): nothing said it was the --store the operator should check.
    const port = await freePort();
    const url = new URL(cluster.url);
    for (const [store, why] of [
      [`postgres://sbx:hunter2pw@127.0.0.1:${port}/sbx`, /ECONNREFUSED/],
      [`postgres://nobody:hunter2pw@${url.host}/postgres`, /role "nobody" does not exist/],
    ] as const) {
      const bad = new TestDaemon({
        name: "pgstore-bad",
        netIndex: 5,
        extraArgs: ["--warm-pool", "0", "--store", store],
      });
      await bad.reset();
      const err = await bad.start(60_000).then(
        () => undefined,
        (e: Error) => e,
      );
      await bad.stop();
      expect(err?.message).toMatch(why);
      const shown = new URL(store);
      shown.password = "***";
      expect(err?.message).toContain(`cannot open the store ${shown.toString()}: `);
      expect(err?.message).not.toContain("hunter2pw");
    }
  });
});
