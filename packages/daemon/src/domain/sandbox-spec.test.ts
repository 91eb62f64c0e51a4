// Unit tests of specFor: each kind of sandbox gets the spec its call site used to build by hand.
import { describe, expect, it } from "vitest";
import { DEFAULT_PATH } from "@sbx-sh/protocol";
import { specFor, type LaunchImage, type SpecSandbox } from "./sandbox-spec.js";

const image: LaunchImage = {
  lowers: ["/layers/top", "/layers/base"],
  config: { env: ["LANG=C.UTF-8", "FOO=image"], workingDir: "/srv", systemd: false },
};

const sandbox: SpecSandbox = {
  id: "sb-1",
  name: null,
  env: { FOO: "mine" },
  config: { env: image.config.env, workingDir: "/srv", user: "0:0" },
  cpus: 2,
  memoryMb: 512,
  pidsLimit: 100,
  diskMb: 64,
  netSlot: 7,
  allowOut: ["10.0.0.0/8"],
  denyOut: [],
};

describe("specFor", () => {
  it("a user's sandbox: its record's limits, slot and egress, the image's env under its own, its boot", () => {
    expect(specFor({ kind: "sandbox", sandbox, image })).toEqual({
      id: "sb-1",
      lowers: image.lowers,
      hostname: "sb-1",
      env: [`PATH=${DEFAULT_PATH}`, "LANG=C.UTF-8", "FOO=mine"],
      workingDir: "/srv",
      cpus: 2,
      memoryMb: 512,
      pidsLimit: 100,
      diskMb: 64,
      netSlot: 7,
      egress: { allowOut: ["10.0.0.0/8"], denyOut: [] },
      systemd: false,
      init: undefined,
    });
  });

  it("a named sandbox is its name on the network; an old record without egress lists is open", () => {
    const spec = specFor({
      kind: "sandbox",
      sandbox: { ...sandbox, name: "web", allowOut: undefined, denyOut: undefined, netSlot: null },
      image: { ...image, config: { ...image.config, systemd: true, init: ["/sbin/init"] } },
    });
    expect(spec).toMatchObject({ hostname: "web", netSlot: null, egress: { allowOut: [], denyOut: [] } });
    expect(spec).toMatchObject({ systemd: true, init: ["/sbin/init"] });
  });

  it("a warm-pool blank: default limits, the image's workdir, no egress, no init or systemd of its own", () => {
    const spec = specFor({
      kind: "blank",
      id: "sb-2",
      image: { ...image, config: { ...image.config, workingDir: "" } },
      netSlot: 3,
    });
    expect(spec).toEqual({
      id: "sb-2",
      lowers: image.lowers,
      hostname: "sb-2",
      env: [`PATH=${DEFAULT_PATH}`, "LANG=C.UTF-8", "FOO=image"],
      workingDir: "/",
      cpus: 1,
      memoryMb: 1024,
      pidsLimit: 1024,
      diskMb: 4096,
      netSlot: 3,
    });
  });

  it("build steps and COPY --from sources: as given, from /, host ids for systemd layers, never booted", () => {
    const limits = { cpus: 2, memoryMb: 4096, pidsLimit: 4096, diskMb: 8192 };
    const step = specFor({
      kind: "build-step",
      id: "bld-1",
      lowers: ["/l"],
      env: ["A=1"],
      limits,
      netSlot: 4,
      hostIds: true,
    });
    expect(step).toEqual({
      id: "bld-1",
      lowers: ["/l"],
      hostname: "build",
      env: ["A=1"],
      workingDir: "/",
      ...limits,
      netSlot: 4,
      hostIds: true,
    });
    const source = specFor({
      kind: "copy-from",
      id: "bld-2",
      lowers: ["/s"],
      env: [],
      limits: { cpus: 1, memoryMb: 512, pidsLimit: 256, diskMb: 64 },
      netSlot: null,
      hostIds: false,
    });
    expect(source).toMatchObject({ hostname: "copy-from", env: [], netSlot: null, hostIds: false });
    expect(source).not.toHaveProperty("systemd");
  });
});
