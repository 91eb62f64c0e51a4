// Terminals as the API describes them.
import type { TerminalInfo } from "@sbx-sh/protocol";
import type { TerminalRecord } from "../../domain/records.js";

export function toTerminal(t: TerminalRecord): TerminalInfo {
  return {
    id: t.id,
    sandboxId: t.sandboxId,
    command: t.command,
    args: t.args,
    cols: t.cols,
    rows: t.rows,
    status: t.status,
    exitCode: t.exitCode,
    attached: t.attached,
    createdAt: t.createdAt,
    endedAt: t.endedAt,
  };
}
