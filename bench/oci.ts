// OCI benchmarks: export and import of debian-minimal, and export, push and pull of a ~200 MB
// image, each next to `skopeo copy` between the same formats in the same run. One run per row
// (these move hundreds of MB), but three alternated runs for the exports against tar | pigz -1
// (first exports, which compress, and repeat ones, which send the cached blob, reported apart;
// the daemon's first compression after its start, V8 not warm yet, is a row of its own)
// and for the import against umoci. Standalone: `node --import tsx bench/oci.ts` starts its own daemon.
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Image, SandboxClient } from "@sbx-sh/sdk";
import { REPO, TestDaemon } from "../test/harness.js";
import { TestRegistry } from "../test/registry.js";
import { printSection, timeIt, type Row, type Section } from "./stats.js";

/** First exports and repeat exports, each followed by its pigz baseline. */
const EXPORT_RUNS = 3;
/** Imports of debian-minimal, each followed by its umoci baseline. */
const IMPORT_RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Which compressor made an archive's first layer blob, from its gzip header (libdeflate: XFL 4, OS 255; zlib here: 0, 3). */
function compressorOf(archive: string): string {
  const head = Buffer.alloc(64 << 10);
  const fd = openSync(archive, "r");
  const n = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  const at = head.subarray(0, n).indexOf(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
  if (at < 0) return "unknown (no gzip header near the start)";
  const [xfl, os] = [head[at + 8], head[at + 9]];
  return xfl === 4 && os === 255
    ? "sbx-deflate (libdeflate)"
    : xfl === 0 && os === 3
      ? "zlib in the daemon"
      : `unknown (XFL ${xfl}, OS ${os})`;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
}

/** `dataDir` (the daemon's) adds a row with GNU tar | gzip -1 of the base rootfs: the floor of an export. */
export async function ociSection(
  client: SandboxClient,
  host: string,
  dataDir?: string,
  bigMb = Number(process.env.BENCH_OCI_MB ?? 200),
): Promise<Section> {
  const dir = await mkdtemp(join(tmpdir(), "sbx-bench-oci-"));
  const registry = new TestRegistry();
  await registry.start();
  // The CLI as users start it: bin/sbx.js as a program (sh, then node), not `node bin/sbx.js`.
  const sbx = (args: string[]) =>
    run(join(REPO, "packages", "cli", "bin", "sbx.js"), args, { ...process.env, SBX_HOST: host });
  const skopeo = (from: string, to: string) =>
    run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", from, to]);
  const rows: Row[] = [];
  const notes: string[] = [];
  // The first import goes to the default project (the pull below reuses its base layer).
  const importProjects = Array.from({ length: IMPORT_RUNS }, (_, i) =>
    i === 0 ? "default" : `bench-oci-${i}-${Date.now().toString(36)}`,
  );
  try {
    // debian-minimal: its export, then its import into a daemon that has none of its layers yet.
    // A sandbox first, so the base image is unpacked before anything is timed.
    await client.terminate((await client.create({ image: "debian-minimal", allowInternetAccess: false })).id);
    const base = join(dir, "base.tar");
    const rootfs = dataDir
      ? join(dataDir, "layers", (await client.getImage("debian-minimal")).id.replace("sha256:", ""), "rootfs")
      : undefined;
    const hasPigz = spawnSync("pigz", ["--version"]).status === 0;
    const pigzRun = () =>
      timeIt(async () =>
        run("sh", [
          "-c",
          `tar --sort=name --numeric-owner -C "$1" -cf - . | pigz -1 > "$2"`,
          "sh",
          rootfs!,
          join(dir, "floor.tar.gz"),
        ]),
      );
    const withPigz = Boolean(rootfs && hasPigz);
    // Two export paths, each alternated with its issue baseline (the same tar compressed by pigz -1
    // on every core) and compared as medians: one run each is at the mercy of whatever else the
    // machine does in those seconds. Repeat exports of debian-minimal send the blob an earlier
    // export left in the daemon's blob cache (this untimed one, or a past bench run's: data/ is
    // kept); first exports (below, after the imports) compress a layer no export has seen.
    sbx(["image", "export", "debian-minimal", "-o", base]);
    // The cache entry is written after the export is sent (synced, then renamed into place).
    await new Promise((r) => setTimeout(r, 1000));
    const repeats: number[] = [];
    const pigzRepeat: number[] = [];
    for (let i = 0; i < EXPORT_RUNS; i++) {
      repeats.push(await timeIt(async () => sbx(["image", "export", "debian-minimal", "-o", base])));
      if (withPigz) pigzRepeat.push(await pigzRun());
    }
    // The import and its issue baseline (umoci unpack of the same layout into a rootfs), alternated
    // IMPORT_RUNS times and compared as medians, like the export: at n = 1 the ratio followed the
    // page cache's luck. Each import goes to a project of its own: imported layers are per project,
    // so every run unpacks every layer (a second import into one project reuses them).
    const unpackBase = await timeIt(async () => skopeo(`oci-archive:${base}`, `oci:${join(dir, "base-layout")}:x`));
    const imports: number[] = [];
    const umociRuns: number[] = [];
    for (let i = 0; i < IMPORT_RUNS; i++) {
      if (i > 0) await client.createProject(importProjects[i]!);
      imports.push(
        await timeIt(async () =>
          sbx(["--project", importProjects[i]!, "image", "import", base, "-n", "bench-oci-base"]),
        ),
      );
      await rm(join(dir, "bundle"), { recursive: true, force: true });
      // skopeo only copies blobs; umoci unpacks them into a rootfs, which is the work an import does.
      umociRuns.push(
        await timeIt(async () =>
          run("umoci", ["unpack", "--image", `${join(dir, "base-layout")}:x`, join(dir, "bundle")]),
        ),
      );
    }
    const importBase = median(imports);
    const umoci = median(umociRuns);
    rows.push({
      what: "import debian-minimal from OCI tar",
      sbx: importBase,
      baseline: unpackBase,
      baselineName: "skopeo copy oci-archive → oci dir",
      n: IMPORT_RUNS,
    });
    rows.push({
      what: "import debian-minimal from OCI tar (medians)",
      sbx: importBase,
      baseline: umoci,
      baselineName: "umoci unpack (oci dir → rootfs)",
      n: IMPORT_RUNS,
      target: "≤ 1.2× (issue 12)",
      pass: importBase / umoci <= 1.2,
    });
    notes.push(
      `import runs ${imports.map((t) => t.toFixed(0)).join(", ")} ms; umoci unpack runs ${umociRuns.map((t) => t.toFixed(0)).join(", ")} ms (alternated)`,
    );
    // First exports: the images just imported into projects of their own have layers no export
    // has seen (new dirs), with debian-minimal's content: each export compresses the layer. One
    // more than the timed runs: the first is the daemon's first compression since it started, V8
    // has not optimised the rewrite and stream code yet (100-150 ms more). A daemon serves exports
    // for days, so that one is reported on its own row (unjudged) and the judged runs follow it.
    const coldProjects = importProjects.slice(1);
    while (coldProjects.length < EXPORT_RUNS + 1) {
      const p = `bench-oci-c${coldProjects.length}-${Date.now().toString(36)}`;
      await client.createProject(p);
      importProjects.push(p);
      coldProjects.push(p);
      sbx(["--project", p, "image", "import", base, "-n", "bench-oci-base"]);
    }
    const exportIn = (p: string) => sbx(["--project", p, "image", "export", "bench-oci-base", "-o", base]);
    // The layer imported last is the warm-up's: the timed runs then never start right after an import.
    const coldFirst = await timeIt(async () => exportIn(coldProjects[EXPORT_RUNS]!));
    const pigzCold = withPigz ? await pigzRun() : undefined;
    const firsts: number[] = [];
    const pigzFirst: number[] = [];
    for (const p of coldProjects.slice(0, EXPORT_RUNS)) {
      firsts.push(await timeIt(async () => exportIn(p)));
      if (withPigz) pigzFirst.push(await pigzRun());
    }
    const exportFirst = median(firsts);
    const copyBase = await timeIt(async () =>
      skopeo(`oci-archive:${base}`, `oci-archive:${join(dir, "base-copy.tar")}`),
    );
    rows.push({
      what: "first export of debian-minimal's layer → OCI tar",
      sbx: exportFirst,
      baseline: copyBase,
      baselineName: "skopeo copy oci-archive → oci-archive",
      n: EXPORT_RUNS,
    });
    if (rootfs) {
      const floor = await timeIt(async () =>
        run("sh", [
          "-c",
          `tar --sort=name --numeric-owner -C "$1" -cf - . | gzip -1 > "$2"`,
          "sh",
          rootfs,
          join(dir, "floor.tar.gz"),
        ]),
      );
      rows.push({
        what: "first export of debian-minimal's layer → OCI tar",
        sbx: exportFirst,
        baseline: floor,
        baselineName: "tar | gzip -1 of the rootfs",
        n: EXPORT_RUNS,
      });
    }
    if (withPigz) {
      rows.push({
        what: "first export of a layer (compresses it), medians",
        sbx: exportFirst,
        baseline: median(pigzFirst),
        baselineName: "tar | pigz -1 of the rootfs (alternated)",
        n: EXPORT_RUNS,
        target: "≤ 1.2× (issue 12)",
        pass: exportFirst / median(pigzFirst) <= 1.2,
      });
      rows.push({
        what: "first export after the daemon started (V8 cold; untimed warm-up above)",
        sbx: coldFirst,
        baseline: pigzCold,
        baselineName: "tar | pigz -1 of the rootfs (next run)",
        n: 1,
      });
      rows.push({
        what: "repeat export (blob from the cache), medians",
        sbx: median(repeats),
        baseline: median(pigzRepeat),
        baselineName: "tar | pigz -1 of the rootfs (alternated)",
        n: EXPORT_RUNS,
        target: "≤ 1.2× (issue 12)",
        pass: median(repeats) / median(pigzRepeat) <= 1.2,
      });
      notes.push(
        `first exports compressed by ${compressorOf(base)}`,
        `first export runs ${firsts.map((t) => t.toFixed(0)).join(", ")} ms; tar | pigz -1 runs ${pigzFirst.map((t) => t.toFixed(0)).join(", ")} ms (alternated), after one first export of a throwaway layer (the daemon's first since it started, ${coldFirst.toFixed(0)} ms: the V8 warm-up, its own row)`,
        `repeat export runs ${repeats.map((t) => t.toFixed(0)).join(", ")} ms; tar | pigz -1 runs ${pigzRepeat.map((t) => t.toFixed(0)).join(", ")} ms (alternated)`,
      );
    }

    // A big image: half random (incompressible), half zeros; built once, untimed.
    const half = Math.max(1, Math.round(bigMb / 2));
    await new Image({ name: "bench-oci-big", baseImage: "debian-minimal" })
      .run(`head -c ${half}M /dev/urandom > /random.bin && head -c ${half}M /dev/zero > /zeros.bin`)
      .build({ client, replace: true });
    const big = join(dir, "big.tar");
    const exportBig = await timeIt(async () => sbx(["image", "export", "bench-oci-big", "-o", big]));
    const copyBig = await timeIt(async () => skopeo(`oci-archive:${big}`, `oci-archive:${join(dir, "big-copy.tar")}`));
    rows.push({
      what: `export ${bigMb} MB image → OCI tar`,
      sbx: exportBig,
      baseline: copyBig,
      baselineName: "skopeo copy oci-archive → oci-archive",
      n: 1,
    });
    const pushBig = await timeIt(async () => sbx(["image", "push", "bench-oci-big", `${registry.host}/bench/sbx:1`]));
    const skopeoPush = await timeIt(async () =>
      skopeo(`oci-archive:${big}`, `docker://${registry.host}/bench/skopeo:1`),
    );
    rows.push({
      what: `push ${bigMb} MB image to a loopback registry`,
      sbx: pushBig,
      baseline: skopeoPush,
      baselineName: "skopeo copy oci-archive → docker://",
      n: 1,
    });
    // The pull's base layer is already here (imported above); the big layer is new to the daemon.
    const pullBig = await timeIt(async () =>
      sbx(["image", "pull", `${registry.host}/bench/skopeo:1`, "-n", "bench-oci-pulled"]),
    );
    const skopeoPull = await timeIt(async () =>
      skopeo(`docker://${registry.host}/bench/skopeo:1`, `oci:${join(dir, "pulled")}:x`),
    );
    rows.push({
      what: `pull ${bigMb} MB image (big layer new)`,
      sbx: pullBig,
      baseline: skopeoPull,
      baselineName: "skopeo copy docker:// → oci dir",
      n: 1,
    });
  } finally {
    for (const n of ["bench-oci-big", "bench-oci-pulled:1"]) await client.deleteImage(n).catch(() => undefined);
    for (const p of importProjects) {
      const c = new SandboxClient({ host, project: p });
      await c.deleteImage("bench-oci-base").catch(() => undefined);
      await c.close();
      if (p !== "default") await client.deleteProject(p).catch(() => undefined);
    }
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return {
    title: "OCI images (one run each)",
    rows,
    notes: [
      "skopeo copy moves blobs without unpacking or compressing; umoci unpack and tar | gzip -1 are the closer floors for import and export.",
      ...notes,
    ],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const daemon = new TestDaemon({ name: "bench-oci", netIndex: 6 });
  await daemon.reset();
  await daemon.start();
  const client = new SandboxClient({ host: daemon.host });
  try {
    printSection(await ociSection(client, daemon.host, join(daemon.root, "data")));
  } finally {
    await client.close();
    await daemon.stop();
  }
}
