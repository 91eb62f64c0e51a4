// AgentFiles' download against a stand-in agent connection that answers in the order a real one
// can: the archive's first bytes and the failed exit of its tar at once (a path that vanished while
// tar read it, which code in the sandbox can arrange at will). The failure must reach the caller
// as the stream's error, never as an uncaught error that ends the daemon.
import { finished } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import type { AgentClient } from "./agent-client.js";
import { AgentFiles } from "./agent-files.js";

type OutputCb = ((stream: "stdout" | "stderr", data: Buffer) => void) | undefined;

/** A connection whose started process writes `bytes` and exits with `code` in the same tick. */
function standIn(bytes: Buffer, code: number): AgentClient {
  const outputs = new Map<string, OutputCb>();
  const exits = new Map<string, (code: number) => void>();
  const fake = {
    failed: undefined,
    request: (build: (q: number) => Buffer[]) => {
      const frame = Buffer.concat(build(1));
      // The start request carries the process id as its first string (after the 9-byte head).
      const idLen = frame.readUInt32BE(9);
      const procId = frame.subarray(13, 13 + idLen).toString();
      if (procId.startsWith("file-"))
        setImmediate(() => {
          outputs.get(procId)?.("stdout", bytes);
          outputs.get(procId)?.("stderr", Buffer.from("tar: flip: No such file or directory"));
          exits.get(procId)?.(code);
        });
      return Promise.resolve({ type: 0x80, body: Buffer.alloc(0) });
    },
    onOutput: (procId: string, cb: OutputCb) => void outputs.set(procId, cb),
    onExit: (procId: string, cb: (code: number) => void) => {
      exits.set(procId, cb);
      return () => exits.delete(procId);
    },
    onFail: () => () => undefined,
    pause: () => undefined,
    resume: () => undefined,
    close: () => undefined,
  };
  return fake as unknown as AgentClient;
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
