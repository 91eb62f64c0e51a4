// Network benchmarks: an egress policy update on a running sandbox (next to loading the same nft
// script by hand), an HTTP request through the port proxy and a TCP round trip through a tunnel
// (each next to the same thing sent straight to the sandbox's address from the host).
import { execFileSync } from "node:child_process";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { egressRuleset } from "../packages/daemon/src/runtime/egress-ruleset.js";
import { EGRESS_MAP } from "../packages/daemon/src/runtime/nft-ruleset.js";
import { Sandbox, type SandboxClient } from "@sbx-sh/sdk";
import { atMost, percentile, timeIt, type Section } from "./stats.js";

const BENCH_TABLE = "sbxbench";

function get(port: number, host: string, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/index.html", headers: { host, ...headers }, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function echo(stream: Duplex | Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once("data", () => resolve());
    stream.once("error", reject);
    stream.write("ping\n");
  });
}

export async function networkSection(client: SandboxClient, n: number): Promise<Section> {
  const sb = await Sandbox.create({}, client);
  const ip = (await sb.info()).ipAddress!;
  await sb.writeFile("/srv/index.html", "hello\n");
  await sb.startProcess("/.sbx/busybox", { args: ["httpd", "-f", "-p", "8080", "-h", "/srv"] });
  await sb.startProcess("/.sbx/busybox", { args: ["nc", "-ll", "-p", "5432", "-e", "/bin/cat"] });
  await new Promise((r) => setTimeout(r, 500));

  // Policy updates, alternating between two allow lists so each one changes the chain.
  const update: number[] = [];
  const rawNft: number[] = [];
  execFileSync("nft", ["-f", "-"], {
    input: `add table inet ${BENCH_TABLE}\nadd map inet ${BENCH_TABLE} ${EGRESS_MAP} { type ifname : verdict; }\n`,
  });
  try {
    for (let i = 0; i < n; i++) {
      const allowOut = [i % 2 ? "198.51.100.1" : "198.51.100.2", "203.0.113.0/24"];
      update.push(await timeIt(() => sb.updateNetwork({ allowOut })));
      const script = egressRuleset(BENCH_TABLE, "sbxbench0", { allowOut, denyOut: [] }, ["10.255.255.53"]);
      rawNft.push(await timeIt(async () => execFileSync("nft", ["-f", "-"], { input: script })));
    }
  } finally {
    execFileSync("nft", ["delete", "table", "inet", BENCH_TABLE]);
  }
  await sb.updateNetwork({ allowOut: [], denyOut: [] });

  const exposed = await sb.exposePort(8080);
  const url = new URL(exposed.url);
  const viaProxy: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < n; i++) {
    viaProxy.push(await timeIt(() => get(Number(url.port), url.host, { "x-sbx-token": exposed.token })));
    direct.push(
      await timeIt(
        () =>
          new Promise<void>((resolve, reject) => {
            request({ host: ip, port: 8080, path: "/index.html", agent: false }, (res) =>
              res.resume().on("end", resolve),
            )
              .on("error", reject)
              .end();
          }),
      ),
    );
  }

  const tunnel: number[] = [];
  const tcp: number[] = [];
  for (let i = 0; i < n; i++) {
    let s: Duplex | undefined;
    tunnel.push(
      await timeIt(async () => {
        s = await sb.connect(5432);
        await echo(s);
      }),
    );
    s!.destroy();
    let t: Socket | undefined;
    tcp.push(
      await timeIt(async () => {
        t = connect({ host: ip, port: 5432 });
        await new Promise((r) => t!.once("connect", r));
        await echo(t);
      }),
    );
    t!.destroy();
  }
  await sb.terminate();

  const rows = [
    {
      what: "egress policy update on a running sandbox, p50",
      sbx: percentile(update, 50),
      baseline: percentile(rawNft, 50),
      baselineName: "the same nft script by hand",
      n: update.length,
      target: "p50 ≤ 100 ms",
      pass: atMost(percentile(update, 50), 100),
    },
    {
      what: "egress policy update on a running sandbox, p99",
      sbx: percentile(update, 99),
      baseline: percentile(rawNft, 99),
      baselineName: "the same nft script by hand",
      n: update.length,
    },
    {
      what: "HTTP GET through the port proxy (new connection), p50",
      sbx: percentile(viaProxy, 50),
      baseline: percentile(direct, 50),
      baselineName: "GET to the sandbox address",
      n: viaProxy.length,
    },
    {
      what: "HTTP GET through the port proxy (new connection), p99",
      sbx: percentile(viaProxy, 99),
      baseline: percentile(direct, 99),
      baselineName: "GET to the sandbox address",
      n: viaProxy.length,
    },
    {
      what: "tunnel: connect + first echo, p50",
      sbx: percentile(tunnel, 50),
      baseline: percentile(tcp, 50),
      baselineName: "TCP to the sandbox address",
      n: tunnel.length,
    },
    {
      what: "tunnel: connect + first echo, p99",
      sbx: percentile(tunnel, 99),
      baseline: percentile(tcp, 99),
      baselineName: "TCP to the sandbox address",
      n: tunnel.length,
    },
  ];
  return { title: "Network: egress policy, ports, tunnels", rows };
}
