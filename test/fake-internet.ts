// "The internet" for egress tests: a network namespace behind a veth on this machine, answering
// TCP on two routed 198.18.0.0/15 addresses (benchmarking range, routed nowhere else) with the
// address hit. Traffic never leaves the machine.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";

export interface FakeInternet {
  /** The two server addresses. */
  a: string;
  b: string;
  port: number;
  stop(): void;
}

function must(args: string[]): void {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
}

/** `linkPrefix` + a random n names the host end; `basePort` + n is the port served. */
export async function startFakeInternet(linkPrefix: string, basePort: number): Promise<FakeInternet> {
  const n = 100 + Math.floor(Math.random() * 100);
  const link = `${linkPrefix}${n}`;
  const [gw, peer, a, b] = [`198.18.${n}.1`, `198.18.${n}.2`, `198.19.${n}.10`, `198.19.${n}.20`];
  const port = basePort + n;
  const kids: ChildProcess[] = [];
  const stop = (): void => {
    for (const k of kids) k.kill("SIGKILL");
    spawnSync("ip", ["link", "del", link]);
  };
  try {
    const holder = spawn("unshare", ["--net", "--", "sleep", "3600"], { stdio: "ignore" });
    kids.push(holder);
    await new Promise((r) => setTimeout(r, 200));
    const ns = ["nsenter", "-t", String(holder.pid), "-n", "--"];
    must(["ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", String(holder.pid)]);
    must(["ip", "addr", "add", `${gw}/30`, "dev", link]);
    must(["ip", "link", "set", link, "up"]);
    for (const cmd of [
      ["link", "set", "lo", "up"],
      ["addr", "add", `${peer}/30`, "dev", "eth0"],
      ["addr", "add", `${a}/32`, "dev", "lo"],
      ["addr", "add", `${b}/32`, "dev", "lo"],
      ["link", "set", "eth0", "up"],
    ])
      must([...ns, "ip", ...cmd]);
    for (const addr of [a, b]) must(["ip", "route", "add", `${addr}/32`, "via", peer]);
    const js = `require("net").createServer((s) => s.end(s.localAddress + "\\n")).listen(${port}, "0.0.0.0", () => console.log("ready"))`;
    const server = spawn(ns[0]!, [...ns.slice(1), process.execPath, "-e", js], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    kids.push(server);
    await new Promise((r) => server.stdout!.once("data", r));
  } catch (err) {
    stop();
    throw err;
  }
  return { a, b, port, stop };
}
