// Snapshots through the real daemon: exact restores (deleted files stay deleted), lineage, forks,
// images from snapshots, suspend/resume of named sandboxes, memory snapshots refused with a
// reason, and garbage collection that never frees what is used.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Sandbox, SbxError } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { testDaemonRoot, waitFor } from "./harness.js";

const client = sharedClient();
const sandbox = useSandboxes(client);

const PREPARE = [
  "mkdir -p /data/keep /data/gone && echo one > /data/keep/a && echo two > /data/gone/b",
  "head -c 3000000 /dev/urandom > /data/blob",
  "rm -rf /usr/share/doc && mkdir /usr/share/doc && echo fresh > /usr/share/doc/ONLY",
  "rm /etc/issue; rm -rf /data/gone; ln -s keep/a /data/link",
].join(" && ");
const FINGERPRINT =
  "cd / && find data usr/share/doc -print0 | sort -z | xargs -0 sha256sum 2>/dev/null; ls /etc/issue 2>&1 | head -1; readlink /data/link";

async function fingerprint(sb: Sandbox): Promise<string> {
  const r = await sb.run("sh", { args: ["-c", FINGERPRINT] });
  return r.stdout;
}

describe("snapshots", () => {
  it("restores exactly the files the sandbox had, deletions included, while the source keeps running", async () => {
    const src = await sandbox({ env: { FROM: "source" } });
    expect((await src.run("sh", { args: ["-c", PREPARE] })).exitCode).toBe(0);
    const before = await fingerprint(src);
    expect(before).toContain("No such file");
    const snap = await src.snapshot();
    expect(snap).toMatchObject({
      status: "completed",
      type: "filesystem",
      sourceSandboxId: src.id,
      parentSnapshotId: null,
    });
    expect((await src.run("echo", { args: ["still running"] })).stdout).toBe("still running\n");
    await src.run("sh", { args: ["-c", "echo later > /data/keep/later"] });

    const copy = await sandbox({ snapshotId: snap.id, cpus: 0.5, memoryMb: 256, env: { EXTRA: "1" } });
    expect(await fingerprint(copy)).toBe(before);
    expect((await copy.run("ls", { args: ["/data/keep"] })).stdout).toBe("a\n");
    expect((await copy.run("ls", { args: ["/usr/share/doc"] })).stdout).toBe("ONLY\n");
    const info = await copy.info();
    expect(info).toMatchObject({ cpus: 0.5, memoryMb: 256, snapshotId: snap.id, imageId: (await src.info()).imageId });
    expect((await copy.run("sh", { args: ["-c", "echo $EXTRA"] })).stdout).toBe("1\n");

    // A snapshot of the restored sandbox records its parent.
    const child = await copy.snapshot();
    expect(child.parentSnapshotId).toBe(snap.id);
  });

  it("forks a sandbox into several, and registers a snapshot as an image", async () => {
    const src = await sandbox();
    await src.writeFile("/fork/marker", "forked");
    const snapshots = async (): Promise<number> =>
      (await client.transport.json<{ snapshots: unknown[] }>("GET", "/v1/snapshots")).snapshots.length;
    const before = await snapshots();
    const copies = await src.copy({ times: 3 });
    expect(copies).toHaveLength(3);
    // The snapshot the copies came from is not left behind (unless keepSnapshot).
    expect(await snapshots()).toBe(before);
    for (const c of copies) expect((await c.readFile("/fork/marker")).toString()).toBe("forked");
    for (const c of copies) await c.terminate();
    const snap = await src.snapshot();
    await client.registerImage("from-snapshot", snap.id, { replace: true });
    const fromImage = await sandbox({ image: "from-snapshot" });
    expect((await fromImage.readFile("/fork/marker")).toString()).toBe("forked");
    await client.deleteImage("from-snapshot");
  });

  it("suspends and resumes a named sandbox with the same id, name and files; refuses ephemeral ones", async () => {
    const name = `dev-${Date.now().toString(36)}`;
    const dev = await sandbox({ name });
    await dev.run("sh", { args: ["-c", PREPARE] });
    const before = await fingerprint(dev);
    const suspended = await dev.suspend();
    expect(suspended).toMatchObject({ id: dev.id, name, status: "suspended" });
    await expect(dev.run("true")).rejects.toMatchObject({ code: "sandbox_not_running" });
    const resumed = await dev.resume();
    expect(resumed).toMatchObject({ id: dev.id, name, status: "running" });
    expect(await fingerprint(dev)).toBe(before);
    const ephemeral = await sandbox();
    await expect(ephemeral.suspend()).rejects.toMatchObject({ code: "failed_precondition" });
  });

  it("suspends a named sandbox at its timeout and terminates an ephemeral one", async () => {
    const named = await sandbox({ name: `timeout-${Date.now().toString(36)}`, timeoutSecs: 1 });
    const ephemeral = await sandbox({ timeoutSecs: 1 });
    await named.writeFile("/kept.txt", "kept");
    await waitFor(async () => (await named.info()).status === "suspended", 20_000, "suspend at timeout");
    await waitFor(async () => (await ephemeral.info()).status === "terminated", 20_000, "terminate at timeout");
    await named.resume();
    expect((await named.readFile("/kept.txt")).toString()).toBe("kept");
  });

  it("refuses memory snapshots where CRIU is missing, and says why", async () => {
    const sb = await sandbox();
    const err = (await sb.snapshot({ type: "memory" }).catch((e: unknown) => e)) as SbxError;
    expect(err).toBeInstanceOf(SbxError);
    expect(err.code).toBe("failed_precondition");
    expect(err.message).toMatch(/CRIU/);
  });

  it("frees a deleted snapshot's layers only once nothing uses them", async () => {
    const src = await sandbox();
    await src.writeFile("/gc/file", "x");
    const snap = await src.snapshot();
    // The layer directory a snapshot gets (see SnapshotService): named from the snapshot id.
    const key = createHash("sha256").update(`snapshot:${snap.id}`).digest("hex");
    const dir = join(testDaemonRoot("shared"), "data", "layers", `l${key.slice(0, 20)}`);
    expect(existsSync(dir)).toBe(true);
    const restored = await sandbox({ snapshotId: snap.id });
    await client.deleteSnapshot(snap.id);
    await expect(client.getSnapshot(snap.id)).rejects.toMatchObject({ code: "not_found" });
    expect(existsSync(dir)).toBe(true);
    expect((await restored.readFile("/gc/file")).toString()).toBe("x");
    await restored.terminate();
    // Collection follows the terminate in the background.
    await expect.poll(() => existsSync(dir), { timeout: 5000 }).toBe(false);
  });
});
