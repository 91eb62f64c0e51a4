// The trust-store reader: overlay rules and symlinks resolved inside the image, never on the host.
import { mkdtemp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostTrust, loadExtraCas, locateInImage } from "./host-ca.js";
import { checkHostCas } from "./doctor-ca.js";

let root: string;
let caFile: string;
const STORE = "etc/ssl/certs/ca-certificates.crt";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "host-ca-"));
  caFile = join(root, "ca.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(root, "ca.key"),
      "-out",
      caFile,
      "-days",
      "2",
      "-subj",
      "/CN=sbx unit CA",
    ],
    { stdio: "ignore" },
  );
});
afterAll(() => execFileSync("rm", ["-rf", root]));

async function layer(name: string, files: Record<string, string>, links: Record<string, string> = {}): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [p, text] of Object.entries(files)) {
    await mkdir(join(dir, p, ".."), { recursive: true });
    await writeFile(join(dir, p), text);
  }
  for (const [p, target] of Object.entries(links)) {
    await mkdir(join(dir, p, ".."), { recursive: true });
    await symlink(target, join(dir, p));
  }
  return dir;
}

describe("locateInImage", () => {
  it("takes the topmost layer's file", async () => {
    const low = await layer("l1", { [STORE]: "old" });
    const top = await layer("l2", { [STORE]: "new" });
    const hit = await locateInImage([top, low], "/" + STORE);
    expect(await readFile(hit!.hostPath, "utf8")).toBe("new");
  });

  it("resolves a symlink inside the image, not on the host", async () => {
    // An absolute link to a host file with a bundle: inside the image it names the image's own path.
    const img = await layer(
      "l3",
      { "etc/pki/bundle.pem": "image bundle" },
      {
        [STORE]: "../../../../../../../etc/pki/bundle.pem",
        "etc/ssl/cert.pem": join(root, "ca.pem"),
      },
    );
    const hit = await locateInImage([img], "/" + STORE);
    expect(hit?.imagePath).toBe("/etc/pki/bundle.pem");
    expect(await readFile(hit!.hostPath, "utf8")).toBe("image bundle");
    // The host path the link names does not exist inside the image.
    expect(await locateInImage([img], "/etc/ssl/cert.pem")).toBeNull();
  });

  it("stops at link loops and sees no store in an image without one", async () => {
    const img = await layer("l4", {}, { "etc/ssl/certs": "/etc/ssl/certs" });
    expect(await locateInImage([img], "/" + STORE)).toBeNull();
  });
});

describe("HostTrust", () => {
  it("appends the extra CAs to the image's bundle, and mounts nothing without a store", async () => {
    const pem = (await loadExtraCas([caFile]))!;
    const trust = new HostTrust(pem);
    const img = await layer("l5", { [STORE]: "IMAGE CAS" });
    const dir = await layer("sb", {});
    const mounts = await trust.mountsFor([img], dir);
    expect(mounts.map((m) => m.destination)).toEqual(["/" + STORE]);
    const text = await readFile(mounts[0]!.source, "utf8");
    expect(text.startsWith("IMAGE CAS\n")).toBe(true);
    expect(text).toContain((await readFile(caFile, "utf8")).trim());
    expect(await readFile(join(img, STORE), "utf8")).toBe("IMAGE CAS");
    expect(await trust.mountsFor([await layer("l6", { "etc/hostname": "x" })], dir)).toEqual([]);
  });

  it("refuses a --ca-cert file that holds no certificate", async () => {
    await writeFile(join(root, "bad.pem"), "not a cert");
    await expect(loadExtraCas([join(root, "bad.pem")])).rejects.toThrow(/no PEM certificate/);
    await expect(loadExtraCas([join(root, "absent.pem")])).rejects.toThrow(/cannot read/);
  });
});

describe("checkHostCas", () => {
  it("warns about host CAs sbxd was not given, and not about those it was", async () => {
    const dir = await layer("anchors", { "corp/proxy.crt": await readFile(caFile, "utf8") });
    const warn = await checkHostCas([], [dir]);
    expect(warn).toMatchObject({ ok: true, warning: true });
    expect(warn.detail).toContain(`--ca-cert ${join(dir, "corp/proxy.crt")}`);
    const given = await checkHostCas([caFile], [dir]);
    expect(given.warning).toBeUndefined();
    expect((await checkHostCas([], [join(root, "none")])).warning).toBeUndefined();
  });
});
