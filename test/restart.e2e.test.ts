// The daemon dies (kill -9) and comes back: running sandboxes and their processes carry on, output
// and exit codes are still there, sandboxes that died meanwhile are marked terminated, and no
// mount, container or interface is left behind.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { TestDaemon, waitFor } from "./harness.js";

// No warm pool: its networked blanks would hold veths (and reuse freed slots) that this file counts.
const daemon = new TestDaemon({ name: "restart", netIndex: 1, extraArgs: ["--warm-pool", "0"] });
let client: SandboxClient;

beforeAll(async () => {
  await daemon.reset();
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
});
afterAll(async () => {
  for (const s of await client.list().catch(() => [])) await client.terminate(s.id).catch(() => undefined);
  await daemon.stop();
});

function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dir));
}

describe("daemon restart", () => {
  it("keeps sandboxes and processes through kill -9, and cleans up sandboxes that died meanwhile", async () => {
    const keep = await Sandbox.create({ allowInternetAccess: true }, client);
    const doomed = await Sandbox.create({ allowInternetAccess: true }, client);
    const proc = await keep.startProcess("sh", {
      args: ["-c", "for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.25; done; exit 7"],
    });
    const sleeper = await keep.startProcess("sleep", { args: ["300"] });

    await daemon.stop("SIGKILL");
    // While the daemon is down, one sandbox dies behind its back.
    execFileSync("crun", ["--root", `${daemon.root}/run/crun`, "delete", "--force", doomed.id]);
    await daemon.start();

    const r = await proc.wait();
    expect(r.exitCode).toBe(7);
    expect(r.stdout.trim().split("\n")).toHaveLength(8);
    expect((await keep.run("echo", { args: ["alive"] })).stdout).toBe("alive\n");
    expect((await sleeper.info()).status).toBe("running");

    const dead = await client.get(doomed.id);
    expect(dead).toMatchObject({ status: "terminated", terminationReason: "died" });
    expect(mountsUnder(`${daemon.root}/data/sandboxes/${doomed.id}`)).toEqual([]);
    const links = execFileSync("ip", ["-o", "link"]).toString();
    const keepInfo = await client.get(keep.id);
    expect(keepInfo.ipAddress).not.toBeNull();

    await sleeper.kill();
    expect((await sleeper.wait()).exitCode).toBe(137);
    await keep.terminate();
    // terminate() answers once nothing runs in the sandbox; its mounts go right after, in the background.
    await waitFor(() => mountsUnder(`${daemon.root}/data/sandboxes/${keep.id}`).length === 0, 5000, "unmounts");
    await waitFor(
      () => !execFileSync("ip", ["-o", "link"]).toString().includes(`${daemon.env.SBX_IF_PREFIX}`),
      5000,
      "veths to go",
    );
    expect(links).toContain(daemon.env.SBX_IF_PREFIX!);
  });

  it("keeps a terminal running through kill -9; a client attaches again and it ends with its own code", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: false }, client);
    const t = await sb.createTerminal({
      command: "sh",
      args: ["-c", 'while read line; do echo "got-$line"; [ "$line" = bye ] && exit 6; done'],
      cols: 80,
      rows: 24,
    });
    let before = "";
    t.onData((d) => (before += d.toString()));
    t.write("one\r");
    await waitFor(() => before.includes("got-one"), 30_000, "the terminal's first answer");

    await daemon.stop("SIGKILL");
    await daemon.start();

    const again = await client.attachTerminal(sb.id, t.id);
    let after = "";
    again.onData((d) => (after += d.toString()));
    expect((await sb.listTerminals()).map((x) => [x.id, x.status, x.command])).toEqual([[t.id, "running", "sh"]]);
    again.write("two\r");
    await waitFor(() => after.includes("got-two"), 30_000, "the re-attached terminal's answer");
    again.write("bye\r");
    expect(await again.wait()).toBe(6);
    await sb.terminate();
  });

  it("finishes at its next start a teardown the daemon was killed in (terminate answers before it)", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: true }, client);
    const crunRoot = `${daemon.root}/run/crun`;
    await sb.terminate();
    // Killed at once: its background teardown (crun delete, unmounts, veth) may be anywhere.
    await daemon.stop("SIGKILL");
    await daemon.start();
    expect(mountsUnder(`${daemon.root}/data/sandboxes/${sb.id}`)).toEqual([]);
    expect(execFileSync("crun", ["--root", crunRoot, "list", "-q"]).toString()).not.toContain(sb.id);
    expect((await client.get(sb.id)).status).toBe("terminated");
  });

  it("finishes on SIGTERM the teardowns of the sandboxes it terminated, leaving no mount behind", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: true }, client);
    const dir = `${daemon.root}/data/sandboxes/${sb.id}`;
    expect(mountsUnder(dir)).not.toEqual([]);
    await sb.terminate();
    await daemon.stop("SIGTERM");
    expect(mountsUnder(dir)).toEqual([]);
    await daemon.start();
  });

  it("stops gracefully on SIGTERM and leaves sandboxes running for the next start", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: false }, client);
    await sb.writeFile("/state.txt", "kept");
    await daemon.stop("SIGTERM");
    await daemon.start();
    expect((await sb.readFile("/state.txt")).toString()).toBe("kept");
    await sb.terminate();
  });
});

describe("daemon killed during a snapshot or a suspend", () => {
  it("leaves the source sandbox usable and no half-written snapshot marked completed", async () => {
    const sb = await Sandbox.create(
      { allowInternetAccess: false, name: `kill9-${Date.now().toString(36)}`, memoryMb: 2048, diskMb: 2048 },
      client,
    );
    // Enough data that copying it takes a while, so the kill lands mid-snapshot.
    await sb.run("sh", { args: ["-c", "head -c 600000000 /dev/urandom > /big && sha256sum /big > /big.sum"] });
    const sum = (await sb.readFile("/big.sum")).toString();
    const pending = sb.snapshot().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 150));
    await daemon.stop("SIGKILL");
    await pending;
    await daemon.start();
    const snaps = await client.listSnapshots();
    const mine = snaps.filter((x) => x.sourceSandboxId === sb.id);
    // The kill did land mid-snapshot: the snapshot is failed, never in progress or completed.
    expect(mine.map((x) => x.status)).toEqual(["failed"]);
    expect((await sb.info()).status).toBe("running");
    // Not frozen: it answers, and its files are whole.
    expect((await sb.run("sh", { args: ["-c", "sha256sum /big"], timeout: 30 })).stdout).toBe(sum);

    const suspending = sb.suspend().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 150));
    await daemon.stop("SIGKILL");
    await suspending;
    await daemon.start();
    const after = await sb.info();
    if (after.status === "suspended") await sb.resume();
    expect((await sb.info()).status).toBe("running");
    expect((await sb.run("sh", { args: ["-c", "sha256sum /big"], timeout: 30 })).stdout).toBe(sum);
    await sb.terminate();
  });
});
