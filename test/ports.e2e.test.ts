// Exposed ports and tunnels with real traffic: an HTTP server, a TCP echo and a hand-made
// WebSocket endpoint inside a sandbox, reached through the daemon's HTTP proxy (tokens, public
// ports, upgrades) and through the tunnel WebSocket (SDK and `sbx tunnel`); closing a port and
// terminating the sandbox remove access; bad input gets stable codes.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Sandbox, SandboxClient } from "@sbx-sh/sdk";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO, waitFor } from "./harness.js";

const create = useSandboxes();
const client = sharedClient();
let sb: Sandbox;
let proxyPort = 0;

// Answers a WebSocket handshake by hand (the key proves the request got through), then echoes bytes.
const WS_SCRIPT = `#!/bin/bash
key=
while IFS= read -r line; do
  line=\${line%$'\\r'}
  [ -z "$line" ] && break
  case "\${line,,}" in sec-websocket-key:*) key=$(echo "\${line#*:}" | tr -d ' ') ;; esac
done
acc=$(printf '%s' "\${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | /.sbx/busybox sha1sum | cut -d' ' -f1 | /.sbx/busybox xxd -r -p | /.sbx/busybox base64)
printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: %s\\r\\n\\r\\n' "$acc"
exec cat
`;

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A request to the proxy with the given Host name (no DNS needed for *.localhost). */
function viaProxy(host: string, path = "/", headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: proxyPort, path, headers: { host, ...headers } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

const hostOf = (port: number, id = sb.id) => `${port}-${id}.localhost:${proxyPort}`;
const codeOf = (a: Answer) => (JSON.parse(a.body) as { error: { code: string } }).error.code;

/** Writes `data` and reads until `expect` bytes came back (or the stream ended). */
function roundTrip(stream: Duplex | Socket, data: Buffer, expectBytes = data.length): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const done = () => resolve(Buffer.concat(chunks));
    stream.on("data", (d: Buffer) => {
      chunks.push(d);
      n += d.length;
      if (n >= expectBytes) done();
    });
    stream.once("end", done);
    stream.once("error", reject);
    stream.write(data);
  });
}

beforeAll(async () => {
  sb = await create({ allowInternetAccess: true });
  await sb.writeFile("/srv/index.html", "hello from the sandbox\n");
  await sb.writeFile("/srv/ws.sh", WS_SCRIPT);
  await sb.run("chmod", { args: ["+x", "/srv/ws.sh"] });
  await sb.startProcess("/.sbx/busybox", { args: ["httpd", "-f", "-p", "8080", "-h", "/srv"] });
  await sb.startProcess("/.sbx/busybox", { args: ["nc", "-ll", "-p", "5432", "-e", "/bin/cat"] });
  await sb.startProcess("/.sbx/busybox", { args: ["nc", "-ll", "-p", "9000", "-e", "/srv/ws.sh"] });
  const listening = async () =>
    (await sb.run("sh", { args: ["-c", "cat /proc/net/tcp /proc/net/tcp6 | awk '$4 == \"0A\" {print $2}'"] })).stdout;
  // The proxy's port (test daemons take any free one) is in every exposure's URL.
  proxyPort = Number(new URL((await sb.exposePort(1)).url).port);
  await sb.closePort(1);
  // 8080, 5432 and 9000 in /proc/net/tcp's hex.
  await waitFor(
    async () => {
      const l = await listening();
      return ["1F90", "1538", "2328"].every((p) => l.includes(`:${p}`));
    },
    10_000,
    "the servers to listen",
  );
});

describe("exposed ports through the proxy", () => {
  let token = "";

  it("exposes a port with a URL and token; without the token it is refused, with it the server answers", async () => {
    const e = await sb.exposePort(8080);
    expect(e).toMatchObject({ sandboxId: sb.id, port: 8080, public: false });
    const url = new URL(e.url);
    expect([url.hostname, Number(url.port)]).toEqual([`8080-${sb.id}.localhost`, proxyPort]);
    token = e.token;
    expect(token.length).toBeGreaterThanOrEqual(24);

    const none = await viaProxy(hostOf(8080), "/index.html");
    expect([none.status, codeOf(none)]).toEqual([401, "unauthenticated"]);
    // One character changed, and never to itself (a token starting with "x" made "x" + rest the right one).
    const wrong = await viaProxy(hostOf(8080), "/index.html", {
      "x-sbx-token": (token.startsWith("x") ? "y" : "x") + token.slice(1),
    });
    expect([wrong.status, codeOf(wrong)]).toEqual([403, "permission_denied"]);
    const ok = await viaProxy(hostOf(8080), "/index.html", { "x-sbx-token": token });
    expect([ok.status, ok.body]).toEqual([200, "hello from the sandbox\n"]);
  });

  it("takes the token once in the query: a redirect to the URL without it sets an HttpOnly cookie, accepted after", async () => {
    const first = await viaProxy(hostOf(8080), `/index.html?a=1&sbx_token=${encodeURIComponent(token)}`);
    expect([first.status, first.headers.location]).toEqual([303, "/index.html?a=1"]);
    const cookie = String(first.headers["set-cookie"]);
    expect(cookie).toContain(`sbx_token=${token}`);
    expect(cookie).toContain("HttpOnly");
    const again = await viaProxy(hostOf(8080), "/index.html", { cookie: `other=1; sbx_token=${token}` });
    expect([again.status, again.body]).toEqual([200, "hello from the sandbox\n"]);
    expect((await viaProxy(hostOf(8080), "/index.html", { cookie: "sbx_token=nope" })).status).toBe(403);
  });

  it("re-exposing is idempotent (same token); --public needs no token; listing shows it", async () => {
    const e = await sb.exposePort(8080, { public: true });
    expect(e).toMatchObject({ port: 8080, public: true, token });
    const open = await viaProxy(hostOf(8080), "/index.html");
    expect([open.status, open.body]).toEqual([200, "hello from the sandbox\n"]);
    expect((await sb.listPorts()).map((p) => [p.port, p.public])).toEqual([[8080, true]]);
    await sb.exposePort(8080, { public: false });
    expect((await viaProxy(hostOf(8080), "/index.html")).status).toBe(401);
  });

  it("answers 404 for unknown hosts and ports that are not exposed, 502 when nothing listens", async () => {
    for (const host of [
      `localhost:${proxyPort}`,
      hostOf(8081),
      hostOf(8080, "sb-doesnotexist"),
      `8080-${sb.id}.example.com`,
    ]) {
      const a = await viaProxy(host, "/");
      expect([a.status, codeOf(a)], host).toEqual([404, "not_found"]);
    }
    const e = await sb.exposePort(8089);
    const dead = await viaProxy(hostOf(8089), "/", { "x-sbx-token": e.token });
    expect([dead.status, codeOf(dead)]).toEqual([502, "upstream_unreachable"]);
    await sb.closePort(8089);
  });

  it("passes a WebSocket upgrade through: the 101 carries the right accept key, then bytes flow both ways", async () => {
    const e = await sb.exposePort(9000);
    const key = Buffer.from("sbx-ws-test-key!").toString("base64");
    const sock = connect({ host: "127.0.0.1", port: proxyPort });
    await new Promise((r) => sock.once("connect", r));
    const head = await roundTrip(
      sock,
      Buffer.from(
        `GET /chat HTTP/1.1\r\nHost: ${hostOf(9000)}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\nX-Sbx-Token: ${e.token}\r\n\r\n`,
      ),
      1,
    );
    let text = head.toString();
    while (!text.includes("\r\n\r\n")) text += (await new Promise<Buffer>((r) => sock.once("data", r))).toString();
    const accept = createHash("sha1")
      .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
      .digest("base64");
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(text).toContain(`Sec-WebSocket-Accept: ${accept}`);
    const payload = Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e]);
    expect(await roundTrip(sock, payload)).toEqual(payload);
    sock.destroy();

    const refused = connect({ host: "127.0.0.1", port: proxyPort });
    await new Promise((r) => refused.once("connect", r));
    const answer = (
      await roundTrip(
        refused,
        Buffer.from(`GET / HTTP/1.1\r\nHost: ${hostOf(9000)}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`),
        1 << 20,
      )
    ).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toContain('"code":"unauthenticated"');
  });

  it("close removes access at once, and cuts connections open through the proxy", async () => {
    await sb.exposePort(8080, { public: true });
    expect((await viaProxy(hostOf(8080), "/index.html")).status).toBe(200);
    const e = await sb.exposePort(9000);
    const ws = connect({ host: "127.0.0.1", port: proxyPort });
    await new Promise((r) => ws.once("connect", r));
    const head = `GET / HTTP/1.1\r\nHost: ${hostOf(9000)}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${Buffer.from("0123456789abcdef").toString("base64")}\r\nX-Sbx-Token: ${e.token}\r\n\r\n`;
    expect((await roundTrip(ws, Buffer.from(head), 1)).toString()).toMatch(/^HTTP\/1\.1 101/);
    const ended = new Promise((r) => ws.once("close", r));
    await sb.closePort(9000);
    await ended;
    expect(await sb.closePort(8080)).toMatchObject({ port: 8080 });
    expect((await viaProxy(hostOf(8080), "/index.html")).status).toBe(404);
    await expect(sb.closePort(8080)).rejects.toMatchObject({ code: "not_found" });
  });

  it("a suspended sandbox's port answers 503; the exposure stays, and works again after resume", async () => {
    const named = await create({ allowInternetAccess: true, name: `ports-suspend-${process.pid}` });
    const serve = () => named.startProcess("/.sbx/busybox", { args: ["httpd", "-f", "-p", "8080", "-h", "/"] });
    await serve();
    const e = await named.exposePort(8080, { public: true });
    await waitFor(async () => (await viaProxy(hostOf(8080, named.id), "/")).status !== 502, 10_000, "httpd");
    await named.suspend();
    const down = await viaProxy(hostOf(8080, named.id), "/");
    expect([down.status, codeOf(down)]).toEqual([503, "sandbox_not_running"]);
    expect(JSON.parse(down.body).error.message).toContain("resume");
    await named.resume();
    expect(await named.listPorts()).toEqual([e]);
    await serve();
    await waitFor(
      async () => (await viaProxy(hostOf(8080, named.id), "/")).status !== 502,
      10_000,
      "httpd after resume",
    );
    expect((await viaProxy(hostOf(8080, named.id), "/")).status).not.toBe(503);
  });

  it("caps a sandbox's exposed ports at 64: one more is out_of_range, re-exposing one is not", async () => {
    // Unbounded, one project's exposures were rows without end, and a Tensorlake PATCH naming thousands
    // of ports held the daemon's event loop for seconds (a cluster node missed its lease: lost).
    const many = await create({ allowInternetAccess: true });
    for (let port = 20000; port < 20064; port++) await many.exposePort(port);
    await expect(many.exposePort(20064)).rejects.toMatchObject({
      code: "out_of_range",
      message: expect.stringMatching(/64 exposed ports/),
    });
    await many.exposePort(20000, { public: true });
    const ports = await many.listPorts();
    expect(ports).toHaveLength(64);
    expect(ports.find((p) => p.port === 20000)?.public).toBe(true);
    await many.closePort(20001);
    await many.exposePort(20064);
    await many.terminate();
  });

  it("terminate removes a sandbox's exposures and ends its open tunnels", async () => {
    const other = await create({ allowInternetAccess: true });
    await other.startProcess("/.sbx/busybox", { args: ["httpd", "-f", "-p", "8080", "-h", "/"] });
    await other.startProcess("/.sbx/busybox", { args: ["nc", "-ll", "-p", "5432", "-e", "/bin/cat"] });
    await other.exposePort(8080, { public: true });
    expect(await other.listPorts()).toHaveLength(1);
    const tunnel = await waitFor(() => other.connect(5432).catch(() => undefined), 10_000, "nc");
    expect((await roundTrip(tunnel, Buffer.from("x\n"))).toString()).toBe("x\n");
    // ws streams emit no "close"; the end of the readable side is the end of the connection.
    const ended = new Promise((r) => tunnel.once("end", r));
    tunnel.resume();
    await other.terminate();
    await ended;
    expect(await other.listPorts()).toEqual([]);
    const a = await viaProxy(hostOf(8080, other.id), "/");
    expect([a.status, codeOf(a)]).toEqual([404, "not_found"]);
  });
});

describe("tunnels", () => {
  it("sandbox.connect round-trips bytes of a plain TCP echo, twice at once", async () => {
    const [a, b] = await Promise.all([sb.connect(5432), sb.connect(5432)]);
    const big = Buffer.alloc(256 * 1024, 7);
    const [ra, rb] = await Promise.all([roundTrip(a, Buffer.from("ping\n")), roundTrip(b, big)]);
    expect(ra.toString()).toBe("ping\n");
    expect(rb.equals(big)).toBe(true);
    a.destroy();
    b.destroy();
  });

  it("refuses with stable codes: nothing listening, unknown sandbox, other project, bad port", async () => {
    await expect(sb.connect(5999)).rejects.toMatchObject({ code: "upstream_unreachable" });
    await expect((await Sandbox.connect(sb.id, client)).connect(0)).rejects.toMatchObject({ code: "out_of_range" });
    const ghost = new SandboxClient({ host: inject("sbxHost"), project: "ports-other" });
    await client.createProject("ports-other").catch(() => undefined);
    await expect(ghost.listPorts(sb.id)).rejects.toMatchObject({ code: "sandbox_not_found" });
    await expect(ghost.exposePort(sb.id, 8080)).rejects.toMatchObject({ code: "sandbox_not_found" });
    const { openPortStream } = await import("@sbx-sh/sdk/internal");
    await expect(openPortStream(ghost.transport, sb.id, 5432)).rejects.toMatchObject({ code: "sandbox_not_found" });
    await expect(openPortStream(client.transport, "sb-doesnotexist", 5432)).rejects.toMatchObject({
      code: "sandbox_not_found",
    });
  });

  it("sbx tunnel listens locally and forwards each connection", async () => {
    const child = spawn(
      process.execPath,
      [join(REPO, "packages", "cli", "bin", "sbx.js"), "tunnel", sb.id, "5432", "-l", "0", "--json"],
      { env: { ...process.env, SBX_HOST: inject("sbxHost") }, stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(out);
        });
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.once("exit", (code) => reject(new Error(`sbx tunnel exited ${code}: ${err}`)));
      });
      const { localPort } = JSON.parse(line) as { localPort: number };
      for (const word of ["first\n", "second\n"]) {
        const sock = connect({ host: "127.0.0.1", port: localPort });
        expect((await roundTrip(sock, Buffer.from(word))).toString()).toBe(word);
        sock.destroy();
      }
    } finally {
      child.kill("SIGINT");
    }
  });
});

describe("sbx CLI", () => {
  it("sbx new -p exposes the port at create time and says where; sbx port ls/close see it", async () => {
    const sbx = (args: string[]) =>
      spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
        env: { ...process.env, SBX_HOST: inject("sbxHost") },
        encoding: "utf8",
        timeout: 120_000,
      });
    const made = sbx(["new", "-p", "8080", "-p", "9000", "--public"]);
    expect(made.status, made.stderr).toBe(0);
    const id = made.stdout.trim();
    try {
      expect(made.stderr).toContain(`http://8080-${id}.localhost:${proxyPort}/`);
      expect(
        (JSON.parse(sbx(["port", "ls", id, "--json"]).stdout) as Array<{ port: number; public: boolean }>).map((p) => [
          p.port,
          p.public,
        ]),
      ).toEqual([
        [8080, true],
        [9000, true],
      ]);
      expect(sbx(["port", "close", id, "9000"]).status).toBe(0);
      expect(sbx(["port", "ls", id]).stdout).not.toContain("9000");
      const bad = sbx(["port", "expose", id, "70000"]);
      expect([bad.status, bad.stderr]).toEqual([1, expect.stringContaining("port: a TCP port is 1..65535")]);
    } finally {
      sbx(["rm", id]);
    }
  });
});

describe("bad input", () => {
  it("refuses bad ports, unknown sandboxes and sandboxes without network with stable codes", async () => {
    await expect(client.exposePort(sb.id, 0)).rejects.toMatchObject({ code: "out_of_range" });
    await expect(client.exposePort(sb.id, 70000)).rejects.toMatchObject({ code: "out_of_range" });
    await expect(
      client.transport.json("POST", `/v1/sandboxes/${sb.id}/ports/http`, { json: {} }),
    ).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(
      client.transport.json("POST", `/v1/sandboxes/${sb.id}/ports/80`, { json: { public: "yes" } }),
    ).rejects.toMatchObject({ code: "invalid_argument" });
    await expect(client.exposePort("sb-doesnotexist", 8080)).rejects.toMatchObject({ code: "sandbox_not_found" });
    const offline = await create({ allowInternetAccess: false });
    await expect(offline.exposePort(8080)).rejects.toMatchObject({ code: "failed_precondition" });
    await expect(offline.connect(8080)).rejects.toMatchObject({ code: "failed_precondition" });
    expect(await sb.listPorts()).not.toContainEqual(expect.objectContaining({ port: 80 }));
  });
});

afterAll(async () => {
  await client.close();
});
