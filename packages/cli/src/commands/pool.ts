// Pool commands: `sbx pool create|ls|rm`. A pool keeps sandboxes of an image warm, so that a claim
// (`Sandbox.create({ pool })` in the SDK, Tensorlake's `claim`) hands one out at once.
import { type Command, InvalidArgumentError } from "commander";
import type { PoolInfo } from "@sbx-sh/protocol";
import { globalsOf, withClient } from "../context.js";
import { parsePositive } from "../option-numbers.js";
import { formatTable, printJson, printLines } from "../output.js";

function count(value: string): number {
  if (!/^\d{1,4}$/.test(value)) throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

const quiet = (cmd: Command): boolean => Boolean((cmd.optsWithGlobals() as { quiet?: boolean }).quiet);

export function registerPoolCommands(program: Command): void {
  const pool = program.command("pool").description("sandbox pools: warm sandboxes of an image, claimed at once");
  pool
    .command("create")
    .description("create a pool that keeps --warm sandboxes of an image running")
    .option("--image <name>", "image (default: the daemon's default image)")
    .option("--warm <n>", "sandboxes kept warm (0-16)", count, 1)
    .option("--max <n>", "most sandboxes claimed at once (at least --warm)", count)
    .option("--cpus <n>", "CPUs of each sandbox", parsePositive)
    .option("--memory <mb>", "memory (MiB) of each sandbox", count)
    .option("--timeout <secs>", "timeout of each claimed sandbox (0: none)", count)
    .option("--no-internet", "sandboxes without network access")
    .option("-q, --quiet", "print only the pool id")
    .addHelpText(
      "after",
      `
Warm sandboxes follow the image name: rebuild or re-point it and they are replaced on a rolling
basis, and no claim gets the old image. Claim from code with Sandbox.create({ pool: id }).

Examples:
  $ sbx pool create --image web --warm 2 --max 10
  $ sbx pool ls
  $ sbx pool rm pool-abc123`,
    )
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const p = await client.createPool({
          image: o.image as string | undefined,
          warm: o.warm as number,
          max: o.max as number | undefined,
          cpus: o.cpus as number | undefined,
          memoryMb: o.memory as number | undefined,
          timeoutSecs: o.timeout as number | undefined,
          allowInternetAccess: o.internet as boolean,
        });
        if (g.json) printJson(p);
        else
          printLines([
            quiet(cmd) ? p.id : `pool ${p.id}: ${p.warm} warm sandboxes of ${p.image ?? "the default image"}`,
          ]);
      });
    });

  pool
    .command("ls")
    .alias("list")
    .description("list pools with their statistics (claims, warm hits, median claim time)")
    .action(async (_o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const list = await client.listPools();
        if (g.json) return printJson(list);
        const rows = list.map((p: PoolInfo) => [
          p.id,
          p.image ?? "(default)",
          `${p.ready}/${p.warm}`,
          p.max === null ? "-" : String(p.max),
          `${p.hits}/${p.claims}`,
          p.claimP50Ms === null ? "-" : `${p.claimP50Ms.toFixed(0)} ms`,
        ]);
        printLines([formatTable(["ID", "IMAGE", "READY", "MAX", "HITS", "CLAIM P50"], rows)]);
      });
    });

  pool
    .command("rm")
    .alias("delete")
    .description("delete a pool: its warm sandboxes go, claimed ones stay")
    .argument("<id>", "pool id")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const p = await client.deletePool(id);
        if (g.json) printJson(p);
        else printLines([`pool ${p.id} deleted`]);
      });
    });
}
