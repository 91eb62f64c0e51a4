// The one resolv.conf policy for sandboxes: the host's upstream nameservers, which sandboxes reach
// through NAT like any egress. Loopback resolvers (systemd-resolved, dnsmasq) live in the host's
// netns and are blocked anyway, so they are dropped, falling back to systemd-resolved's upstream
// list; IPv6 servers go too (sandboxes are IPv4-only). The egress rules allow DNS to these only.
import { readFileSync } from "node:fs";

/** resolv.conf text for sandboxes, or "" when the host has no nameserver a sandbox can use. */
export function sandboxResolvConf(): string {
  for (const file of ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    const lines = sandboxResolvLines(text);
    if (lines.some((l) => l.startsWith("nameserver"))) return lines.join("\n") + "\n";
  }
  return "";
}

/** The nameserver addresses of a resolv.conf text that went through sandboxResolvLines. */
export function resolversOf(conf: string): string[] {
  return sandboxResolvLines(conf).flatMap((l) => (l.startsWith("nameserver ") ? [l.slice(11)] : []));
}

/**
 * Keeps nameserver, search/domain and options lines, minus nameservers a sandbox cannot use:
 * loopback (127.x, ::1, 0.0.0.0 means local too) and IPv6 (sandboxes are IPv4-only).
 */
export function sandboxResolvLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const [key, value] = line.split(/\s+/);
    if (key === "search" || key === "domain" || key === "options") out.push(line);
    if (key !== "nameserver" || !value) continue;
    if (value.includes(":") || value.startsWith("127.") || value === "0.0.0.0") continue;
    out.push(`nameserver ${value}`);
  }
  return out;
}
