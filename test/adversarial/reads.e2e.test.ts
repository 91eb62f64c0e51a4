// File reads against the daemon. A read streams from the sandbox through the daemon, which holds
// only a few chunks of it whatever the file's size; a read whose client leaves stops in the sandbox
// at once (and frees its slot); one project holds only a few reads at once; a read that makes no
// progress is stopped; and what the sandbox serves (devices, fifos, files that change while read)
// gives a clear answer. Normal reads (SDK, CLI) are covered by files.e2e and cli.e2e.
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Sandbox, SandboxClient, SbxError } from "@sbx-sh/sdk";
import { useSandboxes } from "../fixtures.js";
import { TestDaemon, testDaemonRoot } from "../harness.js";

const ROOT = testDaemonRoot("shared");
const SOCKET = inject("sbxHost").replace(/^unix:\/\//, "");
const BUSYBOX = "/.sbx/busybox";
const sandbox = useSandboxes();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Read {
  req: ClientRequest;
  /** The answer's head; its body is left unread (paused) until the caller reads it. */
  head: Promise<IncomingMessage>;
}

/** A raw GET of `path` in sandbox `id`, on its own connection (to the shared daemon unless `socket`). */
function read(id: string, path: string, headers: Record<string, string> = {}, socket = SOCKET): Read {
  const req = request({
    socketPath: socket,
    method: "GET",
    path: `/v1/sandboxes/${id}/files?path=${encodeURIComponent(path)}`,
    headers,
    agent: false,
  });
  const head = new Promise<IncomingMessage>((resolve, reject) => {
    req.on("response", (res) => {
      res.pause();
      resolve(res);
    });
    req.on("error", reject);
  });
  head.catch(() => undefined);
  req.end();
  return { req, head };
}

async function text(res: IncomingMessage): Promise<string> {
  let s = "";
  for await (const d of res) s += (d as Buffer).toString();
  return s;
}

/** The body's length and sha256, or the error it broke off with and the bytes before it. */
async function drain(res: IncomingMessage): Promise<{ bytes: number; sha256: string; error?: Error }> {
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    for await (const d of res) {
      hash.update(d as Buffer);
      bytes += (d as Buffer).length;
    }
  } catch (err) {
    return { bytes, sha256: "", error: err as Error };
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** The daemon's log lines of request `id` once its "request" line is there. */
async function requestLines(id: string): Promise<string[]> {
  for (;;) {
    const lines = readFileSync(join(ROOT, "sbxd.log"), "utf8")
      .split("\n")
      .filter((l) => l.includes(`"req":"${id}"`));
    if (lines.some((l) => l.includes('"msg":"request"'))) return lines;
    await sleep(50);
  }
}

/** A sparse file of `mib` MiB in the sandbox (holes: no disk, but every byte is read). */
async function bigFile(sb: Sandbox, path: string, mib: number): Promise<void> {
  const r = await sb.run(BUSYBOX, { args: ["truncate", "-s", `${mib}M`, path] });
  expect(r.exitCode).toBe(0);
}

/** `mib` MiB of /dev/urandom at `path` in the sandbox; answers its sha256. */
async function randomFile(sb: Sandbox, path: string, mib: number): Promise<string> {
  const r = await sb.run(BUSYBOX, {
    args: ["sh", "-c", `${BUSYBOX} head -c ${mib << 20} /dev/urandom > ${path} && ${BUSYBOX} sha256sum ${path}`],
  });
  expect(r.exitCode).toBe(0);
  return r.stdout.split(" ")[0]!;
}

/** The pid, in the sandbox, of the agent's `file stream <path>` process (it blocks while its reader is behind). */
async function streamPid(sb: Sandbox, path: string): Promise<string> {
  // Every process's command line but this shell's own (which names the path too).
  const script = [
    'for f in /proc/[0-9]*/cmdline; do p=${f#/proc/}; p=${p%/cmdline}; [ "$p" = "$$" ] && continue;',
    `case "$(tr '\\0' ' ' < $f 2>/dev/null)" in *"file stream ${path} "*) echo $p;; esac; done`,
  ].join(" ");
  for (;;) {
    const pid = (await sb.run(BUSYBOX, { args: ["sh", "-c", script] })).stdout.trim();
    if (pid) return pid;
    await sleep(20);
  }
}

/** The resident memory of a process, in bytes. */
function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) * 1024;
}

describe("file reads", () => {
  it("stream a file far larger than any buffer, byte for byte, while the daemon's memory stays put", async () => {
    const sb = await sandbox();
    const MIB = 300;
    const want = await randomFile(sb, "/var/tmp/rand", MIB);
    const daemon = Number(readFileSync(join(ROOT, "run", "sbxd.pid"), "utf8"));
    const before = rssOf(daemon);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(daemon))), 20);
    try {
      const res = await read(sb.id, "/var/tmp/rand").head;
      expect(res.statusCode).toBe(200);
      // The size is known up front: the answer says it.
      expect(res.headers["content-length"]).toBe(String(MIB << 20));
      const got = await drain(res);
      expect(got.error).toBeUndefined();
      expect(got.bytes).toBe(MIB << 20);
      expect(got.sha256).toBe(want);
    } finally {
      clearInterval(sampler);
    }
    // A memory bound, not a timing one: held whole, the file alone would be 300 MiB.
    const grown = `${((peak - before) / 1048576).toFixed(1)} MiB`;
    expect(peak - before, `the daemon's RSS grew by ${grown}`).toBeLessThan(100 << 20);
  });

  it("abandoned by the client mid-way are stopped in the sandbox, not logged as a failure", async () => {
    const sb = await sandbox();
    await bigFile(sb, "/tmp/big", 250);
    const id = `abandoned-read-${Math.random().toString(36).slice(2)}`;
    const r = read(sb.id, "/tmp/big", { "x-request-id": id });
    expect((await r.head).statusCode).toBe(200);
    // Its reader has not read: the agent's read process is blocked, in progress until the daemon stops it.
    const pid = await streamPid(sb, "/tmp/big");
    // Stopped, it can only end by SIGKILL: were it merely left alone, it would stay for good.
    expect((await sb.run(BUSYBOX, { args: ["kill", "-STOP", pid] })).exitCode).toBe(0);
    r.req.destroy();
    while ((await sb.run(BUSYBOX, { args: ["kill", "-0", pid] })).exitCode === 0) await sleep(20);
    const lines = await requestLines(id);
    expect(lines.filter((l) => l.includes("request failed"))).toEqual([]);
    // The sandbox's files still answer.
    await sb.writeFile("/tmp/small", "still fine");
    expect((await sb.readFile("/tmp/small")).toString()).toBe("still fine");
  });

  it("of a device, a fifo or a /proc file that never ends answer clearly", async () => {
    const sb = await sandbox();
    await sb.run(BUSYBOX, { args: ["mkfifo", "/tmp/fifo"] });
    for (const path of ["/dev/zero", "/dev/urandom", "/tmp/fifo"]) {
      const err = await sb.readFile(path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, path).toBeInstanceOf(SbxError);
      expect(err, path).toMatchObject({ code: "invalid_path", message: expect.stringMatching(/not a regular file/) });
    }
    // /proc/self/pagemap says 0 bytes and gives 256 GiB: the read stops at 256 MiB, and the answer
    // breaks off there (never a complete-looking body), with no size announced.
    const res = await read(sb.id, "/proc/self/pagemap").head;
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-length"]).toBeUndefined();
    const got = await drain(res);
    expect(got.error).toBeDefined();
    expect(got.bytes).toBeLessThanOrEqual(256 << 20);
  });

  it("of a file that changes while read: growth is cut at the size it had, a shrink breaks the answer off", async () => {
    const sb = await sandbox();
    const want = await randomFile(sb, "/var/tmp/grows", 32);
    const grows = await read(sb.id, "/var/tmp/grows").head;
    expect(grows.headers["content-length"]).toBe(String(32 << 20));
    // The reader is behind (32 MiB is more than every buffer on the way): the read is mid-file.
    await streamPid(sb, "/var/tmp/grows");
    await sb.run(BUSYBOX, { args: ["sh", "-c", `${BUSYBOX} head -c 1048576 /dev/urandom >> /var/tmp/grows`] });
    const got = await drain(grows);
    expect(got).toEqual({ bytes: 32 << 20, sha256: want });

    await randomFile(sb, "/var/tmp/shrinks", 32);
    const shrinks = await read(sb.id, "/var/tmp/shrinks").head;
    await streamPid(sb, "/var/tmp/shrinks");
    await sb.run(BUSYBOX, { args: ["truncate", "-s", "1M", "/var/tmp/shrinks"] });
    const cut = await drain(shrinks);
    expect(cut.error).toBeDefined();
    expect(cut.bytes).toBeLessThan(32 << 20);
  });

  it("of a file the kernel will not read (/proc/self/mem: EIO) are the caller's error: a coded 400, not a 500", async () => {
    const sb = await sandbox();
    const err = await sb.readFile("/proc/self/mem").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SbxError);
    expect(err).toMatchObject({ code: "invalid_path" });
    expect((err as SbxError).message).toMatch(
      /\/proc\/self\/mem cannot be read in the sandbox: (I\/O|Input\/output) error/,
    );
  });

  it("are capped per project: a fifth concurrent read is refused at once, and a slot lasts until the answer is sent", async () => {
    const sb = await sandbox();
    await bigFile(sb, "/tmp/held", 64);
    // Four reads whose answers are not taken: each is mid-file (64 MiB is more than every buffer on
    // the way) and holds its slot.
    const held = [0, 1, 2, 3].map(() => read(sb.id, "/tmp/held"));
    try {
      for (const h of held) expect((await h.head).statusCode).toBe(200);
      const fifth = await read(sb.id, "/tmp/held").head;
      expect(fifth.statusCode).toBe(503);
      const body = JSON.parse(await text(fifth)) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("daemon_unavailable");
      expect(body.error.message).toMatch(/4 file reads in progress/);
      // Another project is not held up by this one's reads.
      const other = await read(sb.id, "/tmp/held", { "x-sbx-project": "reads-other" }).head;
      expect(other.statusCode).not.toBe(503);
      other.destroy();
    } finally {
      for (const h of held) h.req.destroy();
    }
    // The slots come back when the callers leave: a read answers again (once the daemon has seen them go).
    for (;;) {
      const res = await read(sb.id, "/tmp/held").head;
      if (res.statusCode === 200) {
        let n = 0;
        for await (const d of res) n += (d as Buffer).length;
        expect(n).toBe(64 << 20);
        break;
      }
      expect(res.statusCode).toBe(503);
      res.destroy();
      await sleep(50);
    }
  });
});

describe("a read that makes no progress", () => {
  // Its own daemon, whose reads may idle for a second (the default is 30 s).
  const daemon = new TestDaemon({
    name: "read-idle",
    netIndex: 4,
    extraArgs: ["--warm-pool", "0", "--read-idle", "1"],
  });
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

  it("is stopped, which frees its slot: a client that keeps its connection open but never reads cannot hold it", async () => {
    const sb = await Sandbox.create({ allowInternetAccess: false }, client);
    const r = await sb.run(BUSYBOX, { args: ["truncate", "-s", "64M", "/tmp/held"] });
    expect(r.exitCode).toBe(0);
    const held = [0, 1, 2, 3].map(() => read(sb.id, "/tmp/held", {}, daemon.socket));
    for (const h of held) expect((await h.head).statusCode).toBe(200);
    // The four never read, and keep their connections: once idle, their reads are stopped and their
    // answers broken off, and a read answers again.
    for (;;) {
      const res = await read(sb.id, "/tmp/held", {}, daemon.socket).head;
      if (res.statusCode === 200) {
        expect((await drain(res)).bytes).toBe(64 << 20);
        break;
      }
      expect(res.statusCode).toBe(503);
      res.destroy();
      await sleep(100);
    }
    for (const h of held) {
      const got = await drain(await h.head);
      expect(got.error).toBeDefined();
      expect(got.bytes).toBeLessThan(64 << 20);
    }
  });
});
