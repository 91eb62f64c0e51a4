// Helpers for tests that build network namespaces on this machine: run a program and collect its
// output, fail loudly, run a program inside a namespace.
import { spawn } from "node:child_process";

export interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: string[]): Promise<Out> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    c.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

export const inNs = (pid: number, args: string[]): Promise<string> =>
  must("nsenter", ["-t", String(pid), "-n", "--", ...args]);
