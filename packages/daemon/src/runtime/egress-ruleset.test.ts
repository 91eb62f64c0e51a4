// Unit tests of the per-sandbox egress scripts: pure text, no kernel needed.
import { describe, expect, it } from "vitest";
import { isOpenPolicy } from "../domain/egress-policy.js";
import { egressChain, egressSlots, egressRemoval, egressRuleset } from "./egress-ruleset.js";
import { EGRESS_MAP, hostRuleset, RESOLVER_SET, SANDBOX_IFGROUP } from "./nft-ruleset.js";

describe("egress ruleset", () => {
  it("maps interface names one-to-one onto chain names", () => {
    expect(egressChain("sbxh12")).toBe("sbx_eg_sbxh12");
    expect(egressChain("sx-ab-3")).toBe("sbx_eg_sx_ab_3");
    expect(() => egressChain("x; flush ruleset")).toThrow();
  });

  it("finds the slots of a prefix among the table's chains", () => {
    const chains = ["sbx_forward", "sbx_eg_sbxh0", "sbx_eg_sbxh12", "sbx_eg_sbxhx3", "sbx_eg_sbxh01", "sbx_eg_sx_ab_4"];
    expect(egressSlots(chains, "sbxh")).toEqual([0, 12]);
    expect(egressSlots(chains, "sx-ab-")).toEqual([4]);
  });

  it("allowOut: deny first, then DNS to the resolvers, then the allowed set, then drop", () => {
    const script = egressRuleset(
      "sbx",
      "sbxh3",
      { allowOut: ["198.18.0.1", "198.18.0.0/24"], denyOut: ["198.18.0.7"] },
      ["10.0.0.53"],
    );
    expect(script.trim().split("\n")).toEqual([
      "add chain inet sbx sbx_eg_sbxh3",
      "flush chain inet sbx sbx_eg_sbxh3",
      "add rule inet sbx sbx_eg_sbxh3 ip daddr { 198.18.0.7 } drop",
      "add rule inet sbx sbx_eg_sbxh3 ip daddr { 10.0.0.53 } meta l4proto { tcp, udp } th dport 53 return",
      "add rule inet sbx sbx_eg_sbxh3 ip daddr { 198.18.0.0/24 } return",
      "add rule inet sbx sbx_eg_sbxh3 drop",
      `add element inet sbx ${EGRESS_MAP} { "sbxh3" : jump sbx_eg_sbxh3 }`,
    ]);
  });

  it("denyOut alone drops only those destinations and falls through otherwise", () => {
    const script = egressRuleset("sbx", "sbxh0", { allowOut: [], denyOut: ["198.18.0.0/15"] }, ["10.0.0.53"]);
    expect(script).toContain("ip daddr { 198.18.0.0/15 } drop");
    expect(script).not.toMatch(/return|dport 53| drop\n.* drop$/);
    expect(script).not.toMatch(/sbx_eg_sbxh0 drop\n/);
  });

  it("an open policy removes the chain, idempotently, touching only this sandbox", () => {
    expect(isOpenPolicy(undefined)).toBe(true);
    const script = egressRuleset("sbx", "sbxh4", { allowOut: [], denyOut: [] }, []);
    expect(script).toBe(egressRemoval("sbx", "sbxh4"));
    // Add before delete: the deletes always find what they delete, in one transaction.
    expect(script.indexOf("add element")).toBeLessThan(script.indexOf("delete element"));
    expect(script.indexOf("delete element")).toBeLessThan(script.indexOf("delete chain"));
    for (const line of script.trim().split("\n")) expect(line).toMatch(/sbx_eg_sbxh4|"sbxh4"/);
    expect(script).not.toMatch(/flush (ruleset|table)|sbx_forward/);
  });

  it("the host ruleset jumps through the map before the established rule", () => {
    const script = hostRuleset("sbx", "10.89.0.0/16", []);
    expect(script).toContain(`add map inet sbx ${EGRESS_MAP} { type ifname : verdict; }`);
    expect(script.indexOf(`iifname vmap @${EGRESS_MAP}`)).toBeLessThan(
      script.indexOf("ct state established,related accept"),
    );
    // Other managers' subnets and sandboxes stay; only the resolver list (the same host-wide) is replaced.
    expect(script).not.toMatch(new RegExp(`flush (map|set) (?!inet sbx ${RESOLVER_SET}\n)`));
  });

  it("the host ruleset drops DNS to anything but the resolvers, for every sandbox, before established", () => {
    const script = hostRuleset("sbx", "10.89.0.0/16", ["10.255.255.53", "192.0.2.53", "10.255.255.53"]);
    const lines = script.split("\n");
    expect(lines).toContain(`add set inet sbx ${RESOLVER_SET} { type ipv4_addr; }`);
    // Replaced in the same transaction as the rules, so a new resolv.conf takes effect on reload.
    expect(lines.indexOf(`flush set inet sbx ${RESOLVER_SET}`)).toBeLessThan(
      lines.indexOf(`add element inet sbx ${RESOLVER_SET} { 10.255.255.53, 192.0.2.53 }`),
    );
    const rule = `add rule inet sbx sbx_forward iifgroup ${SANDBOX_IFGROUP} meta l4proto { tcp, udp } th dport 53 ip daddr != @${RESOLVER_SET} drop`;
    expect(lines).toContain(rule);
    expect(lines.indexOf(rule)).toBeGreaterThan(lines.findIndex((l) => l.includes(`vmap @${EGRESS_MAP}`)));
    expect(lines.indexOf(rule)).toBeLessThan(lines.findIndex((l) => l.includes("ct state established,related accept")));
    // No resolvers: the set stays empty (no element line, which nft would refuse), so all DNS is dropped.
    expect(hostRuleset("sbx", "10.89.0.0/16", [])).not.toContain(`add element inet sbx ${RESOLVER_SET}`);
  });

  it.skipIf(process.getuid?.() !== 0)("the host ruleset passes nft's own check (nft -c, nothing loaded)", async () => {
    const { runCommand } = await import("../common/command.js");
    for (const resolvers of [[], ["10.255.255.53", "192.0.2.53"]]) {
      const res = await runCommand("nft", ["-c", "-f", "-"], {
        input: hostRuleset("sbxcheck", "10.89.0.0/16", resolvers),
        timeoutMs: 10_000,
      });
      expect(res.stderr.toString()).toBe("");
      expect(res.code).toBe(0);
    }
  });
});
