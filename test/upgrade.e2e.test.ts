// Upgrading sbxd in place: a daemon of the last commit before the workspace restructure (one
// package, src/ layout) makes a data dir with a running named sandbox, a file, a background
// process and a snapshot; it stops (sandboxes keep running) and this checkout's daemon opens the
// same data dir: the sandbox is still running with its file and process, and the snapshot restores.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { REPO, TestDaemon } from "./harness.js";

/** The last commit with the single-package layout. */
const PREVIOUS = "b74fca9";

const old = mkdtempSync(join(tmpdir(), "sbx-previous-"));
let previous: TestDaemon;
let current: TestDaemon;
let snapshotId = "";

beforeAll(async () => {
  const archive = spawnSync("sh", [
    "-c",
    `git -C "${REPO}" archive ${PREVIOUS} src bin package.json | tar -x -C "${old}"`,
  ]);
  if (archive.status !== 0) {
    throw new Error(
      `cannot check out ${PREVIOUS} (the upgrade test needs the repository's history): ${archive.stderr}`,
    );
  }
  // Same third-party versions as today: the previous layout runs on this checkout's node_modules.
  symlinkSync(join(REPO, "node_modules"), join(old, "node_modules"));
  previous = new TestDaemon({ name: "upgrade", netIndex: 3, launcher: join(old, "bin", "sbxd.js") });
  current = new TestDaemon({ name: "upgrade", netIndex: 3 });
  await previous.reset();
  await previous.start();
  const client = new SandboxClient({ host: previous.host });
  const sb = await Sandbox.create({ name: "survivor", timeoutSecs: 0, allowInternetAccess: false }, client);
  await sb.writeFile("/work/keep.txt", "made before the upgrade");
  snapshotId = (await sb.snapshot()).id;
  // Running for sure before the daemon goes (its first output is written from inside the sandbox).
  const proc = await sb.startProcess("sh", { args: ["-c", "echo up; exec sleep 600"] });
  for await (const chunk of proc.output()) if (chunk.type === "stdout" && chunk.data.toString().includes("up")) break;
  await previous.stop();
}, 600_000);

afterAll(async () => {
  const client = new SandboxClient({ host: current.host });
  for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
  await current.stop();
  await previous.stop();
  rmSync(old, { recursive: true, force: true });
});

describe("a daemon upgraded from the previous layout", () => {
  it("keeps the running sandbox, its files and its process", async () => {
    await current.start();
    const client = new SandboxClient({ host: current.host });
    const sb = await Sandbox.connect("survivor", client);
    expect((await sb.info()).status).toBe("running");
    expect((await sb.readFile("/work/keep.txt")).toString()).toBe("made before the upgrade");
    const procs = await sb.listProcesses();
    expect(procs.find((p) => p.args.join(" ") === "-c echo up; exec sleep 600")?.status).toBe("running");
    expect(await sb.run("sh", { args: ["-c", "cat /work/keep.txt; exit 7"] })).toMatchObject({
      exitCode: 7,
      stdout: "made before the upgrade",
    });
  });

  it("restores the snapshot the previous daemon took", async () => {
    const client = new SandboxClient({ host: current.host });
    const restored = await Sandbox.create({ snapshotId, allowInternetAccess: false, timeoutSecs: 120 }, client);
    expect((await restored.readFile("/work/keep.txt")).toString()).toBe("made before the upgrade");
    await restored.terminate();
  });
});
