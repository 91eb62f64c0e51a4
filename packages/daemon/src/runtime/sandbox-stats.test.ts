// Unit tests of the network counters a sandbox's stats read: from /proc/net/dev (the daemon's own
// network namespace), by interface name, with the host end's rx reported as the sandbox's tx.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { interfaceBytes } from "./sandbox-stats.js";

const SAMPLE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 13167150633 2385853    0    0    0     0          0         0 13167150633 2385853    0    0    0     0       0          0
sb3a12:     1200      10    0    0    0     0          0         0      3400      20    0    0    0     0       0          0
sb3a1:       7       1    0    0    0     0          0         0        9       1    0    0    0     0       0          0
`;

describe("interfaceBytes", () => {
  it("reads rx and tx bytes of exactly the named interface", () => {
    expect(interfaceBytes(SAMPLE, "sb3a12")).toEqual({ rx: 1200, tx: 3400 });
    expect(interfaceBytes(SAMPLE, "sb3a1")).toEqual({ rx: 7, tx: 9 });
    expect(interfaceBytes(SAMPLE, "sb3a")).toBeUndefined();
    expect(interfaceBytes("", "lo")).toBeUndefined();
  });

  it("finds this process's loopback in its own namespace's table", () => {
    const lo = interfaceBytes(readFileSync("/proc/self/net/dev", "utf8"), "lo");
    expect(lo?.rx).toBeGreaterThanOrEqual(0);
    expect(lo?.tx).toBeGreaterThanOrEqual(0);
  });
});
