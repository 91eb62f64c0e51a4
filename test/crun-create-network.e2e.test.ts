// CrunRuntime.create loads a networked sandbox's egress policy and wires its veth into a network
// namespace made beside its user namespace (sbx-userns net) while the sandbox's filesystem is being
// mounted, and crun joins that netns. A create that fails meanwhile, or in crun after the veth was
// wired, must still leave nothing of its network behind: no veth and no rules of its slot. Real
// crun, nft and ip on this host; no daemon.
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "@sbx-sh/protocol";
import { specFor } from "../packages/daemon/src/domain/sandbox-spec.js";
import type { CrunRuntime } from "../packages/daemon/src/runtime/crun-runtime.js";
import type { NetworkManager } from "../packages/daemon/src/runtime/network.js";
import { HELPER_BUSYBOX } from "../packages/daemon/src/runtime/types.js";
import { hostRuntimeForTest, type HostRuntime } from "./runtime-host.js";

let host: HostRuntime;
let runtime: CrunRuntime;
let network: NetworkManager;
let lowers: string[];
let sandboxesDir: string;

beforeAll(async () => {
  host = await hostRuntimeForTest("crun-create-network", 6);
  ({ runtime, network, lowers, sandboxesDir } = host);
}, 300_000);

afterAll(() => host?.close());

/** A policy that is not open, so that its slot has a chain of its own in the table. */
const DENY = { allowOut: [], denyOut: ["192.0.2.0/24"] };

/** Whether the host has the slot's veth, and whether the nft table names its interface. */
function leftOf(slot: number): { veth: boolean; rules: boolean } {
  const ifname = network.networkFor(slot).hostInterface;
  const veth = spawnSync("ip", ["link", "show", ifname]).status === 0;
  const table = spawnSync("nft", ["list", "table", "inet", network.tableName], { encoding: "utf8" }).stdout ?? "";
  return { veth, rules: new RegExp(`"${ifname}"`).test(table) };
}

describe("CrunRuntime.create with a network", () => {
  it("a networked sandbox gets its address and policy; destroy removes both", async () => {
    const spec = {
      ...specFor({ kind: "build-step", id: newId("sb"), lowers, env: [], limits: LIMITS, netSlot: 3, hostIds: false }),
      egress: DENY,
    };
    const { ipAddress } = await runtime.create(spec);
    expect(ipAddress).toBe(network.networkFor(3).ipAddress);
    expect(leftOf(3)).toEqual({ veth: true, rules: true });
    // crun joined the netns made with the user namespace instead of making one.
    const config = JSON.parse(await readFile(join(sandboxesDir, spec.id, "config.json"), "utf8")) as {
      linux: { namespaces: Array<{ type: string; path?: string }> };
    };
    expect(config.linux.namespaces.find((n) => n.type === "network")?.path).toMatch(/^\/proc\/\d+\/ns\/net$/);
    // Owned by the sandbox's user namespace, as one crun makes (its root binds ports below 1024).
    const pid = (await readFile(join(sandboxesDir, spec.id, "state", "init.pid"), "utf8")).trim();
    const ons = spawnSync("lsns", ["-n", "-t", "net", "-p", pid, "-o", "ONS"], { encoding: "utf8" }).stdout.trim();
    const userns = spawnSync("readlink", [`/proc/${pid}/ns/user`], { encoding: "utf8" }).stdout.trim();
    expect(`user:[${ons}]`).toBe(userns);
    const inside = async (script: string) => {
      let out = "";
      const code = await runtime.run(
        spec.id,
        { argv: [HELPER_BUSYBOX, "sh", "-c", script], env: [], cwd: "/", user: "0:0" },
        (_s, d) => void (out += d.toString()),
      );
      return { code, out };
    };
    const seen = await inside(
      "b=/.sbx/busybox; $b ip -o addr show dev eth0 && $b ip -o link show dev lo && $b ip route",
    );
    expect(seen).toMatchObject({ code: 0 });
    expect(seen.out).toContain(`inet ${ipAddress}/30`);
    expect(seen.out).toMatch(/lo: <LOOPBACK,UP/);
    expect(seen.out).toContain(`default via ${network.networkFor(3).gateway}`);
    await runtime.destroy(spec.id, 3);
    expect(leftOf(3)).toEqual({ veth: false, rules: false });
  });

  it("a create that fails after its policy load began leaves no veth and no rules of its slot", async () => {
    // The mount fails (no such layer) while the policy load started beside it may still run.
    const spec = {
      ...specFor({
        kind: "build-step",
        id: newId("sb"),
        lowers: ["/nonexistent/layer"],
        env: [],
        limits: LIMITS,
        netSlot: 4,
        hostIds: false,
      }),
      egress: DENY,
    };
    await expect(runtime.create(spec)).rejects.toMatchObject({ code: "runtime_error" });
    expect(leftOf(4)).toEqual({ veth: false, rules: false });
  });

  it("a create whose crun fails after its veth was wired leaves no veth, rules or holder", async () => {
    // A custom init waits for its veth before crun runs; crun then fails on the missing program.
    const spec = {
      ...specFor({ kind: "build-step", id: newId("sb"), lowers, env: [], limits: LIMITS, netSlot: 5, hostIds: false }),
      init: ["/nonexistent-init"],
      egress: DENY,
    };
    await expect(runtime.create(spec)).rejects.toMatchObject({ code: "runtime_error" });
    expect(leftOf(5)).toEqual({ veth: false, rules: false });
    // The holder made for it (sbx-userns, a child of this process) is gone too.
    const holders = spawnSync("pgrep", ["-P", String(process.pid), "-f", "sbx-userns"], { encoding: "utf8" }).stdout;
    expect(holders.trim()).toBe("");
  });
});

const LIMITS = { cpus: 1, memoryMb: 512, pidsLimit: 256, diskMb: 256 };
