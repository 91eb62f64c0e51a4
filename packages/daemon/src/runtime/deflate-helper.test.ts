// sbx-deflate as built by `npm run build` (libdeflate-dev is installed by scripts/setup-host.sh):
// its output gunzips to its input around block boundaries, it is one gzip member per block in
// input order, the bytes do not depend on the thread count, bad arguments and a reader that goes
// away are clean errors, and the daemon finds it (or says why it uses zlib).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { gunzipSync, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { findDeflateHelper } from "./deflate-helper.js";

const BIN = fileURLToPath(new URL("../../deflate/bin/sbx-deflate", import.meta.url));
const BLOCK = 64 << 10;

function deflate(input: Buffer, args: string[] = ["-b", "64"]): Buffer {
  const r = spawnSync(BIN, args, { input, maxBuffer: 1 << 28 });
  expect(r.status, r.stderr?.toString()).toBe(0);
  return r.stdout;
}

/** The decompressed size of each gzip member, walking them one by one (header, deflate, trailer). */
function members(gz: Buffer): number[] {
  const sizes: number[] = [];
  let at = 0;
  while (at < gz.length) {
    expect([...gz.subarray(at, at + 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    const { buffer, engine } = inflateRawSync(gz.subarray(at + 10), { info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    // The trailer's size field says the member's own length.
    expect(gz.readUInt32LE(at + 10 + engine.bytesWritten + 4)).toBe(buffer.length);
    sizes.push(buffer.length);
    at += 10 + engine.bytesWritten + 8;
  }
  return sizes;
}

/** Half random, half text: both deflate paths (stored and compressed blocks) are taken. */
function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  randomBytes(Math.floor(n / 2)).copy(b);
  for (let i = Math.floor(n / 2); i < n; i++) b[i] = 97 + ((i * 7) % 13);
  return b;
}

describe("sbx-deflate", () => {
  it("is built (npm run build, with libdeflate-dev)", () => {
    expect(spawnSync(BIN, ["--version"]).status).toBe(0);
  });

  it("gunzips to its input, one member per block in order, around block boundaries", () => {
    for (const n of [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17, 40 * BLOCK]) {
      const input = data(n);
      const gz = deflate(input);
      expect(gunzipSync(gz).equals(input), `size ${n}`).toBe(true);
      const want =
        n === 0 ? [0] : Array.from({ length: Math.ceil(n / BLOCK) }, (_, i) => Math.min(BLOCK, n - i * BLOCK));
      expect(members(gz), `size ${n}`).toEqual(want);
    }
  });

  it("writes the same bytes whatever the thread count (blob digests are stable)", () => {
    const input = data(20 * BLOCK + 5);
    const one = deflate(input, ["-b", "64", "-t", "1"]);
    expect(deflate(input, ["-b", "64", "-t", "3"]).equals(one)).toBe(true);
    expect(deflate(input, ["-b", "64", "-t", "8"]).equals(one)).toBe(true);
  });

  it("refuses bad arguments with exit 1 and a message", () => {
    for (const args of [["-t", "0"], ["-b", "1"], ["-l", "x"], ["-b", "64", "extra"], ["-z"]]) {
      const r = spawnSync(BIN, args, { input: "x" });
      expect(r.status, args.join(" ")).toBe(1);
      expect(r.stderr.toString()).toMatch(/sbx-deflate|usage/);
      expect(r.stdout.length).toBe(0);
    }
  });

  it("exits 3 with a message when its reader goes away", async () => {
    const child = spawn(BIN, ["-b", "64"], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.stdout.once("data", () => child.stdout.destroy());
    child.stdin.on("error", () => undefined);
    child.stdin.end(randomBytes(8 << 20));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(3);
    expect(stderr).toMatch(/cannot write the output/);
  });
});

describe("findDeflateHelper", () => {
  it("finds the built helper, with an id that names the library, framing, level and block size", async () => {
    const { helper } = await findDeflateHelper(BIN);
    expect(helper?.id).toMatch(/^sbx-deflate framing 1 libdeflate [0-9.]+ -l 1 -b 1024$/);
  });

  it("says why the daemon uses zlib: turned off, not built, or not answering", async () => {
    expect(await findDeflateHelper(null)).toEqual({ why: expect.stringMatching(/SBX_DEFLATE=off/) });
    expect(await findDeflateHelper("/nonexistent/sbx-deflate")).toEqual({ why: expect.stringMatching(/not built/) });
    expect(await findDeflateHelper("/bin/true")).toEqual({ why: expect.stringMatching(/did not answer/) });
    expect(await findDeflateHelper("/bin/false")).toEqual({ why: expect.stringMatching(/did not answer/) });
  });
});
