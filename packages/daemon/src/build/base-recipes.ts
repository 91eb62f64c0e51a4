// The base image recipes (what goes into debian-minimal, debian-systemd, ubuntu-*), turned into an
// mmdebstrap command line and a recipe hash. Changing anything that shapes the rootfs must change
// the hash, so cached tars of an older recipe are never reused.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

export interface BaseImageConfig {
  env: string[];
  workingDir: string;
  user: string;
  systemd: boolean;
  init?: string[];
}

export interface BaseRecipe {
  name: string;
  distro: "debian" | "ubuntu";
  suite: string;
  /** The archive mmdebstrap downloads from; named in every error about this recipe. */
  mirror: string;
  /** Full apt source lines (`deb URI SUITE COMPONENTS`); they also end up in the image's sources. */
  sources: string[];
  include: string[];
  /** Keyring file mmdebstrap verifies the archive with; undefined means the host's apt keyrings. */
  keyring?: string;
  /** Package (on the host) that provides `keyring`, for the error message. */
  keyringPackage?: string;
  /** Leave out docs, man pages and translations, in the build and in later installs (like Docker's slim images). */
  slim: boolean;
  config: BaseImageConfig;
}

/** Bump when the post-processing of built rootfs tars changes in a way that should force rebuilds. */
export const RECIPE_FORMAT = 1;

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const UBUNTU_MIRROR = "http://archive.ubuntu.com/ubuntu";
const UBUNTU_SUITE = "noble";
export const UBUNTU_KEYRING = "/usr/share/keyrings/ubuntu-archive-keyring.gpg";
const DEBIAN_MIRROR = "http://deb.debian.org/debian";

export interface HostDebian {
  suite: string;
  mirror: string;
  /** The security archive, when the host uses one (deb.debian.org/debian-security by default). */
  securityMirror?: string;
}

/**
 * The host's Debian suite (VERSION_CODENAME) and the mirror its apt uses for that suite, so base
 * images come from the same archive the host can reach. Falls back to bookworm on deb.debian.org.
 * `mirror` (the daemon's SBX_DEBIAN_MIRROR) overrides the host's archive.
 */
export function hostDebian(files: { osRelease?: string; sources?: string[] } = {}, mirror?: string): HostDebian {
  const osRelease = files.osRelease ?? readOr("/etc/os-release");
  const id = /^ID=("?)([^"\n]*)\1$/m.exec(osRelease)?.[2];
  const codename = /^VERSION_CODENAME=("?)([^"\n]*)\1$/m.exec(osRelease)?.[2];
  const suite = id === "debian" && codename && /^[a-z]+$/.test(codename) ? codename : "bookworm";
  const texts = files.sources ?? [readOr("/etc/apt/sources.list.d/debian.sources"), readOr("/etc/apt/sources.list")];
  const entries = texts.flatMap(parseAptSources);
  const main = entries.find((e) => e.suites.includes(suite))?.uri;
  const security = entries.find((e) => e.suites.includes(`${suite}-security`))?.uri;
  return {
    suite,
    mirror: trimSlash(mirror ?? main ?? DEBIAN_MIRROR),
    securityMirror:
      security ?? (main === undefined || main === DEBIAN_MIRROR ? `${DEBIAN_MIRROR}-security` : undefined),
  };
}

/** Parses deb822 `.sources` and one-line `sources.list` text into (uri, suites) pairs of `deb` entries. */
export function parseAptSources(text: string): Array<{ uri: string; suites: string[] }> {
  const out: Array<{ uri: string; suites: string[] }> = [];
  if (/^\s*Types:/im.test(text)) {
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (k: string): string | undefined => new RegExp(`^${k}:[ \\t]*(.*)$`, "im").exec(stanza)?.[1]?.trim();
      if (!field("Types")?.split(/\s+/).includes("deb") || /^no$/i.test(field("Enabled") ?? "")) continue;
      const suites = field("Suites")?.split(/\s+/) ?? [];
      for (const uri of field("URIs")?.split(/\s+/) ?? [])
        if (isHttpUri(uri)) out.push({ uri: trimSlash(uri), suites });
    }
    return out;
  }
  for (const raw of text.split("\n")) {
    const line = raw
      .replace(/#.*/, "")
      .replace(/\[[^\]]*\]/, " ")
      .trim();
    const [type, uri, suite] = line.split(/\s+/);
    if (type === "deb" && uri && suite && isHttpUri(uri)) out.push({ uri: trimSlash(uri), suites: [suite] });
  }
  return out;
}

/** All recipes, keyed by name, for this host; `ubuntuArchive` (SBX_UBUNTU_MIRROR) replaces archive.ubuntu.com. */
export function baseRecipes(host: HostDebian = hostDebian(), ubuntuArchive?: string): Map<string, BaseRecipe> {
  const debSources = [`deb ${host.mirror} ${host.suite} main`, `deb ${host.mirror} ${host.suite}-updates main`];
  if (host.securityMirror) debSources.push(`deb ${host.securityMirror} ${host.suite}-security main`);
  const ubuntuMirror = trimSlash(ubuntuArchive ?? UBUNTU_MIRROR);
  const ubuSources = ["", "-updates", "-security"].map((s) => `deb ${ubuntuMirror} ${UBUNTU_SUITE}${s} main universe`);
  const minimal: BaseImageConfig = { env: [PATH_ENV], workingDir: "/", user: "root", systemd: false };
  // systemd reads `container` to know it runs in a container (no udev, no getty on real ttys).
  const systemd: BaseImageConfig = {
    env: [PATH_ENV, "container=sbx"],
    workingDir: "/",
    user: "root",
    systemd: true,
    init: ["/sbin/init"],
  };
  const systemdPkgs = ["systemd", "systemd-sysv", "dbus"];
  const ubuntuBase = ["apt", "ubuntu-keyring"];
  const debian = { distro: "debian", suite: host.suite, mirror: host.mirror, sources: debSources } as const;
  const ubuntu = {
    distro: "ubuntu",
    suite: UBUNTU_SUITE,
    mirror: ubuntuMirror,
    sources: ubuSources,
    keyring: UBUNTU_KEYRING,
    keyringPackage: "ubuntu-keyring",
  } as const;
  const list: BaseRecipe[] = [
    { name: "debian-minimal", ...debian, include: [], slim: true, config: minimal },
    { name: "debian-systemd", ...debian, include: systemdPkgs, slim: false, config: systemd },
    // Ubuntu marks apt and its keyring "important", not "required", so minbase alone has neither.
    { name: "ubuntu-minimal", ...ubuntu, include: ubuntuBase, slim: true, config: minimal },
    { name: "ubuntu-systemd", ...ubuntu, include: [...ubuntuBase, ...systemdPkgs], slim: false, config: systemd },
  ];
  return new Map(list.map((r) => [r.name, r]));
}

// Fixed shell snippets run by mmdebstrap inside its build (no user input reaches them). They make
// the tar itself clean: the host's resolv.conf/hostname must not leak into an image, and apt
// indexes are 80+ MiB that `apt-get update` recreates anyway.
const CLEAN_HOOKS = [
  'rm -f "$1/etc/resolv.conf" "$1/etc/hostname" && : > "$1/etc/resolv.conf" && : > "$1/etc/hostname"',
  'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb',
];
const SYSTEMD_HOOKS = ['ln -sf /lib/systemd/system/multi-user.target "$1/etc/systemd/system/default.target"'];
const SLIM_DPKG_OPTS = [
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/locale/*",
  "path-include=/usr/share/locale/locale.alias",
];

/** The mmdebstrap argv (without the program name) that writes the recipe's rootfs as a tar to outTar. */
export function mmdebstrapArgs(recipe: BaseRecipe, outTar: string): string[] {
  const args = ["--variant=minbase", "--mode=root", "--format=tar"];
  if (recipe.include.length > 0) args.push(`--include=${recipe.include.join(",")}`);
  if (recipe.keyring) args.push(`--keyring=${recipe.keyring}`);
  if (recipe.slim) for (const o of SLIM_DPKG_OPTS) args.push(`--dpkgopt=${o}`);
  const hooks = [...CLEAN_HOOKS, ...(recipe.config.systemd ? SYSTEMD_HOOKS : [])];
  for (const h of hooks) args.push(`--customize-hook=${h}`);
  args.push(recipe.suite, outTar, ...recipe.sources);
  return args;
}

/** A short hash of everything that shapes the rootfs: the command line, the config and the format version. */
export function recipeHash(recipe: BaseRecipe): string {
  const shape = { format: RECIPE_FORMAT, args: mmdebstrapArgs(recipe, "OUT"), config: recipe.config };
  return createHash("sha256").update(JSON.stringify(shape)).digest("hex").slice(0, 16);
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function isHttpUri(uri: string): boolean {
  return /^https?:\/\/[^\s]+$/.test(uri);
}

function trimSlash(uri: string): string {
  return uri.replace(/\/+$/, "");
}
