// readPipeInto against real child processes (startCommand): every byte in order through one reused
// buffer, the reads waiting for a pending chunk, the child's exit still reported, errors surfaced.
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { startCommand } from "./command.js";
import { readPipeInto } from "./pipe-read.js";

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

describe("readPipeInto", () => {
  it("hands over a child's whole output in order, always in the one buffer, waiting while a chunk is pending", async () => {
    const data = randomBytes(3 << 20);
    const cmd = startCommand("cat", [], { stdout: true });
    cmd.stdin.end(data);
    const buffer = Buffer.alloc(64 << 10);
    const got = createHash("sha256");
    let chunks = 0;
    let pending = false;
    let overlapped = false;
    const r = readPipeInto(cmd.stdout!, buffer, (b) => {
      if (pending) overlapped = true;
      expect(b.buffer).toBe(buffer.buffer);
      got.update(b);
      if (++chunks % 7) return undefined;
      // While this wait runs, no read may overwrite the buffer.
      pending = true;
      const copy = Buffer.from(b);
      return new Promise((res) =>
        setTimeout(() => {
          expect(b.equals(copy)).toBe(true);
          pending = false;
          res();
        }, 2),
      );
    });
    await r.done;
    expect(got.digest("hex")).toBe(sha(data));
    expect(chunks).toBeGreaterThan(7);
    expect(overlapped).toBe(false);
    expect((await cmd.done).code).toBe(0);
  });

  it("rejects with onChunk's error and stops reading", async () => {
    const cmd = startCommand("cat", ["/dev/zero"], { stdout: true });
    cmd.stdin.end();
    let calls = 0;
    const r = readPipeInto(cmd.stdout!, Buffer.alloc(4096), () => {
      calls++;
      throw new Error("no more");
    });
    await expect(r.done).rejects.toThrow("no more");
    await new Promise((res) => setTimeout(res, 50));
    expect(calls).toBe(1);
    cmd.kill();
    expect((await cmd.done).code).not.toBe(0);
  });

  it("destroy() ends a read that is waiting, with an error", async () => {
    const cmd = startCommand("cat", ["/dev/zero"], { stdout: true });
    cmd.stdin.end();
    const r = readPipeInto(cmd.stdout!, Buffer.alloc(4096), () => new Promise(() => undefined));
    await new Promise((res) => setTimeout(res, 20));
    r.destroy();
    await expect(r.done).rejects.toThrow("abandoned");
    cmd.kill();
    await cmd.done;
  });

  it("reads a stream that is not a socket as a stream", async () => {
    const parts = [Buffer.from("ab"), Buffer.from("cd")];
    const seen: string[] = [];
    await readPipeInto(Readable.from(parts), Buffer.alloc(16), (b) => void seen.push(b.toString())).done;
    expect(seen.join("")).toBe("abcd");
  });
});
