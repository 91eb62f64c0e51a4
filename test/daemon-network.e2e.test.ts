// A daemon of its own (1 s egress name refresh, TCP API, restartable): host names in allowOut are
// re-resolved and the sandbox's chain follows a changed /etc/hosts entry with real traffic; a
// tunnel works over the TCP API with a bearer token; exposed ports survive a daemon restart (the
// proxy answers again, on its new port, with the same token).
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { startFakeInternet, type FakeInternet } from "./fake-internet.js";
import { TestDaemon, waitFor } from "./harness.js";

const tcpPort = 25000 + Math.floor(Math.random() * 5000);
const daemon = new TestDaemon({
  name: "daemon-network",
  netIndex: 6,
  extraArgs: ["--egress-refresh", "1", "--listen-tcp", `127.0.0.1:${tcpPort}`],
});
let client: SandboxClient;
const created: Sandbox[] = [];

let internet: FakeInternet | undefined;
let [a, b, port] = ["", "", 0];
const NAME = `sbx-refresh-${process.pid}-${Math.floor(Math.random() * 1000)}.test`;
const MARK = "# sbx daemon-network.e2e";

/** Points NAME at `addr` in /etc/hosts (rewritten in place: it may be a bind mount), or removes it. */
function setHost(addr: string | null): void {
  const kept = readFileSync("/etc/hosts", "utf8")
    .split("\n")
    .filter((l) => !l.includes(MARK) && l !== "");
  if (addr) kept.push(`${addr} ${NAME} ${MARK}`);
  writeFileSync("/etc/hosts", kept.join("\n") + "\n");
}

async function connect(sb: Sandbox, host: string): Promise<string> {
  const r = await sb.run("bash", {
    args: ["-c", `exec 3<>/dev/tcp/${host}/${port} && head -1 <&3 || echo refused`],
    timeout: 2,
  });
  return r.timedOut ? "timeout" : r.stdout.trim() || `exit ${r.exitCode}`;
}

beforeAll(async () => {
  internet = await startFakeInternet("sbtn", 24000);
  ({ a, b, port } = internet);

  await daemon.reset();
  await daemon.start();
  client = new SandboxClient({ host: daemon.host });
});

afterAll(async () => {
  setHost(null);
  for (const sb of created) await sb.terminate().catch(() => undefined);
  await client?.close();
  await daemon.stop();
  internet?.stop();
});

describe("egress host names are kept current", () => {
  it("follows a changed address of an allowOut name: info shows it and traffic moves with it", async () => {
    setHost(a);
    const sb = await Sandbox.create({ allowOut: [NAME] }, client);
    created.push(sb);
    const info = await sb.info();
    expect(info).toMatchObject({
      allowOut: [a],
      egressEntries: { allowOut: [NAME], denyOut: [] },
      egressHosts: { [NAME]: [a] },
    });
    expect([await connect(sb, a), await connect(sb, b)]).toEqual([a, "timeout"]);

    setHost(b);
    const moved = await waitFor(
      async () => {
        const s = await sb.info();
        return s.egressHosts[NAME]?.[0] === b ? s : undefined;
      },
      20_000,
      `the daemon to re-resolve ${NAME}`,
    );
    expect(moved).toMatchObject({ allowOut: [b], egressEntries: { allowOut: [NAME] } });
    expect([await connect(sb, b), await connect(sb, a)]).toEqual([b, "timeout"]);

    // A name that stops resolving keeps its last addresses: a resolver hiccup changes nothing.
    setHost(null);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await sb.info()).egressHosts).toEqual({ [NAME]: [b] });
    expect(await connect(sb, b)).toBe(b);
  });
});

describe("tunnels over the TCP API", () => {
  it("connects with the project's bearer token; a wrong token or another project's is refused", async () => {
    const sb = await Sandbox.create({}, client);
    created.push(sb);
    await sb.startProcess("/.sbx/busybox", { args: ["nc", "-ll", "-p", "5432", "-e", "/bin/cat"] });
    const { token } = await client.createToken("default");
    const remote = new SandboxClient({ host: `http://127.0.0.1:${tcpPort}`, token });
    const stream = await waitFor(
      async () => (await Sandbox.connect(sb.id, remote)).connect(5432).catch(() => undefined),
      10_000,
      "nc to listen",
    );
    const echoed = await new Promise<string>((resolve, reject) => {
      stream.once("data", (d: Buffer) => resolve(d.toString()));
      stream.once("error", reject);
      stream.write("over tcp\n");
    });
    expect(echoed).toBe("over tcp\n");
    stream.destroy();
    const { openPortStream } = await import("@sbx-sh/sdk/internal");
    await expect(
      openPortStream(
        new SandboxClient({ host: `http://127.0.0.1:${tcpPort}`, token: "sbx_wrong" }).transport,
        sb.id,
        5432,
      ),
    ).rejects.toMatchObject({ code: "unauthenticated" });
    await client.createProject("elsewhere");
    const other = new SandboxClient({
      host: `http://127.0.0.1:${tcpPort}`,
      token: (await client.createToken("elsewhere")).token,
    });
    await expect(openPortStream(other.transport, sb.id, 5432)).rejects.toMatchObject({ code: "sandbox_not_found" });
    await remote.close();
    await other.close();
  });
});

describe("exposed ports across a daemon restart", () => {
  it("keeps the exposure (same token) and the proxy reaches the sandbox again", async () => {
    const sb = await Sandbox.create({}, client);
    created.push(sb);
    await sb.writeFile("/srv/index.html", "still here\n");
    await sb.startProcess("/.sbx/busybox", { args: ["httpd", "-f", "-p", "8080", "-h", "/srv"] });
    const before = await sb.exposePort(8080);
    await daemon.stop();
    await daemon.start();
    const after = await waitFor(
      async () => (await client.listPorts(sb.id).catch(() => []))[0],
      10_000,
      "the daemon to answer",
    );
    expect(after).toMatchObject({ sandboxId: sb.id, port: 8080, public: false, token: before.token });
    const url = new URL(after.url);
    const get = (token?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: Number(url.port),
            path: "/index.html",
            headers: { host: url.host, ...(token ? { "x-sbx-token": token } : {}) },
          },
          (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
    expect(
      await waitFor(
        async () => {
          const r = await get(after.token);
          return r.status === 200 ? r : undefined;
        },
        10_000,
        "httpd behind the proxy",
      ),
    ).toEqual({ status: 200, body: "still here\n" });
    expect((await get()).status).toBe(401);
  });
});
