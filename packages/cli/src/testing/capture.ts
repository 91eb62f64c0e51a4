// Runs the CLI in the test's own process against a host (usually the test daemon) and captures
// what it prints, for unit tests of commands.
import { vi } from "vitest";
import { main } from "../main.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCliCaptured(host: string, args: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const text = (chunk: unknown) => (typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString());
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => ((stdout += text(chunk)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: unknown) => ((stderr += text(chunk)), true));
  try {
    const code = await main(["--host", host, ...args]);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}
