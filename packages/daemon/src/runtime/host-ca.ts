// Extra CA certificates for every sandbox and build step (sbxd --ca-cert, SBX_CA_CERTS), e.g. the CA
// of a company's TLS-inspecting proxy. The image is never changed: per image (layer stack) the daemon
// reads the image's own trust store from its layers, appends the extra CAs, and the sandbox gets the
// combined bundle bind-mounted read-only over the store's path. The image's content is hostile input:
// symlinks in it are resolved inside the image's root (as the kernel would inside the sandbox), never
// on the host, and the file is opened with O_NOFOLLOW. An image without a trust store at a known path
// gets nothing: no program in it reads one (install ca-certificates and its sandboxes get the CAs).
import { X509Certificate } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, readFile, readlink, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";

/** Where distributions keep their PEM bundle: Debian/Ubuntu/Alpine/Arch, Fedora/RHEL, openSUSE. */
export const TRUST_STORE_PATHS = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
];
const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;
const MAX_LINKS = 16;
const CACHE_ENTRIES = 256;

/** Reads and checks the --ca-cert files: each must hold at least one PEM certificate, all parseable. */
export async function loadExtraCas(files: string[]): Promise<string | null> {
  if (files.length === 0) return null;
  const parts: string[] = [];
  for (const file of files) {
    const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new Error(`--ca-cert ${file}: cannot read it (${err.code ?? err.message})`);
    });
    const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length === 0) throw new Error(`--ca-cert ${file}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it`);
    for (const pem of pems) {
      try {
        new X509Certificate(pem);
      } catch (err) {
        throw new Error(`--ca-cert ${file}: a certificate in it does not parse (${(err as Error).message})`, {
          cause: err,
        });
      }
    }
    parts.push(`# ${file}\n${pems.join("\n")}\n`);
  }
  return parts.join("");
}

/** A bind mount of a combined bundle over an image's trust store. */
export interface TrustMount {
  destination: string;
  source: string;
}

export class HostTrust {
  private readonly bundles = new Map<string, Promise<Array<{ path: string; data: Buffer }>>>();

  /** `extraPem`: the checked --ca-cert certificates (loadExtraCas). */
  constructor(private readonly extraPem: string) {}

  /**
   * The mounts that give a sandbox on `lowers` (top first) the extra CAs: the combined bundles are
   * written into its own dir (`dir`), like its resolv.conf. None when the image has no trust store.
   */
  async mountsFor(lowers: string[], dir: string): Promise<TrustMount[]> {
    const bundles = await this.bundlesFor(lowers);
    return Promise.all(
      bundles.map(async (b, i) => {
        const source = join(dir, `ca-bundle-${i}.crt`);
        await writeFile(source, b.data, { mode: 0o644 });
        return { destination: b.path, source };
      }),
    );
  }

  private bundlesFor(lowers: string[]): Promise<Array<{ path: string; data: Buffer }>> {
    const key = lowers.join("\0");
    let found = this.bundles.get(key);
    if (!found) {
      found = this.combine(lowers);
      // Layers are immutable, so an entry never goes stale; the bound only limits memory.
      if (this.bundles.size >= CACHE_ENTRIES) this.bundles.delete(this.bundles.keys().next().value!);
      this.bundles.set(key, found);
      found.catch(() => this.bundles.delete(key));
    }
    return found;
  }

  private async combine(lowers: string[]): Promise<Array<{ path: string; data: Buffer }>> {
    const out: Array<{ path: string; data: Buffer }> = [];
    for (const path of TRUST_STORE_PATHS) {
      const hit = await locateInImage(lowers, path);
      if (!hit || out.some((o) => o.path === hit.imagePath)) continue;
      const own = await readRegularFile(hit.hostPath);
      if (!own) continue;
      const sep = own.length > 0 && own[own.length - 1] !== 0x0a ? "\n" : "";
      out.push({
        path: hit.imagePath,
        data: Buffer.concat([own, Buffer.from(`${sep}# sbx: extra CAs (sbxd --ca-cert)\n${this.extraPem}`)]),
      });
    }
    return out;
  }
}

/**
 * Finds a regular file in a layer stack as the sandbox would see it: the topmost layer with the path
 * decides, a whiteout hides it, a symlink's target is resolved against the image's root (`..` stops
 * at /). Returns the file's path in the image and on the host, or null (missing, or not a file).
 */
export async function locateInImage(
  lowers: string[],
  path: string,
  links = 0,
): Promise<{ imagePath: string; hostPath: string } | null> {
  const parts = posix.resolve("/", path).split("/").filter(Boolean);
  let prefix = "/";
  let layers = lowers.map((_, i) => i);
  for (let n = 0; n < parts.length; n++) {
    const here = posix.join(prefix, parts[n]!);
    const dirs: number[] = [];
    for (const i of layers) {
      const st = await lstat(join(lowers[i]!, here)).catch(() => undefined);
      if (!st) continue;
      if (dirs.length > 0) {
        if (!st.isDirectory()) break;
        dirs.push(i);
        continue;
      }
      if (st.isCharacterDevice() && st.rdev === 0) return null;
      if (st.isSymbolicLink()) {
        if (links >= MAX_LINKS) return null;
        const target = await readlink(join(lowers[i]!, here));
        const rest = parts.slice(n + 1).join("/");
        return locateInImage(lowers, posix.join(posix.resolve(prefix, target), rest), links + 1);
      }
      if (st.isDirectory()) {
        dirs.push(i);
        continue;
      }
      if (st.isFile() && n === parts.length - 1) return { imagePath: here, hostPath: join(lowers[i]!, here) };
      return null;
    }
    if (dirs.length === 0) return null;
    prefix = here;
    layers = dirs;
  }
  return null;
}

/** The file's bytes if it is a regular file (never through a link) of a sane size, else null. */
async function readRegularFile(hostPath: string): Promise<Buffer | null> {
  const fh = await open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
  if (!fh) return null;
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_BUNDLE_BYTES) return null;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
