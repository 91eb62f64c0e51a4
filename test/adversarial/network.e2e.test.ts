// Network attacks from inside real sandboxes on a real daemon (one of our own, also serving TCP on
// every host address): the daemon's socket and port, host listeners on loopback, the wildcard and
// the veth gateway, other sandboxes, hand-made frames with forged sources, ARP spoofing, and
// link-local metadata. Each attack checks the receiving side saw nothing, next to a control that
// shows the same receiver does see legitimate traffic.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { connect as connectTcp, createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient, type CreateSandboxOptions } from "@sbx-sh/sdk";
import { TestDaemon } from "../harness.js";
import {
  ATTACK,
  buildAttackTool,
  FakeInternet,
  freePort,
  gatewayOf,
  hostVeth,
  installAttackTool,
  must,
  primaryAddress,
  spoofDrops,
} from "./helpers.js";

let daemon: TestDaemon;
let client: SandboxClient;
let apiPort = 0;
let tool: Buffer;
let inet: FakeInternet;
const primary = primaryAddress();
const created: Sandbox[] = [];
const servers: Server[] = [];
const udp: UdpSocket[] = [];

async function sandbox(opts: CreateSandboxOptions = {}): Promise<Sandbox> {
  const sb = await Sandbox.create({ allowInternetAccess: true, ...opts }, client);
  created.push(sb);
  await installAttackTool(sb, tool);
  return sb;
}

beforeAll(async () => {
  tool = buildAttackTool();
  apiPort = await freePort();
  daemon = new TestDaemon({ name: "advnet", netIndex: 6, extraArgs: ["--listen-tcp", `0.0.0.0:${apiPort}`] });
  await daemon.reset();
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
  inet = new FakeInternet(await freePort());
  await inet.start();
});
afterAll(async () => {
  for (const sb of created) await sb.terminate().catch(() => undefined);
  for (const s of servers) s.close();
  for (const u of udp) u.close();
  inet?.stop();
  await daemon?.stop();
});

/** A TCP service on the host that records every peer that got through. */
async function hostTcp(address: string, seen: string[]): Promise<number> {
  const srv = createServer((s) => {
    seen.push(`${address} <- ${s.remoteAddress}`);
    s.end("host-secret\n");
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, address, r));
  return (srv.address() as { port: number }).port;
}

async function hostUdp(seen: string[]): Promise<number> {
  const u = createSocket("udp4");
  udp.push(u);
  u.on("message", (m, r) => seen.push(`${m.toString().trim()} from ${r.address}`));
  await new Promise<void>((r) => u.bind(0, "0.0.0.0", r));
  return u.address().port;
}

async function sh(sb: Sandbox, script: string, timeout = 10): Promise<string> {
  const r = await sb.run("bash", { args: ["-c", script], timeout });
  return r.stdout + r.stderr;
}

/** A TCP connection (with an HTTP request, for the daemon) from inside; what came back, if anything. */
async function connect(sb: Sandbox, host: string, port: number): Promise<string> {
  const r = await sb.run("bash", {
    args: [
      "-c",
      `exec 3<>/dev/tcp/${host}/${port} && printf 'GET /v1/sandboxes HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3`,
    ],
    timeout: 3,
  });
  if (r.timedOut) return "timeout";
  // bash says why the connection failed: "Connection refused", "Cannot assign requested address", ...
  return r.stdout.trim() || `failed: ${/connect: (.*)/.exec(r.stderr)?.[1] ?? r.stderr.trim()}`;
}

describe("adversarial network", () => {
  it("cannot see or connect to the daemon's unix socket", async () => {
    expect(existsSync(daemon.socket)).toBe(true);
    for (const sb of [await sandbox(), await sandbox({ allowInternetAccess: false })]) {
      expect(await sh(sb, `ls -la ${daemon.socket} 2>&1; echo rc=$?`)).toMatch(/No such file.*\n.*rc=[12]/s);
      expect(await sh(sb, `${ATTACK} unix ${daemon.socket}`)).toMatch(/^refused: No such file/);
      // Unix sockets (abstract ones included) are per network namespace: the host's are not listed.
      expect(await sh(sb, "cat /proc/net/unix")).not.toContain("sbxd.sock");
    }
  });

  it("cannot reach the daemon's TCP API on loopback, the primary address or its gateway", async () => {
    // Control: the API answers on both addresses from the host (401 without a token).
    for (const addr of ["127.0.0.1", primary])
      expect((await fetch(`http://${addr}:${apiPort}/v1/sandboxes`)).status).toBe(401);
    const sb = await sandbox();
    const gateway = gatewayOf((await sb.info()).ipAddress!);
    for (const addr of ["127.0.0.1", primary, gateway]) {
      expect(await connect(sb, addr, apiPort), `daemon API via ${addr}`).not.toMatch(/HTTP/);
    }
  });

  it("cannot reach host services bound to 127.0.0.1, 0.0.0.0, :: or the veth gateway, even with hand-made frames", async () => {
    const sb = await sandbox();
    const gateway = gatewayOf((await sb.info()).ipAddress!);
    // Sandboxes get IPv4 only, but their eth0 has an IPv6 link-local address, and so has the host's end.
    const veth = hostVeth(gateway).name;
    // Usable once duplicate address detection is over, a second or two after the veth came up.
    await expect
      .poll(() => must(["ip", "-6", "addr", "show", "dev", veth, "scope", "link"]), { timeout: 15_000 })
      .not.toMatch(/tentative|^$/);
    const settled = async (): Promise<boolean> => {
      const lines = (await sh(sb, "cat /proc/net/if_inet6")).split("\n").filter((l) => l.endsWith("eth0"));
      return lines.length > 0 && lines.every((l) => (parseInt(l.split(/\s+/)[4]!, 16) & 0x40) === 0); // IFA_F_TENTATIVE
    };
    await expect.poll(settled, { timeout: 15_000 }).toBe(true);
    const ll6 = (
      JSON.parse(must(["ip", "-j", "-6", "addr", "show", "dev", veth, "scope", "link"])) as Array<{
        addr_info: Array<{ local: string }>;
      }>
    )[0]!.addr_info[0]!.local;
    const seen: string[] = [];
    const ports = {
      lo: await hostTcp("127.0.0.1", seen),
      any: await hostTcp("0.0.0.0", seen),
      gw: await hostTcp(gateway, seen),
      any6: await hostTcp("::", seen),
    };
    const attempts = Object.entries(ports).flatMap(([name, port]) =>
      ["127.0.0.1", gateway, primary, `${ll6}%eth0`].map((addr) => ({ what: `${name}@${addr}`, addr, port })),
    );
    const results = await Promise.all(
      attempts.map(async (t) => ({ what: t.what, got: await connect(sb, t.addr, t.port) })),
    );
    for (const r of results) expect(r.got, r.what).not.toContain("host-secret");
    expect(seen).toEqual([]);
    // Over IPv6 the SYN did leave the sandbox (no "cannot assign address"): the host dropped it.
    for (const r of results.filter((x) => x.what.includes("%eth0"))) expect(r.got, r.what).toBe("timeout");

    // Frames addressed to the host's veth MAC with a loopback (or gateway) destination: routing in
    // the sandbox is bypassed, so only the host's kernel and nft policy stand in the way.
    const udpSeen: string[] = [];
    const udpPort = await hostUdp(udpSeen);
    const { mac } = hostVeth(gateway);
    const ip = (await sb.info()).ipAddress!;
    for (const [dst, tag] of [
      ["127.0.0.1", "to-loopback"],
      [gateway, "to-gateway"],
      [primary, "to-primary"],
    ] as const) {
      expect(await sh(sb, `${ATTACK} udp eth0 ${mac} ${ip} ${dst} ${udpPort} 5 ${tag}`)).toBe("sent 5\n");
    }
    // Control: the listener counts what reaches it.
    must(["bash", "-c", `echo control > /dev/udp/127.0.0.1/${udpPort}`]);
    await expect.poll(() => udpSeen.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(udpSeen).toEqual(["control from 127.0.0.1"]);
  });

  it("cannot reach another sandbox by TCP, UDP or ping", async () => {
    const [a, b] = [await sandbox(), await sandbox()];
    const bIp = (await b.info()).ipAddress!;
    await b.startProcess("bash", {
      args: ["-c", "while :; do /.sbx/busybox nc -l -p 8080 -e /bin/echo sandbox-secret; done"],
    });
    const listener = await b.startProcess(ATTACK, { args: ["listen", "9999", "6000"] });
    await expect.poll(async () => connect(b, "127.0.0.1", 8080), { timeout: 10_000 }).toBe("sandbox-secret");
    await sh(b, "echo control > /dev/udp/127.0.0.1/9999");
    expect(await connect(a, bIp, 8080)).not.toBe("sandbox-secret");
    await sh(a, `for i in 1 2 3; do echo from-a > /dev/udp/${bIp}/9999; done`);
    expect(await sh(a, `/.sbx/busybox ping -c 2 -W 1 ${bIp} >/dev/null 2>&1; echo rc=$?`)).toBe("rc=1\n");
    // Control: ping itself works (the sandbox has CAP_NET_RAW), so the failure above is the network.
    expect(await sh(a, "/.sbx/busybox ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1; echo rc=$?")).toBe("rc=0\n");
    const heard = (await listener.wait()).stdout;
    expect(heard).toBe("listening\ngot control\n");
  });

  it("drops frames with forged source addresses (another sandbox's, the host's) and counts them", async () => {
    const [a, b] = [await sandbox(), await sandbox()];
    const [aIp, bIp] = [(await a.info()).ipAddress!, (await b.info()).ipAddress!];
    const aGw = gatewayOf(aIp);
    const { mac } = hostVeth(aGw);
    const hostSeen: string[] = [];
    const hostPort = await hostUdp(hostSeen);
    const listener = await b.startProcess(ATTACK, { args: ["listen", "9999", "8000"] });
    await expect.poll(async () => (await b.run("cat", { args: ["/proc/net/udp"] })).stdout).toMatch(/:270F /);
    const before = spoofDrops();
    const send = (src: string, dst: string, port: number, tag: string) =>
      sh(a, `${ATTACK} udp eth0 ${mac} ${src} ${dst} ${port} 5 ${tag}`);
    // Control first: the same tool with a's own address reaches the internet (NATed).
    expect(await send(aIp, inet.server, inet.port, "legit")).toBe("sent 5\n");
    await send(bIp, inet.server, inet.port, "as-b");
    await send(primary, inet.server, inet.port, "as-host");
    await send(inet.peer, inet.server, inet.port, "as-inet");
    await send(aGw, bIp, 9999, "to-b-as-gateway");
    await send(bIp, aGw, hostPort, "to-host-as-b");
    await send(bIp, "127.0.0.1", hostPort, "to-loopback-as-b");
    await expect.poll(() => inet.udpSeen.filter((l) => l.startsWith("udp legit")).length).toBe(5);
    await new Promise((r) => setTimeout(r, 500));
    expect(inet.udpSeen.filter((l) => !l.startsWith("udp legit"))).toEqual([]);
    expect(hostSeen).toEqual([]);
    // The 5 packets each of as-b, as-host, as-inet, to-host-as-b and to-loopback-as-b fail the reverse-path check.
    expect(spoofDrops() - before).toBeGreaterThanOrEqual(25);
    await sh(b, "echo control > /dev/udp/127.0.0.1/9999");
    expect((await listener.wait()).stdout).toBe("listening\ngot control\n");
  });

  it("ARP spoofing poisons nothing: the host keeps every neighbour where it was", async () => {
    const [a, b] = [await sandbox(), await sandbox()];
    const [aIp, bIp] = [(await a.info()).ipAddress!, (await b.info()).ipAddress!];
    await b.startProcess("bash", { args: ["-c", "while :; do /.sbx/busybox nc -l -p 8080 -e /bin/echo b-here; done"] });
    const aMac = (await sh(a, "cat /sys/class/net/eth0/address")).trim();
    for (const claim of [gatewayOf(aIp), bIp, gatewayOf(bIp), primary, inet.gw]) {
      expect(await sh(a, `${ATTACK} arp eth0 ${claim} 6`)).toBe("sent 6\n");
    }
    await new Promise((r) => setTimeout(r, 300));
    const neigh = JSON.parse(must(["ip", "-j", "-4", "neigh"])) as Array<{ dst: string; dev: string; lladdr?: string }>;
    expect(neigh.filter((n) => n.lladdr === aMac && n.dst !== aIp)).toEqual([]);
    // b still answers the host at its own address: its traffic was not redirected to a.
    const reply = await new Promise<string>((resolve, reject) => {
      let data = "";
      connectTcp(8080, bIp)
        .on("data", (d) => (data += d.toString()))
        .on("end", () => resolve(data))
        .on("error", reject);
    });
    expect(reply).toBe("b-here\n");
  });

  it("never reaches link-local addresses, even when its egress policy allows them", async () => {
    const sb = await sandbox({ allowOut: [inet.server, "169.254.0.0/16"] });
    expect(await connect(sb, inet.server, inet.port)).toBe("inet");
    expect(await connect(sb, inet.linkLocal, inet.port)).toBe("timeout");
    expect(await connect(sb, "169.254.169.254", 80)).not.toMatch(/HTTP/);
    // Control: the host itself reaches the same link-local service.
    const r = must(["bash", "-c", `timeout 3 bash -c 'exec 3<>/dev/tcp/${inet.linkLocal}/${inet.port}; head -1 <&3'`]);
    expect(r).toBe("inet\n");
  });
});
