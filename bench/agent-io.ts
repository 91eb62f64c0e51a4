// The agent's data paths (BENCH_ONLY=agent), next to raw `crun exec` in the same run: a 1 MiB
// stdout stream, a 10 MiB file written and read back, a terminal keystroke round trip, and a cold
// (named, so no warm blank) create → first `true` against a raw `crun run` lifecycle.
import { spawn } from "node:child_process";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import type { RawCrun } from "./raw-crun.js";
import { atMost, percentile, timeIt, type Row } from "./stats.js";

const MIB = 1024 * 1024;

/** `crun exec` into the keeper with `input` on stdin; resolves once its stdout is drained and it exited. */
function crunExec(raw: RawCrun, keeper: string, argv: string[], input?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn("crun", ["--root", raw.crunRoot, "exec", keeper, ...argv], {
      stdio: [input ? "pipe" : "ignore", "pipe", "ignore"],
    });
    let bytes = 0;
    c.stdout?.on("data", (d: Buffer) => (bytes += d.length));
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve(bytes) : reject(new Error(`crun exec ${argv[0]}: exit ${code}`))));
    c.stdin?.end(input);
  });
}

export async function agentIoRows(client: SandboxClient, raw: RawCrun, n: number, label = "agent"): Promise<Row[]> {
  const keeper = await raw.startKeeper();
  const sb = await Sandbox.create({ allowInternetAccess: false }, client);
  const ten = Buffer.alloc(10 * MIB, 7);
  const s = {
    stream: [] as number[],
    rawStream: [] as number[],
    write: [] as number[],
    rawWrite: [] as number[],
    read: [] as number[],
    rawRead: [] as number[],
    key: [] as number[],
    cold: [] as number[],
    rawLife: [] as number[],
  };
  const term = await sb.createTerminal({ command: "cat", cols: 80, rows: 24 });
  let seen = "";
  let waiter: (() => void) | undefined;
  term.onData((d) => {
    seen += d.toString("latin1");
    waiter?.();
  });
  try {
    for (let i = 0; i < n; i++) {
      s.stream.push(await timeIt(() => sb.run("head", { args: ["-c", String(MIB), "/dev/zero"] })));
      s.rawStream.push(await timeIt(() => crunExec(raw, keeper, ["head", "-c", String(MIB), "/dev/zero"])));
      s.write.push(await timeIt(() => sb.writeFile("/tmp/bench-10m", ten)));
      s.rawWrite.push(await timeIt(() => crunExec(raw, keeper, ["sh", "-c", "cat > /tmp/bench-10m"], ten)));
      s.read.push(await timeIt(() => sb.readFile("/tmp/bench-10m")));
      s.rawRead.push(await timeIt(() => crunExec(raw, keeper, ["cat", "/tmp/bench-10m"])));
      // One key, back once the pty has echoed it (through daemon, agent and pty both ways).
      const mark = String.fromCharCode(97 + (i % 26));
      seen = "";
      s.key.push(
        await timeIt(async () => {
          const got = new Promise<void>((r) => (waiter = () => seen.includes(mark) && r()));
          term.write(mark);
          await got;
        }),
      );
      s.cold.push(
        await timeIt(async () => {
          const cold = await Sandbox.create(
            { allowInternetAccess: false, name: `bench-cold-${process.pid}-${i}` },
            client,
          );
          await cold.run("true");
          void cold.terminate().catch(() => undefined);
        }),
      );
      s.rawLife.push(await timeIt(() => raw.lifecycle(["/bin/true"])));
    }
  } finally {
    await term.kill().catch(() => undefined);
    raw.stopKeeper(keeper);
    await sb.terminate();
  }
  const row = (what: string, xs: number[], base: number[] | undefined, baseName: string, target?: number): Row => ({
    what: `${label}: ${what}, p50`,
    sbx: percentile(xs, 50),
    ...(base ? { baseline: percentile(base, 50), baselineName: baseName } : {}),
    n: xs.length,
    ...(target !== undefined && base
      ? { target: `p50 ≤ ${target}× ${baseName}`, pass: atMost(percentile(xs, 50), target * percentile(base, 50)) }
      : {}),
  });
  return [
    row("1 MiB stdout (run `head -c 1M /dev/zero`)", s.stream, s.rawStream, "crun exec head"),
    row("write a 10 MiB file", s.write, s.rawWrite, "crun exec sh -c 'cat > f'"),
    row("read a 10 MiB file", s.read, s.rawRead, "crun exec cat"),
    row("terminal keystroke round trip (pty echo)", s.key, undefined, ""),
    row("cold (named) create → first `true`", s.cold, s.rawLife, "raw crun run lifecycle", 1.3),
  ];
}
