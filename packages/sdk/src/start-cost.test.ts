// What loading the SDK costs a fresh process: every CLI command starts with it, and most never pack
// or check an archive, so node-tar (and the zlib under it, ~6 ms of CPU of a start) waits for the first
// that does.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));

function modulesAfter(code: string): string[] {
  const out = execFileSync(
    process.execPath,
    ["--conditions=sbx-source", "--import", "tsx", "--input-type=module", "-e", code],
    { cwd: root, encoding: "utf8" },
  );
  return JSON.parse(out.trim().split("\n").at(-1)!) as string[];
}

const index = new URL("./index.ts", import.meta.url).href;
const check = new URL("./archive-check.ts", import.meta.url).href;

describe("SDK start", () => {
  it("loads neither node-tar nor zlib until an archive is read", () => {
    const zlib = (mods: string[]) => mods.filter((m) => /\bzlib\b/.test(m));
    expect(
      zlib(modulesAfter(`await import(${JSON.stringify(index)}); console.log(JSON.stringify(process.moduleLoadList))`)),
    ).toEqual([]);
    // The same probe sees them once an archive is listed (so the empty answer above means something).
    const listed = modulesAfter(
      `const { listArchive } = await import(${JSON.stringify(check)});
       await listArchive("/dev/null", "tar").catch(() => undefined);
       console.log(JSON.stringify(process.moduleLoadList))`,
    );
    expect(zlib(listed).length).toBeGreaterThan(0);
  });
});
