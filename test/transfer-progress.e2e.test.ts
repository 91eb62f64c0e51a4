// Progress of transfers through the CLI, as logs and scripts see it (stderr is not a terminal):
// `sbx cp` both ways (files by their own bytes, the tar's labelled) and `sbx image export/import`
// print a final plain line with the byte count, or NDJSON progress events with --json, on stderr;
// stdout and the copied bytes stay as they were.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const sandbox = useSandboxes(sharedClient());
const work = mkdtempSync(join(tmpdir(), "sbx-progress-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    encoding: "utf8",
    timeout: 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface ProgressEvent {
  event: string;
  op: string;
  bytes: number;
  total: number | null;
  done: boolean;
}
const events = (stderr: string): ProgressEvent[] =>
  stderr
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ProgressEvent);

describe("transfer progress", () => {
  it("sbx cp counts the bytes both ways: a plain line, or JSON events with --json", async () => {
    const sb = await sandbox();
    const data = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(work, "big.bin"), data);
    const up = sbx(["cp", join(work, "big.bin"), `${sb.id}:/tmp/`]);
    expect(up.code).toBe(0);
    // The file's own bytes, exactly, and the tar's (what went over the wire), labelled.
    expect(up.stderr.trim().split("\n").at(-1)).toMatch(
      new RegExp(
        `^cp .*big\\.bin -> ${sb.id}:/tmp/: 1 file, 3\\.0 MB \\(${data.length} bytes; 3\\.0 MB of tar\\) in [\\d.]+s$`,
      ),
    );

    const down = sbx(["cp", "--json", `${sb.id}:/tmp/big.bin`, join(work, "back.bin")]);
    expect(down.code).toBe(0);
    expect(down.stdout).toBe("");
    const evs = events(down.stderr);
    expect(evs.every((e) => e.event === "progress" && e.op === "cp")).toBe(true);
    expect(evs.at(-1)).toMatchObject({ done: true });
    expect(evs.at(-1)!.bytes).toBeGreaterThan(data.length);
    expect(evs.at(-1)).toMatchObject({ files: 1, fileBytes: data.length });
    expect(readFileSync(join(work, "back.bin")).equals(data)).toBe(true);
  });

  it("sbx cp of a small file says its size, not its tar's; a tar on stdout is counted as tar", async () => {
    const sb = await sandbox();
    mkdirSync(join(work, "tree"));
    writeFileSync(join(work, "tree", "six"), "sixsix");
    writeFileSync(join(work, "tree", "two"), "hi");
    const up = sbx(["cp", join(work, "tree"), `${sb.id}:/tmp/`]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr.trim().split("\n").at(-1)).toMatch(/: 2 files, 8 B \(8 bytes; [\d.]+ KB of tar\) in [\d.]+s$/);
    const down = sbx(["cp", `${sb.id}:/tmp/tree/six`, join(work, "six-back")]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr.trim().split("\n").at(-1)).toMatch(/: 1 file, 6 B \(6 bytes; [\d.]+ KB of tar\) in [\d.]+s$/);
    expect(readFileSync(join(work, "six-back"), "utf8")).toBe("sixsix");
    const raw = sbx(["cp", `${sb.id}:/tmp/tree/six`, "-"]);
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stderr.trim().split("\n").at(-1)).toMatch(
      new RegExp(`: [\\d.]+ KB of tar \\(${Buffer.byteLength(raw.stdout)} bytes\\) in [\\d.]+s$`),
    );
  });

  it("image export and import count the layout's bytes; import knows the total", () => {
    const tar = join(work, "base.oci.tar");
    const exp = sbx(["image", "export", "debian-minimal", "-o", tar]);
    expect(exp.code).toBe(0);
    const size = statSync(tar).size;
    expect(exp.stderr.trim().split("\n").at(-1)).toContain(`(${size} bytes)`);

    const imp = sbx(["image", "import", tar, "-n", "progress-import", "--replace", "--json"]);
    expect(imp.code).toBe(0);
    expect((JSON.parse(imp.stdout) as { name: string }).name).toBe("progress-import");
    const last = events(imp.stderr).at(-1)!;
    expect(last).toMatchObject({ op: "import", bytes: size, total: size, done: true });
    expect(sbx(["image", "rm", "progress-import"]).code).toBe(0);
  });
});
