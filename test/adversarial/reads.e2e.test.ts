// File reads against the daemon: a read is held whole in the daemon's memory (up to 256 MiB) until
// it has been sent, so a read the client abandons must stop in the sandbox at once (not go on
// filling a buffer for nobody, nor be logged as a server error), and one project holds only a few
// reads at once. Normal reads (SDK, CLI) are covered by files.e2e and cli.e2e.
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { SbxError, type Sandbox } from "@sbx-sh/sdk";
import { useSandboxes } from "../fixtures.js";
import { testDaemonRoot } from "../harness.js";

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

/** A raw GET of `path` in sandbox `id`, on its own connection. */
function read(id: string, path: string, headers: Record<string, string> = {}): Read {
  const req = request({
    socketPath: SOCKET,
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

describe("file reads", () => {
  it("abandoned by the client mid-way are stopped in the sandbox and logged as the client's doing", async () => {
    const sb = await sandbox();
    await bigFile(sb, "/tmp/big", 250);
    // The agent's read of /tmp/big, caught by a process in the sandbox and stopped (SIGSTOP): it is
    // then in progress for good unless the daemon kills it. A read that ends before it is caught is
    // tried again (removing /tmp/ready ends the catcher). The pattern is written so as not to match
    // the catcher's own command line.
    const catcher = [
      "touch /tmp/ready; while [ -e /tmp/ready ]; do for f in /proc/[0-9]*/cmdline; do",
      `case "$(tr '\\0' ' ' < $f 2>/dev/null)" in *"file read /tmp/b"[i]"g "*)`,
      "p=${f#/proc/}; p=${p%/cmdline}; kill -STOP $p && echo $p && exit 0;; esac; done; done; exit 1",
    ].join(" ");
    for (let attempt = 0; ; attempt++) {
      expect(attempt).toBeLessThan(10);
      await sb.run(BUSYBOX, { args: ["rm", "-f", "/tmp/ready"] });
      const caught = sb.run(BUSYBOX, { args: ["sh", "-c", catcher] });
      while ((await sb.run(BUSYBOX, { args: ["test", "-e", "/tmp/ready"] })).exitCode !== 0) await sleep(20);
      const id = `abandoned-read-${Math.random().toString(36).slice(2)}`;
      const r = read(sb.id, "/tmp/big", { "x-request-id": id });
      const first = await Promise.race([caught.then(() => "caught" as const), r.head.then(() => "answered" as const)]);
      if (first === "answered") {
        // Too quick for the catcher: end it and try again.
        r.req.destroy();
        await sb.run(BUSYBOX, { args: ["rm", "-f", "/tmp/ready"] });
        await caught;
        continue;
      }
      const pid = (await caught).stdout.trim();
      expect(pid).toMatch(/^\d+$/);
      r.req.destroy();
      // The daemon killed the stopped read (it would never end otherwise) and answered 499 to no one.
      const lines = await requestLines(id);
      expect(lines.find((l) => l.includes('"msg":"request"'))).toMatch(/"status":499/);
      expect(lines.filter((l) => l.includes("request failed"))).toEqual([]);
      expect((await sb.run(BUSYBOX, { args: ["kill", "-0", pid] })).exitCode).not.toBe(0);
      break;
    }
    // The sandbox's files still answer.
    await sb.writeFile("/tmp/small", "still fine");
    expect((await sb.readFile("/tmp/small")).toString()).toBe("still fine");
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
    await bigFile(sb, "/tmp/held", 16);
    // Four reads whose answers are not taken: each holds its 16 MiB in the daemon, and its slot.
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
        expect(n).toBe(16 << 20);
        break;
      }
      expect(res.statusCode).toBe(503);
      res.destroy();
      await sleep(50);
    }
  });
});
