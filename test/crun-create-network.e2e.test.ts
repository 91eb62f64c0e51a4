// CrunRuntime.create loads a networked sandbox's egress policy while the sandbox's filesystem is
// being mounted (before crun create). A create that fails meanwhile must still leave nothing of
// its network behind: no veth and no rules of its slot, even when the policy load was still
// running when the failure came. Real crun, nft and ip on this host; no daemon.
import { spawnSync } from "node:child_process";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "@sbx-sh/protocol";
import { BaseImages } from "../packages/daemon/src/build/base-images.js";
import { defaultConfig } from "../packages/daemon/src/config.js";
import { specFor } from "../packages/daemon/src/domain/sandbox-spec.js";
import { CrunRuntime } from "../packages/daemon/src/runtime/crun-runtime.js";
import { cgroupVersion, hostNofileHardLimit } from "../packages/daemon/src/runtime/host-facts.js";
import { NetworkManager } from "../packages/daemon/src/runtime/network.js";
import { TestDaemon } from "./harness.js";

let runtime: CrunRuntime;
let network: NetworkManager;
let lowers: string[];

beforeAll(async () => {
  const dirs = new TestDaemon({ name: "crun-create-network", netIndex: 6 });
  await dirs.reset({ keepData: true });
  const cfg = defaultConfig(dirs.env);
  const bases = new BaseImages({
    dataDir: cfg.dataDir,
    cacheDir: join(cfg.cacheDir, "bases"),
    uidBase: cfg.uidBase,
    log: () => undefined,
  });
  lowers = [(await bases.ensure(cfg.defaultImage)).rootfs];
  for (const dir of [cfg.dataDir, join(cfg.dataDir, "sandboxes")]) {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o700);
  }
  network = new NetworkManager({ subnet: cfg.subnet, interfacePrefix: cfg.interfacePrefix });
  runtime = new CrunRuntime({
    sandboxesDir: join(cfg.dataDir, "sandboxes"),
    crunRoot: join(cfg.runDir, "crun"),
    uidBase: cfg.uidBase,
    uidCount: cfg.uidCount,
    initPath: cfg.initPath,
    busyboxPath: cfg.busyboxPath,
    agentPath: cfg.agentPath ?? undefined,
    idmapHelper: cfg.idmapHelper,
    network,
    nofile: Math.min(hostNofileHardLimit(), 65536),
    cgroupVersion: cgroupVersion(),
  });
}, 300_000);

afterAll(async () => {
  await runtime?.cleanupLeaks(new Set(), new Set());
});

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
});

const LIMITS = { cpus: 1, memoryMb: 512, pidsLimit: 256, diskMb: 256 };
