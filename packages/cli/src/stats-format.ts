// How `sbx stats` and `sbx top` print resource use: human byte sizes, a table, and a terminal
// screen redrawn in place. Names come from users and sandboxes: control characters are replaced.
import type { SandboxUsage } from "@sbx-sh/protocol";
import { formatTable } from "./output.js";

/** 1536 → "1.5K"; powers of 1024, one decimal under 10. */
export function formatBytes(n: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

export function clean(text: string): string {
  return [...text].map((ch) => (ch < " " || ch === "\u007f" ? "?" : ch)).join("");
}

function withLimit(used: number, limit: number | null): string {
  return limit === null ? formatBytes(used) : `${formatBytes(used)} / ${formatBytes(limit)}`;
}

export const STATS_HEADER = ["SANDBOX", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS", "DISK", "NET RX / TX"];

export function statsRow(u: SandboxUsage): string[] {
  return [
    u.sandboxId,
    clean(u.name ?? "-"),
    u.cpuPercent.toFixed(1),
    withLimit(u.memoryBytes, u.memoryLimitBytes),
    String(u.pids),
    withLimit(u.diskBytes, u.diskLimitBytes),
    `${formatBytes(u.netRxBytes)} / ${formatBytes(u.netTxBytes)}`,
  ];
}

export function statsTable(list: SandboxUsage[]): string {
  return formatTable(STATS_HEADER, list.map(statsRow));
}

/** Redraws the whole screen (cursor home, clear) with `text`: a live view without a TUI library. */
export function redraw(text: string): void {
  process.stdout.write(`\u001b[H\u001b[2J${text}\n`);
}
