// NDJSON answers written to the HTTP server's response (ndjson-out.ts), through a real
// @hono/node-server and a raw client socket (each of its reads recorded, so what the server wrote
// together is seen together): a quick answer (the second value within the hold) is one write, head
// to end; a slow second value leaves the first line to go alone after the hold; a slow first value
// sends the head alone; a caller that goes away aborts and closes the sequence; a failing sequence
// breaks the stream; outside the HTTP server (app.request) the answer is the web Response as before.
import { connect, type AddressInfo } from "node:net";
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import type { AppEnv } from "./api-types.js";
import { ndjson } from "./routes/common.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

interface Probe {
  aborted: boolean;
  closed: boolean;
  /** Values the endless sequence produced. */
  pulls?: number;
  /** Lets the sequence go on to its second value. */
  release?: () => void;
}

const HOLD_MS = 50;

/** POST /exec: `started` (after `firstDelayMs`), then `exit` (after `secondDelayMs`, or once released), or a failure. */
function app(
  probe: Probe,
  opts: {
    firstDelayMs?: number;
    secondDelayMs?: number;
    waitForRelease?: boolean;
    fail?: boolean;
    /** The route waits this long before it answers (an exec waiting on a resume). */
    setupDelayMs?: number;
    /** An endless sequence of lines of this many bytes (a command that prints forever). */
    endlessBytes?: number;
    /** With endlessBytes: this many values, each there at once (no turn of the loop between them). */
    eagerCount?: number;
  } = {},
) {
  const a = new Hono<AppEnv>();
  a.use("*", async (c, next) => {
    c.set("requestId", "req_t1");
    await next();
  });
  a.post("/exec", async (c) => {
    const abort = new AbortController();
    abort.signal.addEventListener("abort", () => (probe.aborted = true));
    if (opts.setupDelayMs) await new Promise((r) => setTimeout(r, opts.setupDelayMs));
    async function* events(): AsyncGenerator<unknown> {
      try {
        const line = "x".repeat(opts.endlessBytes ?? 0);
        for (probe.pulls = 0; opts.endlessBytes && probe.pulls !== opts.eagerCount; probe.pulls++) {
          yield { type: "stdout", data: line };
          if (!opts.eagerCount) await new Promise((r) => setImmediate(r));
        }
        if (opts.firstDelayMs) await new Promise((r) => setTimeout(r, opts.firstDelayMs));
        yield { type: "started" };
        if (opts.secondDelayMs) await new Promise((r) => setTimeout(r, opts.secondDelayMs));
        if (opts.waitForRelease) await new Promise<void>((r) => (probe.release = r));
        if (opts.fail) throw new Error("the agent went away");
        yield { type: "exit", exitCode: 0 };
      } finally {
        probe.closed = true;
      }
    }
    return ndjson(events(), abort, c, HOLD_MS);
  });
  return a;
}

async function serve(a: Hono<AppEnv>): Promise<number> {
  const s = createAdaptorServer({ fetch: a.fetch }) as Server;
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return (s.address() as AddressInfo).port;
}

/** A raw HTTP/1.1 call: each read the socket gets, as text, and whether it closed. */
function rawCall(port: number): { reads: string[]; closed: () => boolean; destroy: () => void } {
  const reads: string[] = [];
  let closed = false;
  const sock = connect(port, "127.0.0.1");
  sock.write("POST /exec HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
  sock.on("data", (b: Buffer) => reads.push(b.toString()));
  sock.on("error", () => undefined);
  sock.on("close", () => (closed = true));
  return { reads, closed: () => closed, destroy: () => sock.destroy() };
}

const until = async (ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok()).toBe(true);
};

const END = "0\r\n\r\n";

/**
 * Values an endless sequence produced for a caller that never reads, once it stopped producing
 * (backpressure); the caller then leaves, and the sequence must be aborted.
 */
async function pullsWhileUnread(opts: Parameters<typeof app>[1]): Promise<number> {
  const probe: Probe = { aborted: false, closed: false };
  const sock = connect(await serve(app(probe, opts)), "127.0.0.1");
  sock.on("error", () => undefined);
  sock.write("POST /exec HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
  sock.pause();
  await until(() => (probe.pulls ?? 0) > 0);
  let last = -1;
  await until(() => {
    const still = probe.pulls === last;
    last = probe.pulls!;
    return still;
  });
  sock.destroy();
  await until(() => probe.aborted);
  return last;
}

describe("NDJSON written to the HTTP server's response", () => {
  it("answers a quick sequence in one write: head (with the request id), both lines and the end", async () => {
    const probe: Probe = { aborted: false, closed: false };
    const call = rawCall(await serve(app(probe)));
    await until(() => call.reads.join("").endsWith(END));
    expect(call.reads).toHaveLength(1);
    const [all] = call.reads;
    expect(all).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(all).toMatch(/\r\ncontent-type: application\/x-ndjson\r\n/);
    expect(all).toMatch(/\r\nx-request-id: req_t1\r\n/);
    expect(all).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
    expect(all!.indexOf('{"type":"started"}\n')).toBeLessThan(all!.indexOf('{"type":"exit","exitCode":0}\n'));
    expect(probe.closed).toBe(true);
    expect(probe.aborted).toBe(false);
    call.destroy();
  });

  it("holds the first line for the next value: a second value that comes within the hold goes out with it", async () => {
    const probe: Probe = { aborted: false, closed: false };
    const call = rawCall(await serve(app(probe, { secondDelayMs: 10 })));
    await until(() => call.reads.join("").endsWith(END));
    expect(call.reads).toHaveLength(1);
    expect(call.reads[0]).toContain('{"type":"started"}\n');
    expect(call.reads[0]).toContain('{"type":"exit","exitCode":0}\n');
    call.destroy();
  });

  it("sends the first line with the head once the hold is over when the next value is slow, then the rest", async () => {
    const probe: Probe = { aborted: false, closed: false };
    const call = rawCall(await serve(app(probe, { waitForRelease: true })));
    await until(() => call.reads.length > 0);
    expect(call.reads[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(call.reads.join("")).toContain('{"type":"started"}\n');
    expect(call.reads.join("")).not.toContain("exit");
    probe.release!();
    await until(() => call.reads.join("").endsWith(END));
    expect(call.reads.join("")).toContain('{"type":"exit","exitCode":0}\n');
    call.destroy();
  });

  it("sends the head alone when the first value is slow", async () => {
    const probe: Probe = { aborted: false, closed: false };
    const call = rawCall(await serve(app(probe, { firstDelayMs: 300 })));
    await until(() => call.reads.length > 0);
    expect(call.reads[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(call.reads[0]).not.toContain("started");
    await until(() => call.reads.join("").endsWith(END));
    call.destroy();
  });

  it("a caller that goes away aborts the sequence and closes it", async () => {
    const probe: Probe = { aborted: false, closed: false };
    const call = rawCall(await serve(app(probe, { waitForRelease: true })));
    await until(() => call.reads.join("").includes("started"));
    call.destroy();
    await until(() => probe.aborted);
    // The sequence is closed at its next step (an async generator finishes the step it is in).
    probe.release!();
    await until(() => probe.closed);
  });

  it("a caller that left before the answer began: nothing is read, the sequence is aborted", async () => {
    const probe: Probe = { aborted: false, closed: false };
    const call = rawCall(await serve(app(probe, { setupDelayMs: 100, endlessBytes: 100 })));
    await new Promise((r) => setTimeout(r, 20));
    call.destroy();
    await until(() => probe.aborted);
    await new Promise((r) => setTimeout(r, 100));
    // Unfixed, the lines piled up in memory for as long as the sequence ran (thousands by now).
    expect(probe.pulls ?? 0).toBeLessThan(3);
  });

  it("a caller that does not read stops the sequence (backpressure), it does not pile up", async () => {
    // A few MiB of socket buffers at most, not the endless sequence.
    expect(await pullsWhileUnread({ endlessBytes: 64 * 1024 })).toBeLessThan(1000);
  });

  it("values that are there at once are written as they come, so backpressure holds them too", async () => {
    // A flood already queued: 2000 lines of 64 KiB, none of which waits for a turn of the loop.
    // Unfixed, all 2000 were read into one string before a byte was written.
    expect(await pullsWhileUnread({ endlessBytes: 64 * 1024, eagerCount: 2000 })).toBeLessThan(1000);
  });

  it("a sequence that fails breaks the caller's stream (no clean end)", async () => {
    const probe: Probe = { aborted: false, closed: false };
    const call = rawCall(await serve(app(probe, { waitForRelease: true, fail: true })));
    await until(() => call.reads.join("").includes("started"));
    probe.release!();
    await until(() => call.closed());
    expect(call.reads.join("")).not.toContain(END);
  });

  it("outside the HTTP server, is the web Response as before", async () => {
    const probe: Probe = { aborted: false, closed: false };
    const res = await app(probe, { waitForRelease: true }).request("/exec", { method: "POST" });
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('{"type":"started"}\n');
    probe.release!();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('{"type":"exit","exitCode":0}\n');
    expect((await reader.read()).done).toBe(true);
  });
});
