// Tests of the sandbox network's pure parts (names, addresses, option checks, resolv.conf, the nft
// script); they run anywhere. On the real kernel, as root: ./network-host.test.ts.
import { describe, expect, it } from "vitest";
import { NetworkManager } from "./network.js";
import { sandboxResolvLines } from "./resolv.js";
import { hostRuleset } from "./nft-ruleset.js";

describe("NetworkManager, pure parts", () => {
  it("derives names and /30 addresses from the slot", () => {
    const nm = new NetworkManager();
    expect(nm.capacity).toBe(16384);
    expect(nm.networkFor(0)).toEqual({ slot: 0, hostInterface: "sbxh0", gateway: "10.89.0.1", ipAddress: "10.89.0.2" });
    expect(nm.networkFor(16383)).toEqual({
      slot: 16383,
      hostInterface: "sbxh16383",
      gateway: "10.89.255.253",
      ipAddress: "10.89.255.254",
    });
    expect(() => nm.networkFor(16384)).toThrow(/outside/);
    expect(new NetworkManager({ subnet: "192.168.7.0/24" }).networkFor(63).ipAddress).toBe("192.168.7.254");
  });

  it("rejects bad options before touching the host", () => {
    expect(() => new NetworkManager({ subnet: "10.89.0.1/16" })).toThrow(/host bits/);
    expect(() => new NetworkManager({ subnet: "10.89.0.0/31" })).toThrow(/Invalid sandbox subnet/);
    expect(() => new NetworkManager({ interfacePrefix: "sbx1" })).toThrow(/Invalid interface prefix/);
    expect(() => new NetworkManager({ interfacePrefix: "averylongpfx", subnet: "10.0.0.0/8" })).toThrow(/too long/);
    expect(() => new NetworkManager({ tableName: "sbx; flush ruleset" })).toThrow(/table name/);
  });

  it("refuses a pid that is gone or shares the host's network namespace", async () => {
    const nm = new NetworkManager();
    await expect(nm.attach("s1", 0, 4_194_305)).rejects.toMatchObject({ code: "sandbox_not_running" });
    await expect(nm.attach("s1", 0, process.pid)).rejects.toMatchObject({ code: "failed_precondition" });
  });

  it("keeps only nameservers a sandbox can reach", () => {
    const text =
      "# generated\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nsearch corp.example\noptions edns0\n";
    expect(sandboxResolvLines(text)).toEqual(["nameserver 10.255.255.53", "search corp.example", "options edns0"]);
  });

  it("writes the policy into its own table only, never a ruleset-wide flush", () => {
    const script = hostRuleset("sbx", "10.89.0.0/16", ["10.255.255.53"]);
    for (const line of script.trim().split("\n")) expect(line).toMatch(/ inet sbx( |$)/);
    expect(script).not.toMatch(/flush ruleset|flush table/);
    // The forward chain and its drop policy come before anything can be forwarded by it.
    expect(script.indexOf("hook forward priority filter; policy drop;")).toBeLessThan(script.indexOf("add rule"));
    // Only the subnet varies, so managers with other prefixes and subnets load the same rules.
    expect(hostRuleset("sbx", "10.121.0.0/16", ["10.255.255.53"]).replace("10.121.", "10.89.")).toBe(script);
  });
});
