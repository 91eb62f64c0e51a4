// `sbx node ls|add`: the nodes of a cluster, asked of a control-plane daemon (sbxd --role control)
// over its unix socket. What the cluster can do today is in docs/cluster.md.
import { type Command, InvalidArgumentError } from "commander";
import type { ClusterNode } from "@sbx-sh/protocol";
import { registerNodeDrainCommand } from "./node-drain.js";
import { globalsOf, withClient } from "../context.js";
import { formatTable, printJson, printLines } from "../output.js";

function parseLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got ${JSON.stringify(value)}`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

function row(n: ClusterNode): string[] {
  const lease = n.leaseSecsLeft === null ? "-" : n.leaseSecsLeft > 0 ? `${Math.round(n.leaseSecsLeft)}s` : "expired";
  return [
    n.name,
    n.state,
    n.address ?? "-",
    `${n.allocated.cpus}/${n.capacity.cpus}`,
    `${n.allocated.memoryMb}/${n.capacity.memoryMb}`,
    String(n.allocated.sandboxes),
    String(n.layers),
    lease,
    Object.entries(n.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",") || "-",
  ];
}

const STATES = {
  cordon: ["cordoned", "take no new sandboxes; the running ones stay"],
  ready: ["ready", "take sandboxes again after cordon or drain"],
  revoke: ["revoked", "refuse the node's credential for good (add it again under a new name)"],
} as const;

export function registerNodeCommands(program: Command): void {
  const node = program.command("node").description("cluster nodes (on a control plane: sbxd --role control)");
  node
    .command("ls")
    .alias("list")
    .description("list nodes: state, address, allocated/capacity cpus and memory, sandboxes, cached layers, lease")
    .addHelpText(
      "after",
      `
States: new (added, never registered), ready, cordoned, draining, lost (lease expired), revoked.

Examples:
  $ sbx node ls
  $ sbx node ls --json | jq -r '.[] | select(.state == "lost") | .name'`,
    )
    .action(async (_o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const nodes = await client.listNodes();
        if (g.json) return printJson(nodes);
        printLines([
          formatTable(
            ["NAME", "STATE", "ADDRESS", "CPUS", "MEMORY MB", "SANDBOXES", "LAYERS", "LEASE", "LABELS"],
            nodes.map(row),
          ),
        ]);
      });
    });

  node
    .command("add")
    .description("add a node and print its credential (shown once: give it to the node's sbxd as SBX_NODE_TOKEN)")
    .argument("<name>", "node name: [a-z0-9-], up to 63")
    .option("--label <key=value>", "a label placement selectors match (repeatable)", parseLabel)
    // Its own -q, as `token create`'s: the generic one prints the name, and the credential is shown once.
    .option("-q, --quiet", "print only the credential")
    .addHelpText(
      "after",
      `
Examples:
  $ sbx node add n1 --label zone=a
  $ SBX_NODE_TOKEN=$(sbx node add n2 -q) sbxd --role node --control http://control:7070`,
    )
    .action(async (name: string, o: { label?: Record<string, string>; quiet?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      await withClient(cmd, async (client) => {
        const cred = await client.addNode(name, o.label ?? {});
        if (g.json) return printJson(cred);
        if (o.quiet) return printLines([cred.token]);
        printLines([`node ${cred.name} added; its credential (shown once):`, cred.token]);
      });
    });

  registerNodeDrainCommand(node);

  for (const [verb, [state, what]] of Object.entries(STATES)) {
    node
      .command(verb)
      .description(`${what}`)
      .argument("<name>", "node name")
      .addHelpText("after", `\nExample:\n  $ sbx node ${verb} n2`)
      .action(async (name: string, _o: unknown, cmd: Command) => {
        const g = globalsOf(cmd);
        await withClient(cmd, async (client) => {
          const n = await client.setNodeState(name, state);
          if (g.json) return printJson(n);
          printLines([`node ${n.name}: ${n.state}`]);
        });
      });
  }
}
