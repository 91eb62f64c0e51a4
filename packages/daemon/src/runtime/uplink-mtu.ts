// The MTU sandboxes' veths get: the smallest of the host's default-route devices, so packets
// leaving through NAT never need fragmenting on a tunnel or cloud uplink with a small MTU.
import { readFile } from "node:fs/promises";
import { runCommand } from "../common/command.js";

/** Smallest MTU among the devices of the default routes, or undefined (kernel default) if none. */
export async function detectUplinkMtu(): Promise<number | undefined> {
  const res = await runCommand("ip", ["-j", "-4", "route", "show", "default"], { timeoutMs: 10_000 });
  if (res.code !== 0) return undefined;
  const routes = JSON.parse(res.stdout.toString() || "[]") as Array<{
    dev?: string;
    nexthops?: Array<{ dev?: string }>;
  }>;
  const devs = routes.flatMap((r) => (r.dev ? [r.dev] : (r.nexthops ?? []).flatMap((n) => (n.dev ? [n.dev] : []))));
  const mtus: number[] = [];
  for (const dev of devs) {
    if (!/^[\w.@-]+$/.test(dev)) continue;
    const mtu = Number((await readFile(`/sys/class/net/${dev}/mtu`, "utf8").catch(() => "")).trim());
    if (Number.isInteger(mtu) && mtu >= 576) mtus.push(mtu);
  }
  return mtus.length ? Math.min(...mtus) : undefined;
}
