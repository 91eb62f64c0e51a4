// Percentiles, the benchmark row (ours next to a baseline measured in the same run, with its
// DESIGN.md target) and the plain-text table printed while the benchmark runs.

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function mean(samples: number[]): number {
  return samples.length === 0 ? NaN : samples.reduce((a, b) => a + b, 0) / samples.length;
}

export type Unit = "ms" | "MiB" | "count" | "per s";

export interface Row {
  what: string;
  sbx: number;
  /** The primary baseline: raw crun or the host, same rootfs, same run. */
  baseline?: number;
  baselineName?: string;
  /** Debian's podman doing the same thing on the same rootfs, where it applies. */
  podman?: number;
  /** Samples behind `sbx` (for a percentile: how many runs). */
  n: number;
  unit?: Unit;
  /** The DESIGN.md §6 target as text, and whether this run met it. */
  target?: string;
  pass?: boolean;
}

export interface Section {
  title: string;
  rows: Row[];
  notes?: string[];
}

/** `value ≤ limit`, the usual shape of a target; undefined when the figure is missing. */
export function atMost(value: number | undefined, limit: number): boolean | undefined {
  return value === undefined || Number.isNaN(value) ? undefined : value <= limit;
}

/** sbx ÷ `other` (the row's baseline unless given; a missing podman figure gives no ratio). */
export function ratio(r: Row, other: number | undefined = r.baseline): number | undefined {
  return other === undefined || !(other > 0) || Number.isNaN(r.sbx) ? undefined : r.sbx / other;
}

export function fmtValue(n: number | undefined, unit: Unit = "ms"): string {
  if (n === undefined || Number.isNaN(n)) return "—";
  if (unit === "count") return String(Math.round(n));
  if (unit === "MiB") return `${n.toFixed(2)} MiB`;
  if (unit === "per s") return `${n.toFixed(1)}/s`;
  return n >= 10_000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(1)} ms`;
}

export function fmtRatio(x: number | undefined): string {
  return x === undefined ? "—" : `${x.toFixed(2)}×`;
}

export function printSection(s: Section): void {
  console.log(`\n${s.title}`);
  const header = ["what", "sbx", "baseline", "ratio", "podman", "n", "target"];
  const lines = s.rows.map((r) => [
    r.what,
    fmtValue(r.sbx, r.unit),
    r.baseline === undefined ? "—" : `${fmtValue(r.baseline, r.unit)} (${r.baselineName ?? ""})`,
    fmtRatio(ratio(r)),
    fmtValue(r.podman, r.unit),
    String(r.n),
    r.target ? `${r.target} ${r.pass === undefined ? "" : r.pass ? "pass" : "MISS"}` : "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(line(l));
  for (const n of s.notes ?? []) console.log(`  note: ${n}`);
}

export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Times fn into `samples`; a failure goes to `failures` (shown in the report's notes) instead of
 * ending the section, so one flaky operation does not hide every other figure.
 */
export async function timeInto(
  samples: number[],
  failures: string[],
  what: string,
  fn: () => Promise<unknown>,
): Promise<void> {
  try {
    samples.push(await timeIt(fn));
  } catch (err) {
    const e = err as Error & { details?: { lastLines?: string[] } };
    const lines = e.message.split("\n").filter((l) => l.trim());
    failures.push(`${what} failed: ${[...lines.slice(-3), ...(e.details?.lastLines ?? [])].join(" / ")}`);
  }
}
