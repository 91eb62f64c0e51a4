// The MTU sandboxes' veths get: the smallest of the host's default-route devices, so packets
// leaving through NAT never need fragmenting on a tunnel or cloud uplink with a small MTU.
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
  // Over netlink (`ip`), not /sys/class/net: sysfs shows the namespace it was mounted in, which is
  // not the daemon's own when it runs in another network namespace (a node started by nsenter).
  const links = await runCommand("ip", ["-j", "link", "show"], { timeoutMs: 10_000 });
  if (links.code !== 0) return undefined;
  const byName = new Map(
    (JSON.parse(links.stdout.toString() || "[]") as Array<{ ifname?: string; mtu?: number }>).map((l) => [
      l.ifname,
      l.mtu,
    ]),
  );
  const mtus: number[] = [];
  for (const dev of devs) {
    const mtu = byName.get(dev);
    if (typeof mtu === "number" && Number.isInteger(mtu) && mtu >= 576) mtus.push(mtu);
  }
  return mtus.length ? Math.min(...mtus) : undefined;
}
