// Unit tests of egress policy input: validation, normalization and host-name resolution.
import { describe, expect, it } from "vitest";
import { expandEgress, refreshHosts, resolveEgress, resolveEgressList, resolveEgressPolicy } from "./egress.js";

const fakeDns = async (name: string): Promise<string[]> => {
  if (name === "api.example.test") return ["203.0.113.7", "203.0.113.8"];
  if (name === "empty.example.test") return [];
  throw new Error(`getaddrinfo ENOTFOUND ${name}`);
};

describe("egress policy input", () => {
  it("normalizes addresses and CIDRs and drops duplicates", async () => {
    expect(
      await resolveEgressList("allowOut", [" 10.1.2.3/8", "10.0.0.0/8", "198.18.0.1/32", "198.18.0.1"], fakeDns),
    ).toEqual(["10.0.0.0/8", "198.18.0.1"]);
    expect(await resolveEgressList("denyOut", undefined, fakeDns)).toEqual([]);
  });

  it("resolves simple host names on the host and stores the addresses", async () => {
    expect(await resolveEgressPolicy({ allowOut: ["api.example.test", "192.0.2.1"], denyOut: [] }, fakeDns)).toEqual({
      allowOut: ["203.0.113.7", "203.0.113.8", "192.0.2.1"],
      denyOut: [],
    });
  });

  it("names the bad entry and its list in an invalid_argument error", async () => {
    for (const bad of [
      "1.2.3.4/33",
      "300.1.1.1",
      "*.example.com",
      "https://example.com",
      "example.com:443",
      "2001:db8::/32",
      "1.2.3",
    ]) {
      const err = await resolveEgressList("denyOut", ["10.0.0.1", bad], fakeDns).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "invalid_argument", message: expect.stringContaining(JSON.stringify(bad)) });
      expect((err as Error).message).toContain("denyOut");
    }
    await expect(resolveEgressList("allowOut", ["*.example.com"], fakeDns)).rejects.toThrow(/not supported yet/);
    await expect(resolveEgressList("allowOut", ["nowhere.example.test"], fakeDns)).rejects.toThrow(
      /could not be resolved/,
    );
    await expect(resolveEgressList("allowOut", ["empty.example.test"], fakeDns)).rejects.toThrow(/no IPv4 address/);
    await expect(
      resolveEgressList(
        "allowOut",
        Array.from({ length: 257 }, () => "10.0.0.1"),
        fakeDns,
      ),
    ).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("keeps the names as given (lowercase) with their addresses, and expands them into the policy", async () => {
    const r = await resolveEgress(
      { allowOut: ["API.example.test.", "192.0.2.0/24"], denyOut: ["api.example.test"] },
      fakeDns,
    );
    expect(r.entries).toEqual({ allowOut: ["api.example.test", "192.0.2.0/24"], denyOut: ["api.example.test"] });
    expect(r.hosts).toEqual({ "api.example.test": ["203.0.113.7", "203.0.113.8"] });
    expect(r.policy).toEqual({
      allowOut: ["203.0.113.7", "203.0.113.8", "192.0.2.0/24"],
      denyOut: ["203.0.113.7", "203.0.113.8"],
    });
    expect(expandEgress(r.entries, { "api.example.test": ["198.51.100.1"] })).toEqual({
      allowOut: ["198.51.100.1", "192.0.2.0/24"],
      denyOut: ["198.51.100.1"],
    });
  });

  it("refresh reports changed addresses, and keeps the last ones of a name that fails to resolve", async () => {
    const same = await refreshHosts({ "api.example.test": ["203.0.113.8", "203.0.113.7"] }, fakeDns);
    expect(same).toEqual({ hosts: { "api.example.test": ["203.0.113.7", "203.0.113.8"] }, changed: false, failed: [] });
    const moved = await refreshHosts({ "api.example.test": ["198.51.100.1"] }, fakeDns);
    expect(moved.changed).toBe(true);
    expect(moved.hosts["api.example.test"]).toEqual(["203.0.113.7", "203.0.113.8"]);
    const gone = await refreshHosts(
      { "nowhere.example.test": ["198.51.100.9"], "empty.example.test": ["198.51.100.8"] },
      fakeDns,
    );
    expect(gone).toEqual({
      hosts: { "nowhere.example.test": ["198.51.100.9"], "empty.example.test": ["198.51.100.8"] },
      changed: false,
      failed: ["nowhere.example.test", "empty.example.test"],
    });
  });
});
