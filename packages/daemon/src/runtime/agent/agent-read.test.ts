// AgentFiles.read against a stand-in agent connection playing a real agent's answers, and a hostile
// one's (code in the sandbox is root there and can replace the agent): the read must stream with
// backpressure, and every lie (more bytes than announced, fewer at a clean exit, no header, an
// endless file of unknown size) must fail the read with a coded error and stop it, never be
// passed on as a file nor buffered without bound.
import { finished } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { AgentFiles } from "./agent-files.js";
import { T } from "./agent-protocol.js";
import { MAX_UNSIZED_READ_BYTES } from "../file-errors.js";
import { standInWith } from "../testing/agent-stand-in.js";

type Play = (out: (data: Buffer) => void, exit: (code: number) => void) => void;

/** A read of /f whose process plays `play` once started; `kills` counts the SIGNALs the daemon sent it. */
function reading(play: Play, version = 3) {
  const seen = { kills: 0, op: "", paused: 0 };
  const conn = standInWith(
    (frame, procId, outputs, exits) => {
      if (frame[4] === T.signal) seen.kills++;
      if (frame[4] !== T.start) return;
      // The argv's strings, each after its 4-byte length: `file <op> /f <max>`.
      // eslint-disable-next-line no-control-regex -- the frame is binary: 0x02 is the path's length byte
      seen.op = /file\0\0\0[\s\S](stream|read)\0\0\0\x02\/f/.exec(frame.toString("latin1"))?.[1] ?? "";
      setImmediate(() =>
        play(
          (d) => outputs.get(procId)?.("stdout", d),
          (code) => exits.get(procId)?.(code),
        ),
      );
    },
    version,
    (p) => (seen.paused += p ? 1 : 0),
  );
  const files = new AgentFiles(
    () => Promise.resolve(conn),
    () => Promise.resolve(conn),
    () => "/nonexistent",
  );
  return { read: () => files.read("sb_t", "/f"), seen };
}

const head = (size: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(size);
  return b;
};
const UNKNOWN = 0xffffffffffffffffn;

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

describe("AgentFiles.read", () => {
  it("answers the announced size, then exactly the file's bytes, the header arriving a byte at a time", async () => {
    const data = Buffer.from("hello, streamed world");
    const { read, seen } = reading((out, exit) => {
      for (const b of head(BigInt(data.length))) out(Buffer.from([b]));
      out(data.subarray(0, 5));
      out(data.subarray(5));
      exit(0);
    });
    const content = await read();
    expect(seen.op).toBe("stream");
    expect(content.size).toBe(data.length);
    expect((await collect(content.stream)).equals(data)).toBe(true);
  });

  it("fails a read whose agent sends more than it announced, and stops it", async () => {
    const { read, seen } = reading((out) => {
      out(Buffer.concat([head(4n), Buffer.from("abcdef")]));
    });
    const content = await read();
    content.stream.resume();
    await expect(finished(content.stream)).rejects.toMatchObject({
      code: "agent_unreachable",
      message: expect.stringMatching(/more than the 4 bytes it announced/),
    });
    await new Promise((r) => setImmediate(r));
    expect(seen.kills).toBe(1);
  });

  it("fails a read that ends well with fewer bytes than announced: a short file is never passed on as whole", async () => {
    const { read } = reading((out, exit) => {
      out(Buffer.concat([head(10n), Buffer.from("abc")]));
      exit(0);
    });
    const content = await read();
    content.stream.resume();
    await expect(finished(content.stream)).rejects.toMatchObject({
      code: "agent_unreachable",
      message: expect.stringMatching(/after 3 of the 10 bytes/),
    });
  });

  it("refuses an agent that ends the read without its header", async () => {
    const { read } = reading((out, exit) => {
      out(Buffer.from([0, 0, 0]));
      exit(0);
    });
    await expect(read()).rejects.toMatchObject({ code: "agent_unreachable", message: /without its header/ });
  });

  it("answers the agent's error exits before the stream as coded errors (not found, unreadable, shrank)", async () => {
    for (const [code, want] of [
      [21, "file_not_found"],
      [28, "invalid_path"],
      [24, "invalid_path"],
    ] as const)
      await expect(reading((_out, exit) => exit(code)).read()).rejects.toMatchObject({ code: want });
    const shrank = await reading((out, exit) => {
      out(Buffer.concat([head(10n), Buffer.from("abc")]));
      exit(29);
    }).read();
    shrank.stream.resume();
    await expect(finished(shrank.stream)).rejects.toMatchObject({ code: "runtime_error", message: /shrank/ });
  });

  it("stops a file of unknown size at the cap however much the agent sends", async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const { read, seen } = reading((out) => {
      out(head(UNKNOWN));
      // More than the cap, as fast as the stand-in can: the cap must hold even past what it reads.
      for (let sent = 0; sent <= MAX_UNSIZED_READ_BYTES; sent += chunk.length) out(chunk);
    });
    const content = await read();
    expect(content.size).toBeUndefined();
    let got = 0;
    content.stream.on("data", (d: Buffer) => (got += d.length));
    await expect(finished(content.stream)).rejects.toMatchObject({ code: "payload_too_large" });
    expect(got).toBeLessThanOrEqual(MAX_UNSIZED_READ_BYTES);
    await new Promise((r) => setImmediate(r));
    expect(seen.kills).toBe(1);
  });

  it("pauses the agent's connection while the reader is behind", async () => {
    const chunk = Buffer.alloc(64 * 1024, 1);
    const { read, seen } = reading((out) => {
      out(head(BigInt(chunk.length * 64)));
      for (let i = 0; i < 8; i++) out(chunk);
    });
    const content = await read();
    // Nothing read yet: the stream holds a few chunks and has paused the connection.
    expect(seen.paused).toBe(1);
    expect(content.stream.readableLength).toBeLessThanOrEqual(8 * chunk.length);
    content.stream.destroy();
  });

  it("reads with `file read` (no size) from a version 2 agent, a sandbox started before an upgrade", async () => {
    const { read, seen } = reading((out, exit) => {
      out(Buffer.from("old agent"));
      exit(0);
    }, 2);
    const content = await read();
    expect(seen.op).toBe("read");
    expect(content.size).toBeUndefined();
    expect((await collect(content.stream)).toString()).toBe("old agent");
  });
});
