// A long-lived child process running the real `tensorlake` SDK (Node 22) that times one operation
// per request, so the bench can interleave it sample by sample with sbx's own SDK: on a loaded
// machine, measuring one SDK's samples all first lets the load drift between the two sides.
// Requests and answers are JSON lines on stdin/stdout; times are taken inside the child.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { NODE22, SDK_DIR } from "../test/tensorlake/sdk.js";

/** create: Sandbox.create + first run; reused: the same through one SandboxClient; client: building one; run: a run in a warm sandbox. */
export type TlOp = "create" | "reused" | "client" | "run";

const SCRIPT = `import * as tl from "tensorlake";
import { createInterface } from "node:readline";
const opts = { apiUrl: process.env.TENSORLAKE_API_URL, apiKey: process.env.TENSORLAKE_API_KEY, allowInternetAccess: false };
const client = new tl.SandboxClient(opts, true);
let warm;
const ops = {
  async create() { const t0 = performance.now(); const sb = await tl.Sandbox.create(opts); await sb.run("true"); const ms = performance.now() - t0; await sb.terminate(); return ms; },
  async reused() { const t0 = performance.now(); const sb = await client.createAndConnect(opts); await sb.run("true"); const ms = performance.now() - t0; await sb.terminate(); return ms; },
  async client() { const t0 = performance.now(); new tl.SandboxClient(opts, true); return performance.now() - t0; },
  async run() { warm ??= await tl.Sandbox.create(opts); const t0 = performance.now(); await warm.run("true"); return performance.now() - t0; },
  async stop() { await warm?.terminate(); return 0; },
};
process.stdout.write("ready\\n");
for await (const line of createInterface({ input: process.stdin })) {
  try { process.stdout.write(JSON.stringify({ ms: await ops[line]() }) + "\\n"); }
  catch (e) { process.stdout.write(JSON.stringify({ error: String(e?.stack ?? e) }) + "\\n"); }
}
`;

export class TlDriver {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    private readonly dir: string,
  ) {}

  static async start(apiUrl: string, apiKey: string): Promise<TlDriver> {
    const dir = mkdtempSync(join(SDK_DIR, "drv-"));
    writeFileSync(join(dir, "driver.mjs"), SCRIPT);
    const child = spawn(NODE22, [join(dir, "driver.mjs")], {
      cwd: SDK_DIR,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TENSORLAKE_API_URL: apiUrl, TENSORLAKE_API_KEY: apiKey },
    });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.value !== "ready") throw new Error(`the tensorlake SDK driver did not start: ${stderr}`);
    return new TlDriver(child, lines, dir);
  }

  /** Runs one operation in the child; answers its time in ms. */
  async time(op: TlOp | "stop"): Promise<number> {
    this.child.stdin.write(`${op}\n`);
    const line = await this.lines.next();
    if (line.done) throw new Error("the tensorlake SDK driver exited");
    const answer = JSON.parse(line.value) as { ms?: number; error?: string };
    if (answer.error !== undefined) throw new Error(`tensorlake SDK ${op}: ${answer.error}`);
    return answer.ms!;
  }

  async stop(): Promise<void> {
    await this.time("stop").catch(() => undefined);
    this.child.stdin.end();
    await new Promise((r) => (this.child.exitCode !== null ? r(undefined) : this.child.once("exit", r)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
