// Unit tests of the IPv4/CIDR arithmetic shared by the subnet, the nft sets and the egress checks.
import { describe, expect, it } from "vitest";
import { compactCidrs, intToIp, ipToInt, isIpv4OrCidr, maskTo, normalizeCidr, parseBlock } from "./ipv4.js";

describe("ipv4", () => {
  it("validates and normalizes IPv4 addresses and CIDRs", () => {
    for (const ok of ["1.2.3.4", "0.0.0.0/0", "10.0.0.0/8", "255.255.255.255/32"]) expect(isIpv4OrCidr(ok)).toBe(true);
    for (const bad of [
      "1.2.3",
      "1.2.3.4/33",
      "01.2.3.4",
      "256.1.1.1",
      "1.2.3.4/8/1",
      "::1",
      "example.com",
      "1.2.3.4 ",
      "",
    ])
      expect(isIpv4OrCidr(bad)).toBe(false);
    expect(normalizeCidr("10.1.2.3/8")).toBe("10.0.0.0/8");
    expect(normalizeCidr("10.1.2.3/32")).toBe("10.1.2.3");
    expect(normalizeCidr("0.0.0.0/0")).toBe("0.0.0.0/0");
    expect(() => parseBlock("10.0.0.0/33")).toThrow(/not an IPv4 address or CIDR/);
  });

  it("drops duplicates and blocks nested in other blocks, so nft intervals never overlap", () => {
    expect(
      compactCidrs(["198.18.1.1", "198.18.0.0/16", "198.18.1.0/24", "10.0.0.1", "10.0.0.1/32", "10.0.0.2"]),
    ).toEqual(["10.0.0.1", "10.0.0.2", "198.18.0.0/16"]);
    expect(compactCidrs([])).toEqual([]);
  });

  it("converts addresses to numbers and back above 2^31, where bit operators would go negative", () => {
    expect(ipToInt("255.255.255.255")).toBe(2 ** 32 - 1);
    expect(intToIp(2 ** 32 - 1)).toBe("255.255.255.255");
    expect(intToIp(ipToInt("10.89.0.6"))).toBe("10.89.0.6");
    expect(maskTo(ipToInt("200.1.2.3"), 8)).toBe(ipToInt("200.0.0.0"));
    expect(parseBlock("200.1.2.3/16")).toEqual({ base: ipToInt("200.1.0.0"), len: 16 });
  });

  it("answers NaN for what is not four parts of 0..255 (the subnet check names it)", () => {
    for (const bad of ["1.2.3", "1.2.3.256", "a.b.c.d", "1.2.3.4.5", "-1.2.3.4"]) expect(ipToInt(bad)).toBeNaN();
    // Leading zeros are read as decimal here, unlike isIpv4OrCidr which refuses them.
    expect(ipToInt("010.0.0.1")).toBe(ipToInt("10.0.0.1"));
  });
});
