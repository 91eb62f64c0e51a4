import { describe, expect, it } from "vitest";
import { checkOutbound, forbiddenRange, parseOutboundAllow } from "./outbound.js";

describe("outbound policy", () => {
  it("names the ranges the daemon does not reach for clients", () => {
    for (const [a, why] of [
      ["127.0.0.1", "loopback"],
      ["::1", "loopback"],
      ["::ffff:127.0.0.1", "loopback"],
      ["10.1.2.3", "private"],
      ["172.20.0.1", "private"],
      ["192.168.1.1", "private"],
      ["169.254.169.254", "link-local"],
      ["fe80::1", "link-local"],
      ["fd00::1", "private"],
      ["100.64.0.1", "shared (CGNAT)"],
      ["0.0.0.0", "unspecified"],
    ] as const)
      expect(forbiddenRange(a), a).toBe(why);
    for (const a of ["8.8.8.8", "151.101.1.1", "2606:4700::1111", "172.32.0.1"])
      expect(forbiddenRange(a), a).toBe(undefined);
  });

  it("refuses loopback unless allowed, and lets named hosts through", async () => {
    const deny = parseOutboundAllow("");
    await expect(checkOutbound(new URL("http://127.0.0.1:5000/v2/"), deny, "pull")).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(checkOutbound(new URL("http://[::1]:5000/v2/"), deny, "pull")).rejects.toMatchObject({
      code: "permission_denied",
    });
    await expect(checkOutbound(new URL("http://localhost:5000/v2/"), deny, "pull")).rejects.toMatchObject({
      code: "permission_denied",
    });
    await checkOutbound(new URL("http://127.0.0.1:5000/v2/"), parseOutboundAllow("loopback"), "pull");
    await checkOutbound(new URL("http://10.0.0.5:5000/v2/"), parseOutboundAllow("10.0.0.5:5000"), "pull");
    await expect(
      checkOutbound(new URL("http://10.0.0.5:5001/v2/"), parseOutboundAllow("10.0.0.5:5000"), "pull"),
    ).rejects.toMatchObject({ code: "permission_denied" });
    await expect(checkOutbound(new URL("file:///etc/passwd"), deny, "pull")).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });
});
