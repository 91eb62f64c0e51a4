// Registry-backed cluster content end to end on one machine (test/cluster-harness.ts): a control
// plane (PostgreSQL) and two crun nodes in their own network namespaces, all started with --registry
// pointing at a real registry (Debian's docker-registry, HTTPS on the fleet bridge). A snapshot
// taken on one node is pushed before it is reported committed and restores on the other node with
// its files (the other node pulls it by digest); a layer the registry serves with other bytes than
// its digest is refused and nothing is kept; with the registry down a snapshot fails clearly,
// nothing is committed, and the sandbox keeps running.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { manifestOf } from "./cluster-content-fixtures.js";
import { Fleet, rejection } from "./cluster-harness.js";

// Keep no pulled content that no sandbox stands on: every pull past the first evicts.
const fleet = new Fleet({ nodes: ["n1", "n2"], registry: true, nodeEnv: { SBX_CONTENT_CACHE_MB: "0" } });
let client: SandboxClient;
const nodeOf = (id: string): Promise<string> => fleet.nodeOf(id);
const onlyOn = <T>(keep: string, fn: () => Promise<T>): Promise<T> => fleet.onlyOn(keep, fn);

beforeAll(async () => {
  await fleet.start();
  client = fleet.client();
});
afterAll(() => fleet.stop());

describe("cluster content in the registry", () => {
  it("a snapshot taken on one node restores on the other with its files", async () => {
    const sb = await Sandbox.create({ cpus: 0.25, memoryMb: 128, allowInternetAccess: false }, client);
    const a = await nodeOf(sb.id);
    const b = a === "n1" ? "n2" : "n1";
    await sb.writeFile("/root/notes/plan.txt", "restore me elsewhere\n");
    const big = Buffer.alloc(300_000, 0);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    await sb.writeFile("/opt/blob.bin", big);
    const setup = await sb.run("sh", {
      args: ["-c", "chmod 750 /opt/blob.bin && ln -s /root/notes/plan.txt /root/link && rm /etc/issue"],
    });
    expect(setup.exitCode, setup.stderr).toBe(0);
    const snap = await sb.snapshot();
    expect(snap.status).toBe("completed");
    // Committed means in the registry: its manifest is there under the snapshot's id.
    expect((await manifestOf(fleet, snap.id)).layers.length).toBeGreaterThan(0);

    const restored = await onlyOn(b, () =>
      Sandbox.create({ snapshotId: snap.id, cpus: 0.25, memoryMb: 128, allowInternetAccess: false }, client),
    );
    expect(await nodeOf(restored.id)).toBe(b);
    expect((await restored.readFile("/root/notes/plan.txt")).toString()).toBe("restore me elsewhere\n");
    expect(Buffer.compare(await restored.readFile("/opt/blob.bin"), big)).toBe(0);
    const check = await restored.run("sh", {
      args: ["-c", "stat -c %a /opt/blob.bin; readlink /root/link; test -e /etc/issue && echo present || echo gone"],
    });
    expect(check).toMatchObject({ exitCode: 0, stdout: "750\n/root/notes/plan.txt\ngone\n" });
    // The restored sandbox is the other node's own: it snapshots there and restores back on the first.
    await restored.writeFile("/root/second.txt", "from the second node");
    const again = await restored.snapshot();
    const back = await onlyOn(a, () =>
      Sandbox.create({ snapshotId: again.id, cpus: 0.25, memoryMb: 128, allowInternetAccess: false }, client),
    );
    expect(await nodeOf(back.id)).toBe(a);
    expect((await back.readFile("/root/second.txt")).toString()).toBe("from the second node");
    expect((await back.readFile("/root/notes/plan.txt")).toString()).toBe("restore me elsewhere\n");
    // Another project cannot restore it: the record is the project's.
    await client.createProject("other");
    const other = await rejection(Sandbox.create({ snapshotId: snap.id }, fleet.client("other")));
    expect(other.code).toBe("not_found");
    for (const s of [sb, restored, back]) await s.terminate();
  });

  it("a node's pulled snapshots are an LRU cache: what no sandbox stands on goes, what one does stays", async () => {
    const opts = { cpus: 0.25, memoryMb: 128, allowInternetAccess: false };
    const src = await onlyOn("n1", () => Sandbox.create(opts, client));
    const snaps: string[] = [];
    for (const i of [1, 2, 3]) {
      await src.writeFile("/root/version", `v${i}`);
      snaps.push((await src.snapshot()).id);
    }
    const held = async (): Promise<string[]> =>
      (await new SandboxClient({ host: fleet.node("n2").daemon.host }).listSnapshots())
        .map((s) => s.id)
        .filter((id) => snaps.includes(id));
    const r1 = await onlyOn("n2", () => Sandbox.create({ ...opts, snapshotId: snaps[0] }, client));
    const r2 = await onlyOn("n2", () => Sandbox.create({ ...opts, snapshotId: snaps[1] }, client));
    // Over budget (0 MB), but r1 stands on the first: kept.
    expect((await held()).sort()).toEqual([snaps[0], snaps[1]].sort());
    await r1.terminate();
    const r3 = await onlyOn("n2", () => Sandbox.create({ ...opts, snapshotId: snaps[2] }, client));
    // The first is used by nothing now and is the least recently used: evicted; r2's stays.
    expect((await held()).sort()).toEqual([snaps[1], snaps[2]].sort());
    expect((await r2.readFile("/root/version")).toString()).toBe("v2");
    expect((await r3.readFile("/root/version")).toString()).toBe("v3");
    for (const s of [src, r2, r3]) await s.terminate();
  });

  it("refuses a layer whose bytes do not match its digest, and keeps nothing of it", async () => {
    const sb = await Sandbox.create({ cpus: 0.25, memoryMb: 128, allowInternetAccess: false }, client);
    const a = await nodeOf(sb.id);
    const b = a === "n1" ? "n2" : "n1";
    await sb.writeFile("/root/secret.txt", "x".repeat(5000));
    const snap = await sb.snapshot();
    const own = (await manifestOf(fleet, snap.id)).layers.at(-1)!;
    // The registry now serves other bytes (same size) under the layer's digest.
    const file = fleet.registry!.blobFile(own.digest);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(file, bytes);
    const err = await rejection(
      onlyOn(b, () =>
        Sandbox.create({ snapshotId: snap.id, cpus: 0.25, memoryMb: 128, allowInternetAccess: false }, client),
      ),
    );
    expect(err.code).toBe("invalid_archive");
    expect(err.message).toMatch(/does not match/);
    // Nothing kept on the other node: no snapshot record, no sandbox, no layer dir left half made.
    const local = new SandboxClient({ host: fleet.node(b).daemon.host });
    expect((await local.listSnapshots()).map((s) => s.id)).not.toContain(snap.id);
    expect((await local.list()).some((s) => s.snapshotId === snap.id)).toBe(false);
    const data = join(fleet.node(b).daemon.root, "data");
    expect((await readdir(join(data, "layers"))).filter((n) => n.startsWith(".oci-"))).toEqual([]);
    expect((await readdir(join(data, "tmp"))).filter((n) => n.startsWith("content-"))).toEqual([]);
    await sb.terminate();
  });

  it("with the registry down, a snapshot fails clearly, nothing is committed, and the sandbox keeps running", async () => {
    const sb = await Sandbox.create({ cpus: 0.25, memoryMb: 128, allowInternetAccess: false }, client);
    const a = await nodeOf(sb.id);
    await sb.writeFile("/root/unsaved.txt", "not in any snapshot");
    await fleet.registry!.stop();
    const err = await rejection(sb.snapshot());
    expect(err.code).toBe("upstream_unreachable");
    expect(err.message).toMatch(/was not committed: the cluster registry .* did not store its layers/);
    const local = new SandboxClient({ host: fleet.node(a).daemon.host });
    const mine = (await local.listSnapshots()).filter((s) => s.sourceSandboxId === sb.id);
    expect(mine.map((s) => s.status)).toEqual(["failed"]);
    // Not recorded either: it cannot be restored anywhere.
    const restore = await rejection(Sandbox.create({ snapshotId: mine[0]!.id }, client));
    expect(restore.code).toBe("not_found");
    // The sandbox never stopped.
    expect(await sb.run("cat", { args: ["/root/unsaved.txt"] })).toMatchObject({
      exitCode: 0,
      stdout: "not in any snapshot",
    });
    await sb.terminate();
  });
});
