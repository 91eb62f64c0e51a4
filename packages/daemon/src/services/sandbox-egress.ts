// Changing a live sandbox's egress policy: new lists from its owner (updateNetwork), and new
// addresses for its host names from the daemon's periodic re-resolution (setEgressHosts). The
// kernel's chain is swapped in one nft transaction; a suspended sandbox only has its record
// updated, and its resume applies it. Runs under the sandbox's lifecycle lock.
import { SbxError } from "@sbx-sh/protocol";
import type { KeyedLock } from "../common/keyed-lock.js";
import type { Logger } from "../common/log.js";
import type { UpdateEgress } from "../domain/commands.js";
import type { EgressEntries, EgressHosts } from "../domain/egress-policy.js";
import type { SandboxRecord } from "../domain/records.js";
import type { SandboxRuntime } from "../runtime/runtime.js";
import type { Store } from "../store/store.js";
import { expandEgress, resolveEgress } from "./egress.js";

export class SandboxEgress {
  constructor(
    private readonly store: Store,
    private readonly runtime: SandboxRuntime,
    private readonly lock: KeyedLock,
    private readonly log: Logger,
  ) {}

  /** Replaces the given lists of the sandbox (an omitted list stays as it is). */
  async update(found: SandboxRecord, cmd: UpdateEgress): Promise<SandboxRecord> {
    const resolved = await resolveEgress(cmd);
    return this.lock.run(found.id, async () => {
      const s = (await this.store.getSandbox(found.id))!;
      if (s.status === "terminated") throw new SbxError("sandbox_not_running", `sandbox ${s.id} is terminated`);
      if (!s.allowInternetAccess)
        throw new SbxError(
          "failed_precondition",
          `sandbox ${s.id} has no network (allowInternetAccess false); its egress policy cannot be set`,
        );
      const old = egressEntriesOf(s);
      const entries = {
        allowOut: cmd.allowOut !== undefined ? resolved.entries.allowOut : old.allowOut,
        denyOut: cmd.denyOut !== undefined ? resolved.entries.denyOut : old.denyOut,
      };
      // Names of a kept list keep their addresses; names given now have fresh ones.
      const hosts: EgressHosts = {};
      for (const name of [...entries.allowOut, ...entries.denyOut]) {
        const addrs = resolved.hosts[name] ?? s.egressHosts?.[name];
        if (addrs) hosts[name] = addrs;
      }
      return this.apply(s, entries, hosts);
    });
  }

  /** Re-resolved addresses of the sandbox's host names: the chain is swapped when they changed. */
  async setHosts(id: string, hosts: EgressHosts): Promise<void> {
    await this.lock.run(id, async () => {
      const s = await this.store.getSandbox(id);
      if (!s || s.status === "terminated" || !s.allowInternetAccess) return;
      const entries = egressEntriesOf(s);
      const names = [...entries.allowOut, ...entries.denyOut].filter((n) => hosts[n] ?? s.egressHosts?.[n]);
      await this.apply(s, entries, Object.fromEntries(names.map((n) => [n, hosts[n] ?? s.egressHosts![n]!])));
    });
  }

  private async apply(s: SandboxRecord, entries: EgressEntries, hosts: EgressHosts): Promise<SandboxRecord> {
    const next = expandEgress(entries, hosts);
    if (s.status === "running" && s.netSlot !== null) await this.runtime.updateEgress(s.id, s.netSlot, next);
    await this.store.updateSandbox(s.id, { ...next, egressEntries: entries, egressHosts: hosts });
    this.log.info({ sandbox: s.id, ...next, hosts }, "egress policy updated");
    return (await this.store.getSandbox(s.id))!;
  }
}

/** The lists as given; records from before names were kept have only the enforced lists. */
export function egressEntriesOf(s: SandboxRecord): EgressEntries {
  return s.egressEntries ?? { allowOut: s.allowOut ?? [], denyOut: s.denyOut ?? [] };
}
