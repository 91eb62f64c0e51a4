// Per-sandbox egress policy with real traffic: a namespace stands in for the sandbox and another
// for "the internet", with one server answering on two routed 198.18.0.0/15 addresses (A and B).
// Needs root; never sends anything off this machine.
import { spawn, type ChildProcess } from "node:child_process";
import { readlinkSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { egressChain } from "./egress-ruleset.js";
import { NetworkManager } from "./network.js";
import { EGRESS_MAP } from "./nft-ruleset.js";
import { inNs, must, sh } from "./testing/netns.js";

const isRoot = process.getuid?.() === 0;
const RUN = Array.from({ length: 4 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");
const R = () => Math.floor(Math.random() * 250) + 1;
const SUBNET = `10.${230 + Math.floor(Math.random() * 10)}.${R()}.0/24`;
const INET_HOST = `se${RUN}-i`;
const N = R();
const [INET_GW, INET_PEER, A, B] = [`198.18.${N}.1`, `198.18.${N}.2`, `198.19.${N}.10`, `198.19.${N}.20`];
const PORT = 20000 + Math.floor(Math.random() * 2000);
// Answers with the address it was reached on.
const SERVER_JS = `require("net").createServer((s) => s.end(s.localAddress + "\\n")).listen(+process.argv[1], "0.0.0.0", () => console.log("ready"));`;

// A stand-in DNS server that is not a resolver of this host: TCP on 53, UDP on 53 and on PORT,
// bound to A so that UDP answers come from the address asked (and so match the NAT mapping).
const DNS_JS = `const p = +process.argv[1];
require("net").createServer((s) => s.end("tcp53\\n")).listen(53, "0.0.0.0");
for (const port of [53, p]) { const u = require("dgram").createSocket("udp4"); u.on("message", (m, r) => u.send("udp" + port, r.port, r.address)); u.bind(port, process.argv[2]); }
setTimeout(() => console.log("ready"), 200);`;
const UDP_ASK_JS = `const u = require("dgram").createSocket("udp4");
u.on("message", (m) => { console.log(m.toString()); process.exit(0); });
u.send("q", +process.argv[2], process.argv[1]);
setTimeout(() => { console.log("timeout"); process.exit(0); }, 1000);`;

/** What the server answered, or "timeout" for a dropped SYN. */
async function reach(pid: number, host: string, port = PORT): Promise<string> {
  const r = await sh("nsenter", [
    "-t",
    String(pid),
    "-n",
    "--",
    "timeout",
    "1",
    "bash",
    "-c",
    'exec 3<>"/dev/tcp/$0/$1" && cat <&3',
    host,
    String(port),
  ]);
  return r.code === 124 ? "timeout" : r.stdout.trim() || `exit ${r.code}`;
}

/** What a UDP server answered to one datagram, or "timeout". */
async function ask(pid: number, host: string, port: number): Promise<string> {
  return (
    await sh("nsenter", ["-t", String(pid), "-n", "--", process.execPath, "-e", UDP_ASK_JS, host, String(port)])
  ).stdout.trim();
}

describe.skipIf(!isRoot)("egress policy on this host's kernel (needs root)", () => {
  // A table of this run: daemons of other checkouts on this host reload the shared "sbx" table with
  // their version of the rules. Its rules are the same, so the two tables agree on every packet
  // except where this run's rules are stricter (a drop in either table is final).
  const nm = new NetworkManager({ subnet: SUBNET, interfacePrefix: `se${RUN}`, tableName: `sbxt_${RUN}` });
  const children: ChildProcess[] = [];
  const slot = 1;
  let sb: number;
  let inet: number;

  async function holder(): Promise<number> {
    const c = spawn("unshare", ["--net", "--", "sleep", "120"], { stdio: "ignore" });
    children.push(c);
    const self = readlinkSync("/proc/self/ns/net");
    const own = () => {
      try {
        return readlinkSync(`/proc/${c.pid}/ns/net`) !== self;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 400 && !own(); i++) await new Promise((r) => setTimeout(r, 5));
    if (!own()) throw new Error("unshare --net did not give the holder its own network namespace");
    await inNs(c.pid!, ["ip", "link", "set", "lo", "up"]);
    return c.pid!;
  }
  const chainExists = async () =>
    (await sh("nft", ["list", "chain", "inet", nm.tableName, egressChain(nm.networkFor(slot).hostInterface)])).code ===
    0;

  beforeAll(async () => {
    [sb, inet] = [await holder(), await holder()];
    await must("ip", ["link", "add", INET_HOST, "type", "veth", "peer", "name", "eth0", "netns", String(inet)]);
    await must("ip", ["addr", "add", `${INET_GW}/30`, "dev", INET_HOST]);
    await must("ip", ["link", "set", INET_HOST, "up"]);
    await inNs(inet, ["ip", "addr", "add", `${INET_PEER}/30`, "dev", "eth0"]);
    for (const addr of [A, B]) await inNs(inet, ["ip", "addr", "add", `${addr}/32`, "dev", "lo"]);
    await inNs(inet, ["ip", "link", "set", "eth0", "up"]);
    await inNs(inet, ["ip", "route", "add", nm.subnet, "via", INET_GW]);
    for (const addr of [A, B]) await must("ip", ["route", "add", `${addr}/32`, "via", INET_PEER]);
    for (const js of [SERVER_JS, DNS_JS]) {
      const c = spawn("nsenter", ["-t", String(inet), "-n", "--", process.execPath, "-e", js, String(PORT), A], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      children.push(c);
      await new Promise<void>((resolve, reject) => {
        c.stdout!.once("data", () => resolve());
        c.once("exit", (code) => reject(new Error(`server exited ${code}`)));
      });
    }
  }, 30_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await sh("ip", ["link", "del", INET_HOST]);
    for (const s of [slot, 2]) await nm.detach("egress-test", s).catch(() => undefined);
    await sh("nft", ["delete", "table", "inet", nm.tableName]);
  }, 30_000);

  it("allowOut=[A] reaches A but not B", async () => {
    await nm.attach("egress-test", slot, sb, { allowOut: [A], denyOut: [] });
    expect(await reach(sb, A)).toBe(A);
    expect(await reach(sb, B)).toBe("timeout");
  }, 15_000);

  it("an update to denyOut=[A] swaps the result on the same namespace, in one quick transaction", async () => {
    const started = performance.now();
    await nm.setEgress("egress-test", slot, { allowOut: [], denyOut: [A] });
    const ms = performance.now() - started;
    console.log(`egress policy update took ${ms.toFixed(1)} ms`);
    expect(await reach(sb, B)).toBe(B);
    expect(await reach(sb, A)).toBe("timeout");
    expect(ms).toBeLessThan(2000);
  }, 15_000);

  it("denyOut wins over allowOut, and an open policy removes the chain", async () => {
    await nm.setEgress("egress-test", slot, { allowOut: [`198.19.${N}.0/24`], denyOut: [B] });
    expect([await reach(sb, A), await reach(sb, B)]).toEqual([A, "timeout"]);
    await nm.setEgress("egress-test", slot, { allowOut: [], denyOut: [] });
    expect(await chainExists()).toBe(false);
    expect([await reach(sb, A), await reach(sb, B)]).toEqual([A, B]);
  }, 15_000);

  it("cleanupLeaks removes the egress rules of slots that are not live, and keeps live ones", async () => {
    const other = 2; // a slot with rules but no veth, as a crash leaves them
    await nm.setEgress("egress-test", slot, { allowOut: [A], denyOut: [] });
    await nm.setEgress("egress-test", other, { allowOut: [A], denyOut: [] });
    await nm.cleanupLeaks(new Set([slot]));
    const has = async (s: number) =>
      (await sh("nft", ["list", "chain", "inet", nm.tableName, egressChain(nm.networkFor(s).hostInterface)])).code ===
      0;
    expect([await has(slot), await has(other)]).toEqual([true, false]);
    expect([await reach(sb, A), await reach(sb, B)]).toEqual([A, "timeout"]);
  }, 15_000);

  it("DNS (tcp and udp 53) to an address that is not a resolver is dropped, open policy or not; other ports of it are not", async () => {
    expect(nm.resolvers()).not.toContain(A);
    for (const policy of [
      { allowOut: [], denyOut: [] },
      { allowOut: [A], denyOut: [] },
    ]) {
      await nm.setEgress("egress-test", slot, policy);
      expect(await reach(sb, A), JSON.stringify(policy)).toBe(A);
      expect(await ask(sb, A, PORT)).toBe(`udp${PORT}`);
      expect(await reach(sb, A, 53)).toBe("timeout");
      expect(await ask(sb, A, 53)).toBe("timeout");
    }
    // The server does answer on 53 to whoever is not a sandbox: the drop is the policy.
    expect(
      (
        await sh("nsenter", ["-t", String(inet), "-n", "--", process.execPath, "-e", UDP_ASK_JS, A, "53"])
      ).stdout.trim(),
    ).toBe("udp53");
  }, 30_000);

  it("detach removes the sandbox's rules and map element", async () => {
    await nm.setEgress("egress-test", slot, { allowOut: [A], denyOut: [] });
    expect(await chainExists()).toBe(true);
    await nm.detach("egress-test", slot);
    expect(await chainExists()).toBe(false);
    const map = await must("nft", ["list", "map", "inet", nm.tableName, EGRESS_MAP]);
    expect(map).not.toContain(`"${nm.networkFor(slot).hostInterface}"`);
    await expect(nm.detach("egress-test", slot)).resolves.toBeUndefined();
  }, 15_000);
});
