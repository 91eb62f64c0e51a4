// The SQLite workload (bench/sqlite-bench.py, after Tensorlake's sandbox-sqlite-bench) run the
// same way inside a sandbox and on the host, phase by phase. Inside, it runs Debian's python3 from
// an image built with the SDK (cached across runs); on the host, Debian's /usr/bin/python3, so
// both sides use the same Python and SQLite. The sandbox's database lives in its writable layer
// (overlayfs on a tmpfs), so the primary baseline keeps the host's database on a tmpfs too; the
// host's disk is shown for reference.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Image, Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { REPO } from "../test/harness.js";
import { atMost, percentile, timeIt, type Row, type Section } from "./stats.js";

const SCRIPT = join(REPO, "bench", "sqlite-bench.py");
const PY = "/usr/bin/python3";
const VERSIONS = "import sqlite3, sys; print(sys.version.split()[0], sqlite3.sqlite_version)";

type Phases = Record<string, number>;

export async function sqliteSection(client: SandboxClient, rows: number, iterations: number): Promise<Section> {
  const title = "SQLite inside a sandbox vs on the host";
  let cachedSteps = 0;
  const image = new Image({ name: "bench-sqlite", baseImage: "debian-minimal" }).run(
    "apt-get update && apt-get install -y --no-install-recommends python3 && apt-get clean && rm -rf /var/lib/apt/lists/*",
  );
  const buildMs = await timeIt(() =>
    image.build({ client, replace: true, onEvent: (e) => void (e.type === "step" && e.cached && cachedSteps++) }),
  );
  if (!hostPythonOk())
    return {
      title,
      rows: [],
      notes: [`skipped: ${PY} with its sqlite3 module is missing on the host (apt-get install -y python3)`],
    };

  const tmpfsDir = join("/dev/shm", `sbb-sqlite-${process.pid}`);
  const diskDir = join("/var/tmp", `sbb-sqlite-${process.pid}`);
  const sb = await Sandbox.create(
    {
      image: "bench-sqlite",
      cpus: availableParallelism(),
      memoryMb: 4096,
      allowInternetAccess: false,
      timeoutSecs: 3600,
    },
    client,
  );
  try {
    await sb.writeFile("/root/sqlite-bench.py", readFileSync(SCRIPT));
    const inside = (await sb.run("python3", { args: ["-c", VERSIONS] })).stdout.trim();
    const outside = execFileSync(PY, ["-c", VERSIONS], { encoding: "utf8" }).trim();
    const sbx: Phases[] = [];
    const tmpfs: Phases[] = [];
    const disk: Phases[] = [];
    // Interleaved, so each side sees the same background load.
    for (let i = 0; i < iterations; i++) {
      const r = await sb.run("sh", {
        args: ["-c", `rm -f /tmp/bench.db*; python3 /root/sqlite-bench.py /tmp/bench.db ${rows}`],
      });
      if (r.exitCode !== 0) throw new Error(`sqlite bench in the sandbox failed: ${r.stderr}`);
      sbx.push(JSON.parse(r.stdout) as Phases);
      tmpfs.push(onHost(tmpfsDir, rows));
      disk.push(onHost(diskDir, rows));
    }
    const med = (runs: Phases[], phase: string): number =>
      percentile(
        runs.map((p) => p[phase]! * 1000),
        50,
      );
    const out: Row[] = Object.keys(sbx[0]!).map((phase) => {
      const total = phase === "total";
      const ours = med(sbx, phase);
      const base = med(tmpfs, phase);
      return {
        what: total ? "**total**, median of runs" : phase,
        sbx: ours,
        baseline: base,
        baselineName: "host, db on tmpfs",
        n: iterations,
        ...(total ? { target: "ratio ≤ 1.05", pass: atMost(ours / base, 1.05) } : {}),
      };
    });
    out.push({
      what: "total, next to the host's disk",
      sbx: med(sbx, "total"),
      baseline: med(disk, "total"),
      baselineName: "host, db on /var/tmp (disk)",
      n: iterations,
    });
    return {
      title,
      rows: out,
      notes: [
        `${rows} rows, ${iterations} runs per side, median per phase. Sandbox: image bench-sqlite (debian-minimal + apt python3; built in ${(buildMs / 1000).toFixed(1)} s, ${cachedSteps}/1 steps cached), cpus ${availableParallelism()}, 4096 MB. Python/SQLite inside: ${inside}; on the host: ${outside}.`,
        "Tensorlake publishes 2.45 s for their default mode (60k rows) on their VMs (E2B 3.92 s, Modal 4.66 s, Daytona 5.51 s); our script follows the same 11 operations but is not byte-identical, so compare ratios, not seconds.",
      ],
    };
  } finally {
    await sb.terminate();
    rmSync(tmpfsDir, { recursive: true, force: true });
    rmSync(diskDir, { recursive: true, force: true });
  }
}

/** Debian's python3 on the host, installed from apt if missing. */
function hostPythonOk(): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      execFileSync(PY, ["-c", VERSIONS], { stdio: "ignore" });
      return true;
    } catch {
      if (attempt === 0)
        spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "python3"], {
          stdio: "ignore",
          env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
        });
    }
  }
  return false;
}

function onHost(dir: string, rows: number): Phases {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return JSON.parse(
    execFileSync(PY, [SCRIPT, join(dir, "bench.db"), String(rows)], { encoding: "utf8", cwd: tmpdir() }),
  ) as Phases;
}
