// Terminals (processes on a pseudo-terminal) on the wire.

export interface CreateTerminalRequest {
  /** Default: bash if the image has it, else sh. */
  command?: string | undefined;
  args?: string[] | undefined;
  /** TERM defaults to xterm-256color. */
  env?: Record<string, string> | undefined;
  workingDir?: string | undefined;
  user?: string | undefined;
  cols: number;
  rows: number;
}

export interface TerminalInfo {
  id: string;
  sandboxId: string;
  command: string;
  args: string[];
  cols: number;
  rows: number;
  status: "running" | "exited";
  exitCode: number | null;
  /** WebSocket clients attached now. */
  attached: number;
  createdAt: string;
  endedAt: string | null;
}
