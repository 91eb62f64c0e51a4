// The phase parser against the lines a real debian-minimal build logged on this host (sbxd.log,
// mmdebstrap 1.x, minbase, no TTY), in order: each phase appears once, steps only go up.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BASE_PHASES, BaseProgressParser, baseProgressOf, type BaseProgress } from "./base-progress.js";

/** stderr of `mmdebstrap --verbose --variant=minbase --mode=root --format=tar bookworm` run on this host (2026-12-06). */
const VERBOSE = readFileSync(new URL("./testdata/mmdebstrap-verbose-bookworm-minbase.txt", import.meta.url), "utf8")
  .split("\n")
  .filter((l) => l.trim());

const REAL = [
  "building debian-minimal from http://deb.debian.org/debian (bookworm)",
  "mmdebstrap --variant=minbase --mode=root --format=tar bookworm /var/lib/sbx/tmp/base-debian-minimal-ce495e8e34f7.tar",
  "I: chroot architecture amd64 is equal to the host's architecture",
  "I: finding correct signed-by value...",
  "I: using /var/lib/sbx/tmp/mmdebstrap/mmdebstrap.9htfZBd1QR as tempdir",
  "I: running apt-get update...",
  "I: downloading packages with apt...",
  "I: extracting archives...",
  "I: installing essential packages...",
  "I: installing remaining packages inside the chroot...",
  `I: running --customize-hook in shell: sh -c 'rm -f "$1/etc/resolv.conf"' exec /var/lib/sbx/tmp/mmdebstrap/x`,
  "I: cleaning package lists and apt cache...",
  "I: creating tarball...",
  "I: done",
  "I: removing tempdir /var/lib/sbx/tmp/mmdebstrap/mmdebstrap.9htfZBd1QR...",
  "I: success in 17.2794 seconds",
  "built in 17.6 s; compressing into /var/cache/sbx/bases/debian-minimal-693047b538e5f22a.tar.zst",
  "unpacking sha256:ab12 with ownership shifted by 100000",
  "unpacked in 1985 ms, shifted 6275 entries by 100000 in 144 ms",
  "ready sha256:ab12",
];

describe("baseProgressOf", () => {
  it("turns a real build's log into every phase once, in order", () => {
    const seen = REAL.flatMap((l) => baseProgressOf(l) ?? []);
    expect(seen.map((p) => p.phase)).toEqual([...BASE_PHASES]);
    expect(seen.map((p) => p.step)).toEqual(BASE_PHASES.map((_, i) => i + 1));
    expect(new Set(seen.map((p) => p.total))).toEqual(new Set([BASE_PHASES.length]));
  });

  it("maps a cache import to importing, unpacking, ready", () => {
    const lines = [
      "using cached /var/cache/sbx/bases/x.tar.zst",
      "unpacking sha256:cd with ownership shifted by 0",
      "ready sha256:cd",
    ];
    expect(lines.map((l) => baseProgressOf(l)?.phase)).toEqual(["importing", "unpacking and shifting uids", "ready"]);
  });

  it("ignores lines that start no phase, including look-alikes from a hostile package name", () => {
    expect(baseProgressOf("I: done")).toBeUndefined();
    expect(baseProgressOf("Get:1 http://deb.debian.org I: creating tarball")).toBeUndefined();
    expect(baseProgressOf("")).toBeUndefined();
  });
});

describe("BaseProgressParser on real mmdebstrap --verbose output", () => {
  const lines = [
    "building debian-minimal from http://deb.debian.org/debian (bookworm)",
    ...VERBOSE,
    "built in 24.4 s; compressing into /var/cache/sbx/bases/debian-minimal-x.tar.zst",
    "unpacking sha256:ab with ownership shifted by 100000",
    "ready sha256:ab",
  ];
  const parser = new BaseProgressParser();
  const seen = lines.flatMap((l) => parser.feed(l) ?? []);
  const last = (phase: string): BaseProgress | undefined => seen.filter((p) => p.phase === phase).at(-1);

  it("passes every phase in order", () => {
    const phases = seen.map((p) => p.phase).filter((p, i, a) => a[i - 1] !== p);
    expect(phases).toEqual([...BASE_PHASES]);
  });

  it("counts the packages apt announced through download and both installs", () => {
    // apt: "69 newly installed" for the essential set, "27 newly installed" for the rest.
    expect(last("downloading packages")?.packages).toEqual({ done: 69, total: 69 });
    expect(last("installing essential packages")?.packages).toEqual({ done: 69, total: 69 });
    expect(last("installing remaining packages")?.packages).toEqual({ done: 27, total: 27 });
    for (const phase of ["downloading packages", "installing essential packages", "installing remaining packages"]) {
      const done = seen.filter((p) => p.phase === phase && p.packages).map((p) => p.packages!.done);
      expect(done.length).toBeGreaterThan(20);
      expect(done).toEqual([...done].sort((a, b) => a - b));
    }
    expect(last("updating package lists")?.packages).toBeUndefined();
  });
});
