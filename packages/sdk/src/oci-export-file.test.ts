// exportImageToFile against hand-made answers (a stand-in transport: the real daemon's answers are
// covered end to end in test/oci-export-file.e2e.test.ts): a good patched stream lands as the
// plain bytes, a plain answer is written as is, and a broken, hostile or failed stream rejects
// with nothing left at the target or beside it (an old file a killed export left aside is put back).
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOLE_SIZE, PATCHED_TAR_MAGIC, PATCHED_TAR_MEDIA, PatchedTarEncoder, SbxError } from "@sbx-sh/protocol";
import { exportImageToFile } from "./oci-export-file.js";
import { asidePath } from "./replace-file.js";
import type { Body, Transport } from "./transport.js";

/** A transport whose one answer is `chunks` with `type` as its content type. */
function answering(chunks: Buffer[], type = PATCHED_TAR_MEDIA): Transport & { asked?: unknown } {
  const t = {
    asked: undefined as unknown,
    stream: async (_m: string, path: string, opts: unknown) => {
      t.asked = { path, opts };
      const body = Readable.from(chunks) as unknown as Body;
      (body as { headers: Record<string, string> }).headers = { "content-type": type };
      return body;
    },
  };
  return t as unknown as Transport & { asked?: unknown };
}

const header = Buffer.alloc(HOLE_SIZE, 0x68);
const u48 = (n: number) => {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
};

function good(): { chunks: Buffer[]; expected: Buffer } {
  const e = new PatchedTarEncoder();
  const blob = Buffer.alloc(3 << 20, 0x62); // several write batches
  const h = e.hole();
  const dup = () => {
    const h2 = e.hole();
    return [h2.record, ...e.data(Buffer.from("again")), e.cut(h2.offset)];
  };
  const chunks = [
    e.start(),
    h.record,
    ...e.data(blob),
    e.fill(h.offset, header),
    ...dup(),
    ...e.data(Buffer.from("end")),
  ];
  chunks.push(e.end());
  return { chunks, expected: Buffer.concat([header, blob, Buffer.from("end")]) };
}

describe("exportImageToFile", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sbx-export-file-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("applies a patched answer into the file, asking for the patched form", async () => {
    const { chunks, expected } = good();
    // Re-cut into odd chunks, as a socket would deliver them.
    const all = Buffer.concat(chunks);
    const odd = Array.from({ length: Math.ceil(all.length / 4099) }, (_, i) => all.subarray(i * 4099, (i + 1) * 4099));
    const t = answering(odd);
    let seen = 0;
    const size = await exportImageToFile(t, "img", join(dir, "a.tar"), { onBytes: (n) => (seen += n) });
    expect(size).toBe(expected.length);
    expect((await readFile(join(dir, "a.tar"))).equals(expected)).toBe(true);
    expect(seen).toBe(expected.length + "again".length); // what came, including the part cut back
    expect(t.asked).toMatchObject({ path: "/v1/images/img/oci", opts: { query: { form: "patched" } } });
  });

  it("writes a plain answer (a daemon without the patched form) as it comes", async () => {
    await exportImageToFile(answering([Buffer.from("plain tar")], "application/x-tar"), "img", join(dir, "p.tar"));
    expect(await readFile(join(dir, "p.tar"), "utf8")).toBe("plain tar");
  });

  it("refuses a target it cannot write before asking the daemon, and leaves nothing when the daemon refuses", async () => {
    const t = answering([]);
    await expect(exportImageToFile(t, "img", join(dir, "no-such-dir", "x.tar"))).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("cannot write"),
    });
    expect(t.asked).toBeUndefined();
    const refusing = {
      stream: async () => {
        throw new SbxError("image_not_found", "no image nope");
      },
    } as unknown as Transport;
    await expect(exportImageToFile(refusing, "nope", join(dir, "nope.tar"))).rejects.toThrow("no image nope");
    expect((await readdir(dir)).filter((f) => f.includes("nope"))).toEqual([]);
  });

  it("rejects broken, hostile and failed streams, leaving the old file and no temp file", async () => {
    const { chunks } = good();
    const all = Buffer.concat(chunks);
    const bad: Array<[string, Buffer[], RegExp]> = [
      ["truncated", [all.subarray(0, all.length - 3)], /cut off before its end/],
      ["patch outside a hole", [PATCHED_TAR_MAGIC, Buffer.from("P"), u48(4), header], /no hole is open/],
      [
        "error record",
        [new PatchedTarEncoder().start(), new PatchedTarEncoder().error({ code: "runtime_error", message: "gone" })],
        /^gone$/,
      ],
      ["not the form", [Buffer.from("<html>")], /does not start as one/],
    ];
    const target = join(dir, "kept.tar");
    await writeFile(target, "old");
    for (const [what, stream, message] of bad) {
      await expect(exportImageToFile(answering(stream), "img", target), what).rejects.toThrow(message);
      expect(await readFile(target, "utf8"), what).toBe("old");
      expect(
        (await readdir(dir)).filter((f) => f.includes("kept")),
        what,
      ).toEqual(["kept.tar"]);
    }
  });

  it("puts back an old file a killed export left aside, before it starts, and keeps it when the export fails", async () => {
    const target = join(dir, "aside.tar");
    await writeFile(asidePath(target), "old");
    const failing = answering([
      new PatchedTarEncoder().start(),
      new PatchedTarEncoder().error({ code: "runtime_error", message: "gone" }),
    ]);
    await expect(exportImageToFile(failing, "img", target)).rejects.toThrow(/^gone$/);
    expect(await readFile(target, "utf8")).toBe("old");
    expect((await readdir(dir)).filter((f) => f.includes("aside"))).toEqual(["aside.tar"]);
  });
});
