// A cluster control replica (sbxd --role control) runs no sandboxes, so it leaves the host alone:
// started beside a single-host daemon that uses the same veth prefix, subnet, nft table and cgroup
// parent (what the defaults give two daemons on one machine), it removes none of that daemon's
// sandbox veths or egress rules, and it sets up no nft table of its own. (Its start-up leak sweep
// used to delete every veth of its prefix that it did not know: all of them, since it knows none.)
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { startPgCluster, type PgCluster } from "../packages/daemon/src/testing/pg-cluster.js";
import { cgroupDirs, removeCgroupTree, SLOT } from "./fleet-host.js";
import { TestDaemon } from "./harness.js";

const NET_INDEX = 9;
const SECRET = "cluster-secret-for-the-control-host-test-0123456789";
const TABLE = `sbx_ch${SLOT}`;
const CONTROL_TABLE = `sbx_chc${SLOT}`;
const CGROUP_PARENT = `sbx-ch${SLOT}`;
const shared = { SBX_NFT_TABLE: TABLE, SBX_CGROUP_PARENT: CGROUP_PARENT };

const single = new TestDaemon({ name: "ctlhost-single", netIndex: NET_INDEX, extraArgs: ["--warm-pool", "0"] });
// Same netIndex: the same interface prefix and subnet. The default warm pool, as a deploy without
// --warm-pool 0 would have it: a control replica must still make no sandboxes.
const control = new TestDaemon({ name: "ctlhost-control", netIndex: NET_INDEX });
Object.assign(single.env, shared);
Object.assign(control.env, shared, { SBX_CLUSTER_SECRET: SECRET });

let pg: PgCluster | undefined;
let client: SandboxClient | undefined;

const nft = (...args: string[]) => spawnSync("nft", args, { encoding: "utf8" });
/** The table's chains, rules and map elements (counters move with traffic, so they are left out). */
const tableNow = (): string =>
  nft("list", "table", "inet", TABLE).stdout.replace(/packets \d+ bytes \d+/g, "packets - bytes -");
const prefixLinks = (): string[] =>
  [...spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout.matchAll(/^\d+: ([^:@]+)/gm)]
    .map((m) => m[1]!)
    .filter((l) => l.startsWith(single.env.SBX_IF_PREFIX!))
    .sort();

beforeAll(async () => {
  // Both reset first: a reset removes every veth of the daemon's prefix (the harness's leak cleanup).
  await Promise.all([single.reset(), control.reset()]);
  pg = await startPgCluster();
  control.opts.extraArgs = ["--role", "control", "--store", pg.url];
  await single.start();
  client = new SandboxClient({ host: single.host });
});

afterAll(async () => {
  await client?.close();
  await control.stop();
  await single.stop();
  await pg?.stop();
  for (const t of [TABLE, CONTROL_TABLE]) nft("delete", "table", "inet", t);
  for (const d of cgroupDirs(CGROUP_PARENT)) removeCgroupTree(d);
});

describe("a control replica leaves the host's sandbox networking alone", () => {
  it("keeps a same-prefix daemon's sandbox veth and egress rules, and makes no nft table or sandboxes", async () => {
    const sb = await Sandbox.create({ denyOut: ["203.0.113.0/24"] }, client);
    try {
      const links = prefixLinks();
      const table = tableNow();
      expect(links).toHaveLength(1);
      // The sandbox's own egress chain is there to be swept (named after its veth).
      expect(table).toContain(`sbx_eg_${links[0]!.replace(/-/g, "_")}`);

      await control.start();
      expect(prefixLinks()).toEqual(links);
      expect(tableNow()).toBe(table);
      // The sandbox's end of the pair goes with the host end: it is still there and up.
      const state = await sb.run("cat", { args: ["/sys/class/net/eth0/operstate"] });
      expect(state.stdout.trim()).toBe("up");
      // No sandboxes of its own (its warm pool would make some), no crun state.
      const crunList = spawnSync("crun", ["--root", join(control.root, "run", "crun"), "list", "-q"], {
        encoding: "utf8",
      });
      expect(crunList.stdout.trim()).toBe("");

      // Restarted with a table name of its own: it loads no table (a node's start does).
      await control.stop();
      control.env.SBX_NFT_TABLE = CONTROL_TABLE;
      await control.start();
      expect(nft("list", "table", "inet", CONTROL_TABLE).status).not.toBe(0);
      expect(prefixLinks()).toEqual(links);
      expect(tableNow()).toBe(table);
    } finally {
      await sb.terminate();
    }
  });
});
