// The benchmark report: the machine it ran on, then every section as a Markdown table (ours,
// baseline, ratio, podman, n, DESIGN.md target, pass/miss), written with the raw figures as JSON
// to bench/results/latest.{md,json} and a dated copy of each.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, release } from "node:os";
import { join } from "node:path";
import { REPO } from "../test/harness.js";
import { fmtRatio, fmtValue, ratio, type Section } from "./stats.js";

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  os: string;
  kernel: string;
  cgroups: string;
  crun: string;
  podman: string;
  node: string;
  commit: string;
  date: string;
  mode: string;
  loadAtStart: string;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", cwd: REPO, stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

export function describeMachine(mode: string, podmanVersion: string): Machine {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const osRelease = readFileSync("/etc/os-release", "utf8");
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? "unknown";
  const dirty =
    sh("git", ["status", "--porcelain", "--untracked-files=no"]) !== "" ? " (with uncommitted changes)" : "";
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    cores: availableParallelism(),
    ramGiB: Number(/^MemTotal:\s*(\d+)/m.exec(meminfo)?.[1] ?? 0) / 1024 / 1024,
    os: `${pretty} (debian_version ${sh("cat", ["/etc/debian_version"])})`,
    kernel: release(),
    cgroups: existsSync("/sys/fs/cgroup/cgroup.controllers") ? "v2" : "v1 (hybrid)",
    crun: sh("crun", ["--version"]).split("\n")[0] ?? "",
    podman: podmanVersion,
    node: process.version,
    commit: `${sh("git", ["rev-parse", "--short", "HEAD"])} on ${sh("git", ["rev-parse", "--abbrev-ref", "HEAD"])}${dirty}`,
    date: new Date().toISOString(),
    mode,
    loadAtStart: loadavg()
      .map((l) => l.toFixed(2))
      .join(" "),
  };
}

export function renderMarkdown(m: Machine, sections: Section[], durationS: number): string {
  const out: string[] = ["# sbx benchmark report", ""];
  out.push("| | |", "|---|---|");
  out.push(`| date | ${m.date} |`, `| mode | ${m.mode} |`, `| git commit | ${m.commit} |`);
  out.push(`| CPU | ${m.cpu}, ${m.cores} cores |`, `| RAM | ${m.ramGiB.toFixed(1)} GiB |`, `| OS | ${m.os} |`);
  out.push(
    `| kernel | ${m.kernel}, cgroups ${m.cgroups} |`,
    `| crun | ${m.crun} |`,
    `| podman | ${m.podman} |`,
    `| node | ${m.node} |`,
  );
  out.push(`| load average at start | ${m.loadAtStart} |`, `| bench duration | ${durationS.toFixed(0)} s |`, "");
  out.push(
    "Every figure is measured next to its baseline in the same run, on the same rootfs (the " +
      "`debian-minimal` layer the daemon unpacked), interleaved where possible so both share the " +
      "machine's noise. *ratio* = sbx ÷ baseline; *÷ podman* = sbx ÷ podman. Targets are those of " +
      "DESIGN.md §6 (a few, marked in the text, are this project's own). Times are wall clock.",
    "",
  );
  const judged = sections.flatMap((s) => s.rows).filter((r) => r.pass !== undefined);
  out.push(`**${judged.filter((r) => r.pass).length} of ${judged.length} targets met in this run.**`, "");
  for (const s of sections) {
    out.push(`## ${s.title}`, "");
    out.push("| what | sbx | baseline | ratio | podman | ÷ podman | n | target | result |");
    out.push("|---|--:|---|--:|--:|--:|--:|---|---|");
    for (const r of s.rows) {
      const base = r.baseline === undefined ? "—" : `${fmtValue(r.baseline, r.unit)} (${r.baselineName ?? ""})`;
      const result = r.pass === undefined ? "—" : r.pass ? "pass" : "**miss**";
      out.push(
        `| ${r.what} | ${fmtValue(r.sbx, r.unit)} | ${base} | ${fmtRatio(ratio(r))} | ${fmtValue(r.podman, r.unit)} | ${r.podman === undefined ? "—" : fmtRatio(ratio(r, r.podman))} | ${r.n} | ${r.target ?? "—"} | ${result} |`,
      );
    }
    out.push("");
    for (const n of s.notes ?? []) out.push(`- ${n}`);
    if (s.notes?.length) out.push("");
  }
  return out.join("\n");
}

/** Writes latest.{md,json} and dated copies under bench/results; returns the Markdown path written. */
export function writeReport(m: Machine, sections: Section[], durationS: number): string {
  const dir = join(REPO, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const md = renderMarkdown(m, sections, durationS);
  const json = JSON.stringify(
    { machine: m, durationS, sections },
    (_k, v: unknown) => (typeof v === "number" && Number.isNaN(v) ? null : v),
    2,
  );
  const stamp = m.date.replace(/:\d\d\.\d+Z$/, "Z").replace(/:/g, "-");
  const name = m.mode === "default" ? stamp : `${stamp}-${m.mode.replace(/[^a-z0-9]+/gi, "-")}`;
  // A run of a few sections (BENCH_ONLY) leaves latest alone.
  const partial = m.mode.includes("only");
  for (const base of partial ? [name] : ["latest", name]) {
    writeFileSync(join(dir, `${base}.md`), md);
    writeFileSync(join(dir, `${base}.json`), json + "\n");
  }
  return join(dir, `${partial ? name : "latest"}.md`);
}
