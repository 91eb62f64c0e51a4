// What the runtime conformance suites share (runtime.conformance.ts and the suites it runs): the
// running sandbox and its runtime, a root process spec, and small readers of what processes and
// files give back.
import { Readable } from "node:stream";
import type { SandboxRuntime } from "../runtime.js";
import type { ProcessHandle } from "../types.js";

/** The suite's runtime and its one long-lived sandbox, set once the suite's beforeAll has run. */
export interface RuntimeContext {
  rt: SandboxRuntime;
  main: string;
  /** Starts `argv` as root in `id` (default: main). */
  start(argv: string[], stdin?: boolean, id?: string): Promise<ProcessHandle>;
}

export const ROOT = {
  env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"],
  cwd: "/",
  user: "0:0",
};
let seq = 0;
export const procId = (): string => `pr-conf${++seq}${Math.random().toString(36).slice(2, 8)}`;
/** A first page big enough for every directory these tests list. */
export const PAGE = { limit: 1000 };

export async function readAll(h: ProcessHandle, stream: "stdout" | "stderr"): Promise<string> {
  const chunks: Buffer[] = [];
  for (let off = 0; ;) {
    const b = await h.read(stream, off);
    if (b.length === 0) return Buffer.concat(chunks).toString("utf8");
    chunks.push(b);
    off += b.length;
  }
}

export async function until<T>(fn: () => Promise<T>, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A stream that yields `first` and then fails with `err`, as an upload cut off at its size cap. */
export function failingStream(first: Buffer | string, err: Error): Readable {
  return Readable.from(
    (async function* () {
      yield Buffer.from(first);
      throw err;
    })(),
  );
}

/** Everything a stream gives, at once. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
