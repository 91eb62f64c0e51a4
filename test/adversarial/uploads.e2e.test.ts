// Upload floods against the daemon (F8 of the second security round): a big build context must
// stream to disk, not into the daemon's memory, and one project cannot hold more than a few
// uploads open at once. An upload the client abandons is not a server error (no 500, no stack).
import { request, type ClientRequest, type IncomingMessage } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, inject, it } from "vitest";
import { testDaemonRoot } from "../harness.js";

const ROOT = testDaemonRoot("shared");
const SOCKET = inject("sbxHost").replace(/^unix:\/\//, "");
const WRONG_DIGEST = `sha256:${"0".repeat(64)}`;

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

/** A PUT of a build context, its body streamed from `body` (chunked). */
function putContext(
  body: Readable,
  path = `/v1/contexts/${WRONG_DIGEST}`,
  headers: Record<string, string> = {},
  method = "PUT",
): { req: ClientRequest; answer: Promise<{ status: number; text: string }> } {
  const req = request({
    socketPath: SOCKET,
    method,
    path,
    headers: { "content-type": "application/x-tar", "transfer-encoding": "chunked", ...headers },
  });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on("response", (res: IncomingMessage) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
  });
  body.pipe(req);
  return { req, answer };
}

/** A tar with one file of `size` zero bytes, generated as it is read. */
function zerosTar(size: number): Readable {
  const header = Buffer.alloc(512);
  header.write("zeros", 0);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(size.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write("0", 156);
  header.write("ustar\0" + "00", 257);
  header.fill(" ", 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const chunk = Buffer.alloc(1 << 20);
  let left = size;
  return Readable.from(
    (function* () {
      yield header;
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        yield chunk.subarray(0, n);
      }
      yield Buffer.alloc((512 - (size % 512)) % 512);
      yield Buffer.alloc(1024);
    })(),
  );
}

describe("uploads", () => {
  it("stream a 256 MiB build context to disk without holding it in memory", async () => {
    const pid = Number(readFileSync(join(ROOT, "run", "sbxd.pid"), "utf8").trim());
    const before = rssKb(pid);
    let peak = before;
    const { answer } = putContext(zerosTar(256 << 20));
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 20);
    const res = await answer.finally(() => clearInterval(sampler));
    // All of it was read and hashed (the digest is wrong on purpose: nothing is stored).
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/does not match/);
    expect(peak - before).toBeLessThan(96 * 1024);
  });

  it("abandoned by the client mid-way are the client's doing: a coded 400, never a 500 'request failed'", async () => {
    const log = join(ROOT, "sbxd.log");
    const calls = [
      ["PUT", `/v1/contexts/${WRONG_DIGEST}`],
      ["POST", "/v1/images/import?name=abandoned"],
    ] as const;
    for (const [method, path] of calls) {
      const id = `abandoned-${Math.random().toString(36).slice(2)}`;
      // A tar entry of 100 MiB, its first MiB sent: the daemon is reading it when the client leaves.
      const tar = zerosTar(100 << 20)[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const body = new Readable({ read() {} });
      body.push(Buffer.concat([(await tar.next()).value, (await tar.next()).value]));
      const { req, answer } = putContext(body, path, { "x-request-id": id }, method);
      answer.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      req.destroy();
      let lines: string[] = [];
      for (let i = 0; i < 100 && !lines.some((l) => l.includes('"msg":"request"')); i++) {
        await new Promise((r) => setTimeout(r, 50));
        lines = readFileSync(log, "utf8")
          .split("\n")
          .filter((l) => l.includes(`"req":"${id}"`));
      }
      expect(
        lines.find((l) => l.includes('"msg":"request"')),
        path,
      ).toMatch(/"status":400/);
      expect(
        lines.filter((l) => l.includes("request failed")),
        path,
      ).toEqual([]);
    }
  });

  it("are capped per project: a fifth concurrent upload is refused at once", async () => {
    const held = [0, 1, 2, 3].map(() => {
      const body = new Readable({ read() {} });
      body.push(Buffer.alloc(512));
      return { body, ...putContext(body) };
    });
    try {
      // The four are in (their first chunk reached the daemon) before the fifth starts.
      await new Promise((r) => setTimeout(r, 500));
      const fifth = putContext(Readable.from([Buffer.alloc(1024)]));
      const res = await fifth.answer;
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text).error).toMatchObject({ code: "daemon_unavailable" });
    } finally {
      for (const h of held) {
        h.answer.catch(() => undefined);
        h.req.destroy();
      }
    }
    // Slots come back when uploads end.
    await new Promise((r) => setTimeout(r, 200));
    const after = await putContext(zerosTar(1024)).answer;
    expect(after.status).toBe(400);
  });
});
