// A crun sandbox's creation: its uid range and dir, the overlay root and scratch mounts, the user
// namespace's holder (with the netns when networked), the egress policy and veth, the agent's mounts,
// the OCI config, then one `crun run` (or create + start when crun makes the netns). Each piece that
// needs nothing of another starts beside it; a failure settles every piece before the sandbox is
// destroyed, so nothing is made after destroy's clean-up.
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { AgentMounts } from "./agent/agent-mounts.js";
import type { AgentSandboxes } from "./agent/agent-sandboxes.js";
import { withBundleRelativePaths } from "./bundle-paths.js";
import type { Crun } from "./crun.js";
import type { CrunRuntimeOptions } from "./crun-options.js";
import { prepareSnapshot } from "../layers/overlay.js";
import { buildOciConfig } from "./oci-config.js";
import { stageDir } from "./sandbox-stage.js";
import { waitForBoot } from "./systemd-boot.js";
import type { Teardowns } from "./teardowns.js";
import type { ToolStage } from "./tool-stage.js";
import type { EgressPolicy, SandboxSpec } from "./types.js";
import type { UidRanges } from "./uid-ranges.js";
import { UsernsOwner } from "./userns-owner.js";
import type { VolumeDisks } from "./volume-disks.js";
import { mountSandboxVolumes } from "./volume-mounts.js";

/** What a create uses of its runtime. */
export interface CreateParts {
  o: CrunRuntimeOptions;
  crun: Crun;
  ranges: UidRanges;
  teardowns: Teardowns;
  agents: AgentSandboxes | undefined;
  tools: ToolStage<string> | undefined;
  volumes: VolumeDisks | undefined;
  limitSwap: boolean;
  cgroupParent: string;
  dir(id: string): string;
  destroy(id: string, netSlot: number | null): Promise<void>;
}

export class CrunCreate {
  constructor(private readonly p: CreateParts) {}

  /** Init and busybox for a sandbox's config: the staged copies when there is a stage. */
  private async toolPaths(): Promise<{ initPath: string; busyboxPath: string }> {
    const t = await this.p.tools?.paths();
    return { initPath: t?.init ?? this.p.o.initPath, busyboxPath: t?.busybox ?? this.p.o.busyboxPath };
  }

  private async stagedAgent(agent: AgentMounts): Promise<AgentMounts> {
    const t = await this.p.tools?.paths();
    return t?.agent ? { ...agent, binary: t.agent } : agent;
  }

  async run(spec: SandboxSpec): Promise<{ ipAddress: string | null }> {
    const dir = this.p.dir(spec.id);
    let userns: UsernsOwner | undefined;
    let pendingUserns: Promise<UsernsOwner> | undefined;
    let policy: Promise<void> | undefined;
    /** The veth wired into the holder's own netns (./userns-owner.ts), undefined when crun makes the netns. */
    let premadeNet: Promise<string | undefined> | undefined;
    try {
      // Output logs get their own small tmpfs: a sandbox that fills its disk can still be inspected.
      const hostIds = spec.hostIds === true || spec.systemd === true;
      // The sandbox's own uid range, recorded in its dir before anything runs as it. Its dir is
      // searchable by its own root group only; its parents by no one but host root: crun reaches
      // the sandbox's files from inside its dir (./bundle-paths.ts).
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const range = hostIds ? 0 : this.p.ranges.allocate(spec.id, dir);
      if (!hostIds) {
        await chown(dir, 0, range);
        await chmod(dir, 0o710);
      }
      // The slot's egress policy (after the slot's last teardown, whose detach removes its rules)
      // and the user namespace need nothing of the mounts: both start once the mounts have started
      // (the longest step before crun) and are awaited later.
      const startBeside = () => {
        if (spec.netSlot !== null) policy = this.loadPolicyWhenFree(spec.id, spec.netSlot, spec.egress);
        if (!hostIds)
          pendingUserns = UsernsOwner.create(this.usernsHelper(), range, this.p.o.uidCount, {
            net: spec.netSlot !== null,
          });
        // A networked sandbox's netns comes with its user namespace: its veth is wired meanwhile too.
        if (pendingUserns && policy) premadeNet = this.wirePremadeNet(spec, pendingUserns, policy);
        // Awaited below (or on failure): no unhandled rejection meanwhile.
        policy?.catch(() => undefined);
        pendingUserns?.catch(() => undefined);
        premadeNet?.catch(() => undefined);
      };
      const snap = await prepareSnapshot(dir, spec.lowers, {
        onStarted: startBeside,
        sizeMb: spec.diskMb,
        uidBase: hostIds ? 0 : this.p.o.uidBase,
        idmap: hostIds
          ? undefined
          : { helper: this.p.o.idmapHelper, from: this.p.o.uidBase, to: range, count: this.p.o.uidCount },
        scratch: [{ name: "logs", sizeMb: this.p.o.logsSizeMb ?? 64 }],
        busybox: this.p.o.busyboxPath,
      });
      await mkdir(join(dir, "state"), { mode: 0o700 });
      const staged = await stageDir(dir, hostIds);
      const volumes = await mountSandboxVolumes(
        dir,
        spec.volumes ?? [],
        this.p.volumes,
        hostIds
          ? undefined
          : { helper: this.p.o.idmapHelper, from: this.p.o.uidBase, to: range, count: this.p.o.uidCount },
      );
      const withAgent = this.p.agents && !spec.systemd && !spec.init;
      const agent = withAgent
        ? // Its dirs are bind mounts, not idmapped: owned by the sandbox's own root (host ids: 0).
          await this.stagedAgent(await this.p.agents!.prepare(spec.id, join(dir, "logs"), range, staged))
        : undefined;
      const resolvConf = join(staged, "resolv.conf");
      await writeFile(resolvConf, spec.netSlot === null ? "" : this.p.o.network.resolvConf(), { mode: 0o644 });
      // Owned by the range's base uid, so per-user kernel budgets are the sandbox's own (F3).
      userns = await pendingUserns;
      const config = buildOciConfig({
        id: spec.id,
        rootfs: snap.rootfs,
        hostname: spec.hostname,
        init: spec.init,
        env: spec.env,
        cwd: spec.workingDir,
        uidBase: range,
        uidCount: this.p.o.uidCount,
        cpus: spec.cpus,
        memoryMb: spec.memoryMb,
        pidsLimit: spec.pidsLimit,
        limitSwap: this.p.limitSwap,
        nofile: this.p.o.nofile,
        cgroupsPath: `/${this.p.cgroupParent}/${spec.id}`,
        ...(await this.toolPaths()),
        helperDirMb: spec.diskMb,
        resolvConf,
        trustMounts: await this.p.o.hostTrust?.mountsFor(spec.lowers, staged),
        systemd: spec.systemd,
        hostIds,
        agent,
        volumes,
        userNamespacePath: userns?.path,
        networkNamespacePath: userns?.netPath,
      });
      await writeFile(join(dir, "config.json"), JSON.stringify(withBundleRelativePaths(config, dir)), { mode: 0o600 });
      const pidFile = join(dir, "state", "init.pid");
      const logFile = join(dir, "state", "init.log");
      let ipAddress: string | null = null;
      let pid: number;
      if (spec.netSlot === null) {
        pid = await this.p.crun.create(spec.id, dir, pidFile, logFile, { start: true });
      } else if (userns?.netPath) {
        // Its netns exists already: one `crun run`. With the agent as init nothing of the sandbox's
        // own runs before create returns, so the veth may still be in the making meanwhile; a
        // custom init finds it ready.
        if (!agent) await premadeNet;
        const [net, created] = await Promise.allSettled([
          premadeNet!,
          this.p.crun.create(spec.id, dir, pidFile, logFile, { start: true }),
        ]);
        if (net.status === "rejected") throw net.reason;
        if (created.status === "rejected") throw created.reason;
        ipAddress = net.value ?? null;
        pid = created.value;
      } else {
        // The veth goes into the sandbox's own network namespace after create. With the agent as
        // init, nothing of the sandbox's own runs before create returns: it starts meanwhile.
        pid = await this.p.crun.create(spec.id, dir, pidFile, logFile);
        const attach = async () => {
          await policy;
          return (await this.p.o.network.attach(spec.id, spec.netSlot!, pid, spec.egress, { policyLoaded: true }))
            .ipAddress;
        };
        if (agent) {
          // Both settle before a failure is thrown: destroy must not race a veth still being made.
          const [net, started] = await Promise.allSettled([attach(), this.p.crun.start(spec.id)]);
          if (net.status === "rejected") throw net.reason;
          if (started.status === "rejected") throw started.reason;
          ipAddress = net.value;
        } else {
          ipAddress = await attach();
          await this.p.crun.start(spec.id);
        }
      }
      userns?.release();
      await this.p.crun.untilInitExecs(pid);
      if (agent) await this.p.agents!.ready(spec.id);
      if (spec.systemd) await waitForBoot(this.p.crun, spec.id, join(dir, "state", "init.log"));
      return { ipAddress };
    } catch (err) {
      // All settle first: a holder still starting must be ended (its netns, and a veth in it, go
      // with it), and neither the policy nor the veth may be made after destroy's detach.
      await premadeNet?.catch(() => undefined);
      (userns ?? (await pendingUserns?.catch(() => undefined)))?.release();
      await policy?.catch(() => undefined);
      await this.p.destroy(spec.id, spec.netSlot).catch(() => undefined);
      throw err;
    }
  }

  /**
   * The veth of a networked sandbox wired into the netns its user namespace's holder made, once the
   * slot's policy is loaded; its address. Undefined when the helper made no netns (crun makes it,
   * and the veth is attached after `crun create`).
   */
  private async wirePremadeNet(
    spec: SandboxSpec,
    userns: Promise<UsernsOwner>,
    policy: Promise<void>,
  ): Promise<string | undefined> {
    const owner = await userns;
    if (!owner.netPath) return undefined;
    await policy;
    return (await this.p.o.network.attach(spec.id, spec.netSlot!, owner.pid, spec.egress, { policyLoaded: true }))
      .ipAddress;
  }

  /** The slot's egress policy, once the slot's last sandbox is torn down. */
  private async loadPolicyWhenFree(id: string, slot: number, egress: EgressPolicy | undefined): Promise<void> {
    await this.p.teardowns.slotFree(slot);
    await this.p.o.network.loadPolicy(id, slot, egress);
  }

  private usernsHelper(): string {
    return this.p.o.usernsHelper ?? join(dirname(this.p.o.idmapHelper), "sbx-userns");
  }
}
