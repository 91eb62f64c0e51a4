// AgentFiles' download against a stand-in agent connection that answers in the order a real one
// can: the archive's first bytes and the failed exit of its tar at once (a path that vanished while
// tar read it, which code in the sandbox can arrange at will). The failure must reach the caller
// as the stream's error, never as an uncaught error that ends the daemon.
import { finished } from "node:stream/promises";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { AgentClient } from "./agent-client.js";
import { standInWith } from "../testing/agent-stand-in.js";
import { AgentFiles } from "./agent-files.js";
import { MAX_FRAME, T } from "./agent-protocol.js";

/** A connection whose started process writes `bytes` and exits with `code` in the same tick. */
function standIn(bytes: Buffer, code: number): AgentClient {
  return standInWith((_frame, procId, outputs, exits) => {
    if (procId.startsWith("file-"))
      setImmediate(() => {
        outputs.get(procId)?.("stdout", bytes);
        outputs.get(procId)?.("stderr", Buffer.from("tar: flip: No such file or directory"));
        exits.get(procId)?.(code);
      });
  });
}

describe("AgentFiles.createArchive", () => {
  it("reports a tar that fails after its first bytes as the stream's error, not an uncaught one", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.prependListener("uncaughtException", onUncaught);
    try {
      const conn = standIn(Buffer.alloc(512, 1), 1);
      const files = new AgentFiles(
        () => Promise.resolve(conn),
        () => Promise.resolve(conn),
        () => "/nonexistent",
      );
      const stream = await files.createArchive("sb_t", "/tmp/flip");
      // The caller attaches a little later, as a route does after a few awaits.
      await new Promise((r) => setTimeout(r, 20));
      // As Readable.toWeb (the route) learns of it: finished() reports an error that came before.
      stream.resume();
      await expect(finished(stream)).rejects.toThrow(/No such file or directory/);
      expect(uncaught).toEqual([]);
    } finally {
      process.removeListener("uncaughtException", onUncaught);
    }
  });
});

/** A connection that records each stdin request's data and ends the process with 0 at its EOF. */
function recorder(): { conn: AgentClient; stdin: Buffer[] } {
  const stdin: Buffer[] = [];
  const conn = standInWith((frame, procId, _outputs, exits) => {
    expect(frame.length).toBeLessThanOrEqual(MAX_FRAME);
    const at = 13 + Buffer.byteLength(procId);
    if (frame[4] === T.stdin) stdin.push(frame.subarray(at + 4, at + 4 + frame.readUInt32BE(at)));
    if (frame[4] === T.eof) setImmediate(() => exits.get(procId)?.(0));
  });
  return { conn, stdin };
}

describe("AgentFiles.write", () => {
  it("sends the upload in requests as large as a frame allows, whole and in order", async () => {
    // Each stdin request is a round trip to the agent: 64 KiB pieces made a 10 MiB write 160 of them.
    const data = Buffer.alloc(3 * 1024 * 1024 + 12345);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 16)) & 0xff;
    const pieces = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) =>
      data.subarray(i * 65536, (i + 1) * 65536),
    );
    const { conn, stdin } = recorder();
    const files = new AgentFiles(
      () => Promise.resolve(conn),
      () => Promise.resolve(conn),
      () => "/nonexistent",
    );
    await files.write("sb_t", "/tmp/big", Readable.from(pieces));
    expect(Buffer.concat(stdin).equals(data)).toBe(true);
    expect(stdin.length).toBe(4);
    expect(stdin.slice(0, 3).every((b) => b.length > MAX_FRAME - 8192)).toBe(true);
  });
});
