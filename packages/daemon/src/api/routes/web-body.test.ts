// webBody: a Readable's Buffers reach the web stream's reader as they are (no copy), in order,
// with backpressure, and an error, an early destroy, a cancel or a caller gone is passed on.
import { createServer, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { webBody } from "./web-body.js";

async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

describe("webBody", () => {
  it("passes each Buffer on as it is, in order, then ends", async () => {
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(100_000, i));
    const got = await readAll(webBody(Readable.from(chunks, { objectMode: false })));
    expect(got.length).toBe(chunks.length);
    got.forEach((c, i) => expect(c).toBe(chunks[i]));
  });

  it("pauses the stream while a MiB waits unread, and resumes it when read", async () => {
    const src = new PassThrough({ highWaterMark: 1 << 20 });
    const reader = webBody(src).getReader();
    for (let i = 0; i < 40; i++) src.write(Buffer.alloc(64 << 10));
    src.end();
    await new Promise((r) => setTimeout(r, 20));
    expect(src.isPaused()).toBe(true);
    expect(src.readableLength).toBeGreaterThan(0);
    let n = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.length;
    expect(n).toBe(40 * (64 << 10));
  });

  it("errors the body with the stream's error, or when it is destroyed before its end", async () => {
    const failing = new PassThrough();
    const p = readAll(webBody(failing));
    failing.write(Buffer.from("x"));
    failing.destroy(new Error("boom"));
    await expect(p).rejects.toThrow("boom");
    const cut = new PassThrough();
    const q = readAll(webBody(cut));
    cut.write(Buffer.from("x"));
    cut.destroy();
    await expect(q).rejects.toThrow(/closed before its end/);
  });

  it("errors the body of a stream that failed or was cut before the body was made", async () => {
    // The agent's archive stream can fail with its first bytes, before the route wraps it.
    const failed = new PassThrough().on("error", () => undefined);
    failed.destroy(new Error("boom"));
    await new Promise((r) => setImmediate(r));
    await expect(readAll(webBody(failed))).rejects.toThrow("boom");
    const cut = new PassThrough();
    cut.destroy();
    await new Promise((r) => setImmediate(r));
    await expect(readAll(webBody(cut))).rejects.toThrow(/closed before its end/);
    const ended = Readable.from([Buffer.from("x")], { objectMode: false });
    expect(await readAll(webBody(ended))).toHaveLength(1);
    const empty = new PassThrough();
    empty.end();
    empty.resume();
    await new Promise((r) => setImmediate(r));
    expect(empty.readableEnded).toBe(true);
    expect(await readAll(webBody(empty))).toEqual([]);
  });

  it("destroys the stream when the body is cancelled", async () => {
    const src = new PassThrough();
    const reader = webBody(src).getReader();
    src.write(Buffer.from("x"));
    await reader.read();
    await reader.cancel();
    expect(src.destroyed).toBe(true);
  });

  it("destroys the stream when the caller left while the answer was being prepared, or before its end", async () => {
    // A real server: the answer is made 100 ms after the call, or begun and never finished.
    const sources: PassThrough[] = [];
    const server = createServer((_req, res: ServerResponse) => {
      const src = new PassThrough();
      sources.push(src);
      if (sources.length === 1) setTimeout(() => webBody(src, res), 100);
      else {
        webBody(src, res);
        res.write("x");
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const call = async (): Promise<void> => {
      const sock = connect((server.address() as AddressInfo).port, "127.0.0.1");
      sock.on("error", () => undefined);
      sock.write("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
      await new Promise((r) => setTimeout(r, 30));
      sock.destroy();
    };
    try {
      await call();
      await new Promise((r) => setTimeout(r, 150));
      expect(sources[0]!.destroyed).toBe(true);
      await call();
      await new Promise((r) => setTimeout(r, 50));
      expect(sources[1]!.destroyed).toBe(true);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
