// ProgramGzip with the real sbx-deflate (its output gunzips to the input, the digest is the
// input's sha256, however the input is cut) and with programs that fail: one that dies mid-stream
// and one whose output the sink refuses are errors, never a short blob, and nothing hangs.
import { createHash, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { startCommand } from "../common/command.js";
import { DeflateHelper } from "../runtime/deflate-helper.js";
import { ProgramGzip, type GzipProgram } from "./program-gzip.js";

const BIN = fileURLToPath(new URL("../../deflate/bin/sbx-deflate", import.meta.url));
const helper = new DeflateHelper(BIN, "test");

/** A shell one-liner as the gzip program. */
const shell = (script: string): GzipProgram => ({
  id: "sh",
  start: () => startCommand("sh", ["-c", script], { stdout: true }),
});

/** Feeds `input` in pieces of `piece` bytes (awaiting what write() asks), then ends. */
async function run(gz: ProgramGzip, input: Buffer, piece: number): Promise<string> {
  for (let at = 0; at < input.length; at += piece) {
    const w = gz.write(input.subarray(at, at + piece));
    if (w) await w;
  }
  return gz.end();
}

describe("ProgramGzip", () => {
  it("gives the program's gzip to the sink in order and the input's sha256, whatever the pieces", async () => {
    for (const [n, piece] of [
      [0, 1],
      [1, 1],
      [(256 << 10) - 1, 4096],
      [256 << 10, 512],
      [(5 << 20) + 3, 65536],
      [3 << 20, 3 << 20],
    ] as const) {
      const input = randomBytes(n);
      const out: Buffer[] = [];
      const gz = new ProgramGzip(helper, (b) => void out.push(b));
      const digest = await run(gz, input, piece);
      expect(digest).toBe(createHash("sha256").update(input).digest("hex"));
      expect(gunzipSync(Buffer.concat(out)).equals(input), `size ${n}`).toBe(true);
    }
  });

  it("waits for a slow sink: the program's output pauses, nothing is lost", async () => {
    const input = randomBytes(4 << 20);
    const out: Buffer[] = [];
    const gz = new ProgramGzip(helper, (b) => {
      out.push(b);
      return new Promise((resolve) => setTimeout(resolve, 2));
    });
    await run(gz, input, 65536);
    expect(gunzipSync(Buffer.concat(out)).equals(input)).toBe(true);
  });

  it("fails with the program's message when it dies mid-stream (no hang on a full pipe)", async () => {
    const gz = new ProgramGzip(shell("head -c 100000 >/dev/null; echo boom >&2; exit 7"), () => undefined);
    await expect(run(gz, randomBytes(8 << 20), 65536)).rejects.toThrow(/layer compression failed \(exit 7\): boom/);
    await gz.close();
  });

  it("fails when the program is killed, even after all input was taken", async () => {
    const gz = new ProgramGzip(shell("cat >/dev/null; kill -9 $$"), () => undefined);
    await expect(run(gz, randomBytes(1 << 20), 65536)).rejects.toThrow(/layer compression failed \(exit 128\)/);
  });

  it("fails with the sink's error and stops the program when the sink refuses the output", async () => {
    const gz = new ProgramGzip(helper, () => Promise.reject(new Error("disk full")));
    await expect(run(gz, randomBytes(8 << 20), 65536)).rejects.toThrow(/disk full/);
  });

  it("stops the program on close() (a program left running would hold the test past its timeout)", async () => {
    const gz = new ProgramGzip(shell("exec sleep 600"), () => undefined);
    await gz.close();
    await expect(gz.end()).rejects.toThrow(/exit 128/);
  });
});
