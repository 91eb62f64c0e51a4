// Transfer progress in each mode, on a fake clock: what a terminal, a log and a script see.
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { TransferProgress, transferMode } from "./transfer-progress.js";

function setup(mode: "tty" | "plain" | "json" | "quiet", total?: number) {
  const out: string[] = [];
  let t = 0;
  const p = new TransferProgress("cp", "a -> b", { mode, total, write: (s) => void out.push(s), now: () => t });
  return { p, out, tick: (ms: number) => void (t += ms) };
}

describe("TransferProgress", () => {
  it("passes the bytes through unchanged and counts them", async () => {
    const { p, out } = setup("json");
    const data = Buffer.alloc(300_000, 7);
    expect((await buffer(p.meter(Readable.from([data.subarray(0, 100), data.subarray(100)])))).equals(data)).toBe(true);
    p.done();
    expect(JSON.parse(out.at(-1)!)).toEqual({
      event: "progress",
      op: "cp",
      label: "a -> b",
      bytes: 300_000,
      total: null,
      done: true,
    });
  });

  it("passes a source's error on", async () => {
    const { p } = setup("plain");
    const bad = new Readable({
      read() {
        this.destroy(new Error("boom"));
      },
    });
    await expect(buffer(p.meter(bad))).rejects.toThrow("boom");
  });

  it("prints plain lines every few seconds and a final line with the byte count", () => {
    const { p, out, tick } = setup("plain", 2048);
    p.add(1024);
    expect(out).toEqual([]);
    tick(6000);
    p.add(1024);
    p.done();
    expect(out[0]).toBe("cp a -> b: 2.0 KB of 2.0 KB\n");
    expect(out[1]).toMatch(/^cp a -> b: 2\.0 KB \(2048 bytes\) in 6\.0s\n$/);
  });

  it("shows a tar's files by their own bytes, the tar's labelled (cp), or the tar alone as tar", () => {
    const out: string[] = [];
    const p = new TransferProgress("cp", "a -> b", { mode: "plain", tar: "files", write: (s) => void out.push(s) });
    p.file(6);
    p.add(2048);
    p.done();
    expect(out.at(-1)).toMatch(/^cp a -> b: 1 file, 6 B \(6 bytes; 2\.0 KB of tar\) in [\d.]+s\n$/);
    const json: string[] = [];
    const j = new TransferProgress("cp", "a -> b", { mode: "json", tar: "files", write: (s) => void json.push(s) });
    j.file(6);
    j.file(4);
    j.add(3072);
    j.done();
    expect(JSON.parse(json.at(-1)!)).toMatchObject({ bytes: 3072, files: 2, fileBytes: 10, done: true });
    const stream: string[] = [];
    const t = new TransferProgress("cp", "- -> b", { mode: "plain", tar: "stream", write: (s) => void stream.push(s) });
    t.file(6); // no files counted: the tar is the data
    t.add(2048);
    t.done();
    expect(stream.at(-1)).toMatch(/^cp - -> b: 2\.0 KB of tar \(2048 bytes\) in [\d.]+s\n$/);
  });

  it("redraws one line with a bar on a terminal", () => {
    const { p, out, tick } = setup("tty", 4096);
    tick(200);
    p.add(1024);
    p.done();
    expect(out[0]).toContain("[######                  ] 25%");
    expect(out[0]!.startsWith("\r\x1b[2K")).toBe(true);
    expect(out.at(-1)!.endsWith("\n")).toBe(true);
  });

  it("prints nothing when quiet, and picks the mode from the flags and the terminal", () => {
    const { p, out } = setup("quiet");
    p.add(5);
    p.done();
    expect(out).toEqual([]);
    expect(transferMode({ json: true }, true)).toBe("json");
    expect(transferMode({ quiet: true }, true)).toBe("quiet");
    expect(transferMode({}, true)).toBe("tty");
    expect(transferMode({}, false)).toBe("plain");
  });
});
