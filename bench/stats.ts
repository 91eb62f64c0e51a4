// Percentiles and the side-by-side table the benchmarks print.

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface Row {
  what: string;
  sbx: number;
  baseline: number;
  baselineName: string;
  target?: string;
}

export function printTable(title: string, rows: Row[]): void {
  const fmt = (n: number): string => `${n.toFixed(1)} ms`;
  console.log(`\n${title}`);
  const header = ["what", "sbx", "baseline", "ratio", "target"];
  const lines = rows.map((r) => [r.what, fmt(r.sbx), `${fmt(r.baseline)} (${r.baselineName})`, `${(r.sbx / r.baseline).toFixed(2)}x`, r.target ?? ""]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(line(l));
}

export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
