// RegistryClient.getBlob (every pull's blob download) against a real HTTP server on loopback that
// fails the first attempts in each way a registry or the network does: a body cut mid-way, a
// connection reset before the answer, a body that ends short, 5xx, 429 with Retry-After, nothing
// listening. Each such download is tried again and lands whole, counted once in the progress and
// with no partial file; one that fails every attempt says so after a bounded number. What the
// registry refuses (404, 401, 403), other bytes than the digest, a name that does not resolve and
// a local write error are final at once.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BLOB_RETRY, type BlobRetryNotice, type GetBlobOptions } from "./registry-blob.js";
import { RegistryClient } from "./registry-client.js";
import { parseRegistryRef } from "./registry-ref.js";

const blob = Buffer.alloc(512 << 10, "layer bytes ");
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
const LOOPBACK = { allowLoopback: true, allow: [] };

/** How one request is answered. */
type Answer =
  "blob" | "cut" | "reset" | "short" | "other bytes" | "larger" | "404" | "401" | "403" | "503" | `429:${string}`;

describe("a blob download from a registry", () => {
  let server: Server;
  let port: number;
  let dir: string;
  /** The answers of the next requests, in order; "blob" once they are used up. */
  let script: Answer[] = [];
  let requests = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-registry-blob-"));
    server = createServer((req, res) => {
      if (req.url !== `/v2/team/app/blobs/${digest}`) return res.writeHead(404).end();
      requests++;
      const answer = script.shift() ?? "blob";
      if (answer === "reset") return req.socket.destroy();
      if (/^\d+$/.test(answer)) {
        const challenge = answer === "401" ? { "www-authenticate": 'Basic realm="test"' } : {};
        return res.writeHead(Number(answer), challenge).end('{"errors":[{"code":"X","message":"no"}]}');
      }
      if (answer.startsWith("429:")) return res.writeHead(429, { "retry-after": answer.slice(4) }).end();
      const body =
        answer === "other bytes"
          ? Buffer.from(blob).fill("x", 0, 10)
          : answer === "larger"
            ? Buffer.concat([blob, Buffer.from("more")])
            : blob;
      if (answer === "short") {
        // A length that is the body's, so the answer ends cleanly: short of the descriptor's size.
        res.writeHead(200, { "content-length": String(blob.length / 2) });
        return res.end(blob.subarray(0, blob.length / 2));
      }
      res.writeHead(200, { "content-length": String(body.length) });
      if (answer === "cut") return res.write(body.subarray(0, body.length / 2), () => res.socket?.destroy());
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    script = [];
    requests = 0;
  });

  /** Downloads into `dir/name`: what happened, the retry notices and each progress report. */
  async function get(name: string, o: GetBlobOptions = {}, client = clientOf(`127.0.0.1:${port}`)) {
    const notices: BlobRetryNotice[] = [];
    const progress: number[] = [];
    const outcome = await client
      .getBlob(digest, blob.length, join(dir, name), {
        retry: { firstDelayMs: 10 },
        ...o,
        onRetry: (n) => notices.push(n),
        onBytes: (n) => progress.push(n),
      })
      .then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string; details?: Record<string, unknown> },
      );
    return { error: outcome, notices, progress };
  }
  const clientOf = (registry: string, resolve?: (host: string) => Promise<string[]>) =>
    new RegistryClient(parseRegistryRef(`${registry}/team/app`), { insecure: true }, LOOPBACK, resolve);
  /** The files of `dir` that belong to the download `name` (its blob and any `.part`). */
  const left = async (name: string) => (await readdir(dir)).filter((f) => f.startsWith(name));

  it.each([
    ["a body cut mid-way", "cut", "transfer_broken"],
    ["a body that ends short of its size", "short", "transfer_broken"],
    ["a connection reset before the answer", "reset", "unreachable"],
    ["a 503", "503", "server_error"],
  ] as const)("tries %s again: the blob lands whole, each byte counted once", async (_what, answer, reason) => {
    script = [answer, answer];
    const { error, notices, progress } = await get(answer);
    expect(error).toBeUndefined();
    expect(requests).toBe(3);
    expect(notices.map((n) => [n.attempt, n.error.details?.reason])).toEqual([
      [1, reason],
      [2, reason],
    ]);
    expect((await readFile(join(dir, answer))).equals(blob)).toBe(true);
    expect(progress.every((n) => n > 0)).toBe(true);
    expect(progress.reduce((a, b) => a + b, 0)).toBe(blob.length);
    expect(await left(answer)).toEqual([answer]);
  });

  it("waits as long as a 429's Retry-After asks, within a bound; longer, it fails at once", async () => {
    script = ["429:1"];
    const waited = await get("limited");
    expect(waited.error).toBeUndefined();
    expect(requests).toBe(2);
    expect(waited.notices).toMatchObject([
      { attempt: 1, waitMs: 1000, error: { details: { reason: "rate_limited" } } },
    ]);
    script = ["429:3600"];
    const refused = await get("limited-long");
    expect(refused.error).toMatchObject({
      code: "runtime_error",
      message: expect.stringMatching(/asks to wait 3600 s before trying again, longer than sbx waits \(30 s\)/),
      details: { status: 429, reason: "rate_limited", retryAfterMs: 3_600_000, attempts: 1 },
    });
    expect(requests).toBe(3);
    expect(await left("limited-long")).toEqual([]);
  });

  it("fails after a bounded number of attempts when every one breaks, leaving no file", async () => {
    script = Array<Answer>(10).fill("cut");
    const { error, notices, progress } = await get("never");
    expect(requests).toBe(BLOB_RETRY.attempts);
    expect(notices).toHaveLength(BLOB_RETRY.attempts - 1);
    expect(error).toMatchObject({
      code: "upstream_unreachable",
      message: expect.stringMatching(/broke off after \d+ bytes .*; tried 3 times$/),
      details: { registry: `127.0.0.1:${port}`, reason: "transfer_broken", transient: true, attempts: 3 },
    });
    expect(progress.reduce((a, b) => a + b, 0)).toBe(blob.length / 2);
    expect(await left("never")).toEqual([]);
  });

  it("tries a registry that refuses connections again, then says it cannot reach it", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { error, notices } = await get("refused", {}, clientOf(`127.0.0.1:${free}`));
    expect(notices).toHaveLength(BLOB_RETRY.attempts - 1);
    expect(error).toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*; tried 3 times$/),
      details: { reason: "unreachable", transient: true, attempts: 3 },
    });
  });

  it.each([
    ["a missing blob (404)", "404", "invalid_archive"],
    ["a credentials challenge it has no answer for (401)", "401", "unauthenticated"],
    ["a refusal (403)", "403", "permission_denied"],
    ["other bytes than the digest", "other bytes", "invalid_archive"],
    ["more bytes than the descriptor", "larger", "invalid_archive"],
  ] as const)("does not try %s again", async (_what, answer, code) => {
    script = [answer];
    const { error, notices } = await get(`final-${answer}`);
    expect(error).toMatchObject({ code });
    expect(error?.details?.transient).toBeUndefined();
    expect(requests).toBe(1);
    expect(notices).toEqual([]);
    expect(await left(`final-${answer}`)).toEqual([]);
  });

  it("does not try a name that does not resolve, nor a file it cannot write, again", async () => {
    const nowhere = await get(
      "nowhere",
      {},
      clientOf("nowhere.test:5000", async () => []),
    );
    expect(nowhere.error).toMatchObject({
      code: "failed_precondition",
      details: { reason: "unreachable", transient: false },
    });
    expect(nowhere.notices).toEqual([]);
    const unwritable = await get("no-such-dir/blob");
    expect(unwritable.error).toMatchObject({ code: "ENOENT" });
    expect(requests).toBe(1);
    expect(unwritable.notices).toEqual([]);
  });
});
