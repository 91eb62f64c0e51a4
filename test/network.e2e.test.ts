// Networking as a sandbox sees it: no network at all, or NAT egress that reaches the outside but
// never the host (daemon API and host services included) nor another sandbox.
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CreateSandboxOptions, Sandbox } from "@sbx-sh/sdk";
import { startFakeInternet, type FakeInternet } from "./fake-internet.js";
import { useSandboxes } from "./fixtures.js";

const create = useSandboxes();
let hostServer: Server;
let hostPort = 0;

beforeAll(async () => {
  // A service on every host address, as a database or the daemon's TCP API would be.
  hostServer = createServer((sock) => sock.end("host-secret\n"));
  await new Promise<void>((r) => hostServer.listen(0, "0.0.0.0", r));
  hostPort = (hostServer.address() as { port: number }).port;
});
afterAll(() => {
  hostServer.close();
});

/** Unlike the other files, network access is on unless a test turns it off. */
function sandbox(opts: CreateSandboxOptions = {}): Promise<Sandbox> {
  return create({ allowInternetAccess: true, ...opts });
}

/** Tries a TCP connection from inside the sandbox and reports what came back. */
async function connect(sb: Sandbox, host: string, port: number): Promise<string> {
  const r = await sb.run("bash", {
    args: ["-c", `exec 3<>/dev/tcp/${host}/${port} && head -1 <&3 || echo refused`],
    timeout: 2,
  });
  return r.timedOut ? "timeout" : r.stdout.trim() || `exit ${r.exitCode}`;
}

function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === "IPv4" && !a.internal && !a.address.startsWith("10.12"))
    .map((a) => a!.address);
}

describe("network", () => {
  it("gives a sandbox without internet access only loopback", async () => {
    const sb = await sandbox({ allowInternetAccess: false });
    expect((await sb.run("ls", { args: ["/sys/class/net"] })).stdout.trim().split("\n")).toEqual(["lo"]);
    expect((await sb.info()).ipAddress).toBeNull();
    expect(await connect(sb, hostAddresses()[0]!, hostPort)).not.toBe("host-secret");
    // No DNS either: nothing to send it through, and no resolver configured.
    const lookup = await sb.run("getent", { args: ["hosts", "deb.debian.org"], timeout: 5 });
    expect([lookup.exitCode === 0, lookup.stdout]).toEqual([false, ""]);
    expect((await sb.readFile("/etc/resolv.conf")).toString()).not.toMatch(/nameserver/);
  });

  it("reaches the outside through NAT, with DNS", async () => {
    const sb = await sandbox();
    const ip = (await sb.info()).ipAddress!;
    // The shared test daemon's subnet: 10.<120 + 10 * SBX_TEST_SLOT>.0.0/16.
    expect(ip).toMatch(new RegExp(`^10\\.${120 + 10 * Number(process.env.SBX_TEST_SLOT || 0)}\\.`));
    const r = await sb.run("bash", {
      args: [
        "-c",
        'exec 3<>/dev/tcp/deb.debian.org/80 && printf "HEAD /debian/ HTTP/1.1\\r\\nHost: deb.debian.org\\r\\nConnection: close\\r\\n\\r\\n" >&3 && head -1 <&3',
      ],
      timeout: 20,
    });
    expect(r.stdout).toMatch(/^HTTP\/1\.[01] \d{3}/);
  });

  it("cannot reach the host's services on any host address", async () => {
    const sb = await sandbox();
    const gateway = (await sb.info()).ipAddress!.replace(/\.\d+$/, (m) => `.${Number(m.slice(1)) - 1}`);
    for (const addr of [gateway, ...hostAddresses()]) {
      expect(await connect(sb, addr, hostPort), `host service via ${addr}`).not.toBe("host-secret");
    }
    // The sandbox's own 127.0.0.1 is its own loopback, not the host's.
    expect(await connect(sb, "127.0.0.1", hostPort)).not.toBe("host-secret");
  });

  it("cannot reach another sandbox", async () => {
    const server = await sandbox();
    const peer = await sandbox();
    await server.startProcess("bash", {
      args: ["-c", "while :; do /.sbx/busybox nc -l -p 8080 -e /bin/echo sandbox-secret; done"],
    });
    // The server answers locally, so a refusal from the peer is the network policy.
    await expect.poll(async () => connect(server, "127.0.0.1", 8080), { timeout: 5000 }).toBe("sandbox-secret");
    expect(await connect(peer, (await server.info()).ipAddress!, 8080)).not.toBe("sandbox-secret");
  });
});

describe("egress policy", () => {
  let internet: FakeInternet | undefined;
  let [a, b, port] = ["", "", 0];

  beforeAll(async () => {
    internet = await startFakeInternet("sbte", 23000);
    ({ a, b, port } = internet);
  });
  afterAll(() => internet?.stop());

  it("allowOut reaches only the allowed address, and updateNetwork swaps it on the running sandbox", async () => {
    const sb = await sandbox({ allowOut: [a] });
    expect((await sb.info()).allowOut).toEqual([a]);
    expect(await connect(sb, a, port)).toBe(a);
    expect(await connect(sb, b, port)).toBe("timeout");
    const t0 = performance.now();
    const updated = await sb.updateNetwork({ allowOut: [], denyOut: [a] });
    console.log(`PATCH .../network took ${(performance.now() - t0).toFixed(1)} ms`);
    expect(updated).toMatchObject({ allowOut: [], denyOut: [a] });
    expect(await connect(sb, b, port)).toBe(b);
    expect(await connect(sb, a, port)).toBe("timeout");
  });

  it("rejects a malformed entry naming it", async () => {
    await expect(sandbox({ allowOut: ["10.0.0.0/33"] })).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringContaining("10.0.0.0/33"),
    });
  });
});
