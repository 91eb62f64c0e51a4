// Certificates for tests of TLS between sbx's parts (the cluster registry, nodes): a CA and a leaf
// for 127.0.0.1 it signs, and a second, unrelated CA with its own leaf (`rogue`), made by openssl
// in a temp dir (EC P-256, valid two days). Nothing here is a secret worth keeping.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  /** PEM files: the CA, the leaf it signs (cert and key), and the rogue CA with its leaf. */
  ca: string;
  cert: string;
  key: string;
  rogueCa: string;
  rogueCert: string;
  rogueKey: string;
  /** The CA's PEM text. */
  caPem: string;
}

export function makeTestCerts(prefix = "sbx-test-tls-"): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const ssl = (...args: string[]): void => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  for (const [ca, leaf] of [
    ["ca", "leaf"],
    ["rogue-ca", "rogue"],
  ] as const) {
    ssl("req", "-x509", ...ec, "-keyout", `${ca}.key`, "-out", `${ca}.crt`, "-days", "2", "-subj", `/CN=${ca}`);
    ssl("req", ...ec, "-keyout", `${leaf}.key`, "-out", `${leaf}.csr`, "-subj", "/CN=127.0.0.1");
    const signer = ["-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2"];
    ssl("x509", "-req", "-in", `${leaf}.csr`, ...signer, "-out", `${leaf}.crt`, "-extfile", "san.ext");
  }
  const at = (f: string): string => join(dir, f);
  return {
    dir,
    ca: at("ca.crt"),
    cert: at("leaf.crt"),
    key: at("leaf.key"),
    rogueCa: at("rogue-ca.crt"),
    rogueCert: at("rogue.crt"),
    rogueKey: at("rogue.key"),
    caPem: readFileSync(at("ca.crt"), "utf8"),
  };
}
