// Doctor check: CAs the host trusts beyond its distribution's (a company proxy's, an internal PKI),
// which sandboxes do not trust unless sbxd is given them with --ca-cert. A warning, not a failure:
// sandboxes work without them, only HTTPS through such a proxy fails inside.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { DoctorCheck } from "./doctor.js";

/** Where admins drop extra CAs: Debian/Ubuntu (update-ca-certificates), Fedora/RHEL (update-ca-trust). */
export const HOST_CA_DIRS = ["/usr/local/share/ca-certificates", "/etc/pki/ca-trust/source/anchors"];

export async function checkHostCas(configured: string[], dirs = HOST_CA_DIRS): Promise<DoctorCheck> {
  const found = (await Promise.all(dirs.map((d) => certFiles(d)))).flat();
  const given = new Set(await Promise.all(configured.map((f) => readFile(f, "utf8").catch(() => ""))));
  const missing: string[] = [];
  for (const f of found) if (!given.has(await readFile(f, "utf8").catch(() => ""))) missing.push(f);
  if (found.length === 0) return { name: "host CAs", ok: true, detail: "the host trusts no extra CAs" };
  if (missing.length === 0)
    return { name: "host CAs", ok: true, detail: `sandboxes trust the host's ${found.length} extra CA(s) (--ca-cert)` };
  return {
    name: "host CAs",
    ok: true,
    warning: true,
    detail:
      `the host trusts ${missing.length} extra CA(s) sandboxes do not: ${missing.join(", ")}; ` +
      `if HTTPS from sandboxes goes through them, start sbxd with ${missing.map((f) => `--ca-cert ${f}`).join(" ")} ` +
      `(or SBX_CA_CERTS=${missing.join(":")})`,
  };
}

async function certFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && /\.(crt|pem)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}
