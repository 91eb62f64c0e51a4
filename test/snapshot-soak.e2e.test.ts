// A bounded soak: many cycles of write → snapshot → restore → suspend → resume, checking the
// checksum of every file after each restore and each resume. Zero differences allowed. The
// chains it grows are deep enough to be squashed several times on the way.
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { testDaemonRoot } from "./harness.js";

const client = sharedClient();
const create = useSandboxes(client);

const CYCLES = Number(process.env.SBX_SOAK_CYCLES ?? 200);
const CHECKSUMS = "cd /soak && find . -type f -print0 | sort -z | xargs -0 -r sha256sum";

describe("snapshot soak", () => {
  it(`survives ${CYCLES} cycles with every file intact`, { timeout: CYCLES * 10_000 }, async () => {
    const dev = await create({ name: `soak-${Date.now().toString(36)}` });
    await dev.run("mkdir", { args: ["-p", "/soak"] });
    const files = new Map<string, string>();
    for (let i = 0; i < CYCLES; i++) {
      // Add a file, sometimes rewrite or delete an older one.
      const name = `f${i}`;
      const content = randomBytes(64 + (i % 7) * 1000).toString("base64");
      files.set(name, content);
      await dev.writeFile(`/soak/${name}`, content);
      if (i % 5 === 4) {
        const victim = `f${i - 3}`;
        files.delete(victim);
        await dev.deleteFile(`/soak/${victim}`);
      }
      const expected = (await dev.run("sh", { args: ["-c", CHECKSUMS] })).stdout;
      expect(expected.trim().split("\n")).toHaveLength(files.size);

      const snap = await dev.snapshot();
      const copy = await create({ snapshotId: snap.id });
      expect((await copy.run("sh", { args: ["-c", CHECKSUMS] })).stdout, `restore of cycle ${i}`).toBe(expected);
      await copy.terminate();
      await client.deleteSnapshot(snap.id);

      await dev.suspend();
      await dev.resume();
      expect((await dev.run("sh", { args: ["-c", CHECKSUMS] })).stdout, `resume of cycle ${i}`).toBe(expected);
    }
    for (const [name, content] of files)
      if (name.endsWith("0")) expect((await dev.readFile(`/soak/${name}`)).toString()).toBe(content);
    // Superseded suspend snapshots are gone: their layers do not pile up cycle after cycle.
    const left = readdirSync(join(testDaemonRoot("shared"), "data", "layers")).filter((d) => d.startsWith("l"));
    expect(left.length).toBeLessThan(80);
  });
});
