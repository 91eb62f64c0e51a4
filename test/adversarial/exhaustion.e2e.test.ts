// Resource exhaustion from inside real sandboxes on a daemon of our own: fork and memory bombs,
// cpu spinners, disk and inode filling, an output flood, and 10,000-file and over-cap uploads.
// Each attack must stay within the sandbox's own limits while the daemon keeps answering (with
// bounded memory) and another sandbox keeps running commands. SBX_ADVERSARIAL_LONG=1 enlarges sizes.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, type CreateSandboxOptions } from "@sbx-sh/sdk";
import { TestDaemon } from "../harness.js";
import { diskUse } from "./disk-use.js";
import { rawTar } from "./kit.js";

const LONG = process.env.SBX_ADVERSARIAL_LONG === "1";
const MiB = 1024 * 1024;
const V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
let daemon: TestDaemon;
let client: SandboxClient;
let bystander: Sandbox;
const created: Sandbox[] = [];

async function sandbox(opts: CreateSandboxOptions = {}): Promise<Sandbox> {
  const sb = await Sandbox.create({ allowInternetAccess: false, ...opts }, client);
  created.push(sb);
  return sb;
}

beforeAll(async () => {
  daemon = new TestDaemon({ name: "advexh", netIndex: 7 });
  await daemon.reset();
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
  bystander = await sandbox();
});
afterAll(async () => {
  for (const sb of created) await sb.terminate().catch(() => undefined);
  await daemon?.stop();
});

function cgroup(id: string, v1: [string, string], v2: string): string {
  return readFileSync(
    V2 ? `/sys/fs/cgroup/sbx/${id}/${v2}` : `/sys/fs/cgroup/${v1[0]}/sbx/${id}/${v1[1]}`,
    "utf8",
  ).trim();
}

/** The daemon's resident memory, in bytes. */
function daemonRss(): number {
  const status = readFileSync(`/proc/${daemon.child!.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** The daemon answers, and a sandbox that is not under attack still runs commands. */
async function hostStillFine(): Promise<void> {
  expect(daemon.child!.exitCode).toBeNull();
  expect((await client.list()).some((s) => s.id === bystander.id)).toBe(true);
  expect((await bystander.run("echo", { args: ["bystander ok"] })).stdout).toBe("bystander ok\n");
  expect(execFileSync("sh", ["-c", "echo host-ok"]).toString()).toBe("host-ok\n");
}

async function sh(sb: Sandbox, script: string, timeout?: number): Promise<string> {
  const r = await sb.run("bash", { args: ["-c", script], timeout });
  return r.stdout + r.stderr;
}

describe("adversarial exhaustion", () => {
  it("a recursive fork bomb stops at the pids limit while the daemon and other sandboxes carry on", async () => {
    const sb = await sandbox({ pidsLimit: 64, cpus: 0.5 });
    await sb.startProcess("bash", { args: ["-c", "b() { b | b & }; b; sleep 60"] });
    await expect
      .poll(() => Number(cgroup(sb.id, ["pids", "pids.current"], "pids.current")), { timeout: 20_000 })
      .toBeGreaterThanOrEqual(60);
    await hostStillFine();
    expect(Number(cgroup(sb.id, ["pids", "pids.current"], "pids.current"))).toBeLessThanOrEqual(64);
    expect(Number(/max (\d+)/.exec(cgroup(sb.id, ["pids", "pids.events"], "pids.events"))?.[1])).toBeGreaterThan(0);
    await sb.terminate();
    await hostStillFine();
  });

  it("a memory bomb is OOM-killed inside its own cgroup; the daemon survives with its memory unchanged", async () => {
    const sb = await sandbox({ memoryMb: 64 });
    const rss = daemonRss();
    const r = await sb.run("bash", {
      args: ["-c", "for i in 1 2 3 4; do tail /dev/zero & done; wait; echo done"],
      timeout: 60,
    });
    expect(r.stdout).toBe("done\n");
    const oomKills = V2
      ? /oom_kill (\d+)/.exec(cgroup(sb.id, ["", ""], "memory.events"))?.[1]
      : /oom_kill (\d+)/.exec(cgroup(sb.id, ["memory", "memory.oom_control"], ""))?.[1];
    expect(Number(oomKills)).toBeGreaterThanOrEqual(4);
    expect(Number(cgroup(sb.id, ["memory", "memory.max_usage_in_bytes"], "memory.peak"))).toBeLessThanOrEqual(64 * MiB);
    expect(daemonRss() - rss).toBeLessThan(100 * MiB);
    await hostStillFine();
  });

  it("four cpu spinners in a cpus=0.5 sandbox get no more than their half cpu", async () => {
    const sb = await sandbox({ cpus: 0.5 });
    await sb.startProcess("bash", {
      args: ["-c", "for i in 1 2 3 4; do timeout 30 sh -c 'while :; do :; done' & done; wait"],
    });
    const usage = (): number =>
      V2
        ? Number(/usage_usec (\d+)/.exec(cgroup(sb.id, ["", ""], "cpu.stat"))![1]) * 1000
        : Number(cgroup(sb.id, ["cpuacct", "cpuacct.usage"], ""));
    await expect.poll(() => usage(), { timeout: 10_000 }).toBeGreaterThan(100_000_000);
    const [u0, t0] = [usage(), process.hrtime.bigint()];
    await new Promise((r) => setTimeout(r, 2000));
    const [u1, t1] = [usage(), process.hrtime.bigint()];
    const cpus = (u1 - u0) / Number(t1 - t0);
    console.log(`cpu spinners got ${cpus.toFixed(2)} cpus (quota 0.5)`);
    // A limit, not a timing threshold: generous slack for period boundaries on a loaded machine.
    expect(cpus).toBeLessThan(0.8);
    expect(cpus).toBeGreaterThan(0);
    await hostStillFine();
    await sb.terminate();
  });

  it("filling the disk stops at the sandbox's cap and never touches the host's data disk", async () => {
    const sb = await sandbox({ diskMb: 64, memoryMb: 512 });
    // What the data dir holds on the host's disk, each file once, mounts below it left out: du -x
    // would also count the base layer again through the idmapped lower mounts of a warm-pool blank
    // that starts meanwhile (./disk-use.ts), ~130 MiB that are not on the disk twice.
    const before = diskUse(daemon.env.SBX_DATA_DIR!);
    const out = await sh(
      sb,
      "for i in $(seq 1 100); do dd if=/dev/zero of=/fill$i bs=1M count=1 2>/dev/null || { echo full at $i; break; }; done; df -B1 / | tail -1",
    );
    const full = Number(/full at (\d+)/.exec(out)?.[1]);
    expect(full).toBeGreaterThan(32);
    expect(full).toBeLessThanOrEqual(65);
    // The sandbox's / is its own 64 MiB disk, and it is full, not the host's disk.
    const [size, used] = /\S+\s+(\d+)\s+(\d+)/
      .exec(out.split("\n").at(-2) ?? "")!
      .slice(1)
      .map(Number);
    expect(size).toBeLessThanOrEqual(64 * MiB);
    expect(used).toBeGreaterThan(32 * MiB);
    // The writable layer is a tmpfs of its own: the host's data dir did not grow with it.
    expect(diskUse(daemon.env.SBX_DATA_DIR!) - before).toBeLessThan(4 * MiB);
    expect(await sh(sb, "rm /fill* && echo freed > /after && cat /after")).toBe("freed\n");
    await hostStillFine();
  });

  it("creating empty files stops at the sandbox's own inode limit, on / and /dev/shm", async () => {
    // Long runs use a 1 GiB disk: a quarter of a million inodes, with memory to spare for them.
    const diskMb = LONG ? 1024 : 64;
    const sb = await sandbox({ diskMb, memoryMb: LONG ? 2048 : 256 });
    // bash builds each file with a redirection, no fork: the limit is hit in seconds, not minutes.
    const fill = (dir: string) =>
      sh(
        sb,
        `mkdir -p ${dir}; i=0; while : 2>/dev/null > ${dir}/$i; do i=$((i+1)); done; echo created $i; : > ${dir}/x`,
        120,
      );
    for (const dir of ["/many", "/dev/shm/many"]) {
      const out = await fill(dir);
      const count = Number(/created (\d+)/.exec(out)?.[1]);
      expect(out, dir).toMatch(/No space left on device/);
      // One inode per 4 KiB of the 64 MiB /dev/shm or of the disk: thousands of files, not millions.
      expect(count, dir).toBeGreaterThan(1000);
      expect(count, dir).toBeLessThanOrEqual(dir === "/many" ? diskMb * 256 : 16384);
    }
    expect(await sh(sb, "rm -rf /many /dev/shm/many && echo ok > /ok && cat /ok")).toBe("ok\n");
    await hostStillFine();
  });

  it("an output flood is capped: the daemon's memory stays bounded and the stream still ends", async () => {
    const sb = await sandbox();
    const rss0 = daemonRss();
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, daemonRss())), 100);
    let bytes = 0;
    let exit: number | null | undefined;
    try {
      for await (const ev of sb.exec("bash", { args: ["-c", `head -c ${LONG ? 8 : 2}G /dev/zero`], timeout: 120 })) {
        if (ev.type === "stdout") bytes += ev.data.length;
        if (ev.type === "exit") exit = ev.exitCode;
      }
    } finally {
      clearInterval(sampler);
    }
    console.log(
      `output flood: ${(bytes / MiB).toFixed(0)} MiB reached the client; daemon RSS ${(rss0 / MiB).toFixed(0)} -> peak ${(peak / MiB).toFixed(0)} MiB`,
    );
    // The writer is stopped by a failing write (its log is full), not left hanging.
    expect(exit).toBe(1);
    expect(bytes).toBeGreaterThan(16 * MiB);
    expect(bytes).toBeLessThanOrEqual(64 * MiB);
    expect(peak - rss0).toBeLessThan(200 * MiB);
    // The sandbox can still start processes with output afterwards.
    expect((await sb.run("echo", { args: ["after the flood"] })).stdout).toBe("after the flood\n");
    await hostStillFine();
  });

  it("uploads an archive of 10,000 small files", async () => {
    const sb = await sandbox();
    const n = LONG ? 50_000 : 10_000;
    const t0 = performance.now();
    const pending = sb.uploadArchive("/up", tarOf(n));
    // The daemon answers while it unpacks.
    expect((await client.list()).length).toBeGreaterThan(0);
    await pending;
    console.log(`uploaded ${n} files in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect((await sh(sb, "find /up -type f | wc -l")).trim()).toBe(String(n));
    expect((await sb.readFile(`/up/d${(n - 1) >> 8}/f${n - 1}`)).toString()).toBe(`file ${n - 1}\n`);
    await hostStillFine();
  });

  it("refuses uploads over the size cap with 413 and writes nothing", async () => {
    const sb = await sandbox();
    const cap = 1024 * MiB;
    // An honest Content-Length over the cap is refused before any body is read.
    const declared = await rawPut(
      `/v1/sandboxes/${sb.id}/archive?path=/huge`,
      { "content-length": String(cap + 1) },
      undefined,
    );
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ error: { code: "payload_too_large" } });
    // A chunked body that never says its size is cut off at the cap.
    const rss0 = daemonRss();
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, daemonRss())), 100);
    const chunk = Buffer.alloc(MiB);
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 1024 + 16; i++) yield chunk;
      })(),
    );
    const chunked = await rawPut(
      `/v1/sandboxes/${sb.id}/archive?path=/huge`,
      { "transfer-encoding": "chunked" },
      body,
    ).finally(() => clearInterval(sampler));
    console.log(
      `over-cap chunked upload: daemon RSS ${(rss0 / MiB).toFixed(0)} -> peak ${(peak / MiB).toFixed(0)} MiB`,
    );
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toMatchObject({ error: { code: "payload_too_large" } });
    await expect(sb.listDirectory("/huge")).rejects.toMatchObject({ code: "file_not_found" });
    await hostStillFine();
  });
});

/** n files of a few bytes each, 256 to a directory. */
function tarOf(n: number): Buffer {
  return rawTar(Array.from({ length: n }, (_, i) => ({ path: `d${i >> 8}/f${i}`, body: `file ${i}\n` })));
}

/** A PUT on the daemon's socket with exactly these headers; resolves with the answer, whatever was sent. */
function rawPut(
  path: string,
  headers: Record<string, string>,
  body: Readable | undefined,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: daemon.socket,
        method: "PUT",
        path,
        headers: { ...headers, "content-type": "application/octet-stream" },
      },
      (res) => {
        let text = "";
        res
          .on("data", (d: Buffer) => (text += d.toString()))
          .on("end", () => {
            resolve({ status: res.statusCode!, body: text });
            req.destroy();
          });
      },
    );
    req.on("error", reject);
    if (body) body.pipe(req);
    else req.flushHeaders();
  });
}
