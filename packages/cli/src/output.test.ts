// Pure helpers of the CLI: tables, ages, option parsers, cp path specs, create requests, errors.
import { afterEach, describe, expect, it, vi } from "vitest";
import { SbxError } from "@sbx-sh/protocol";
import { parseSpec } from "./commands/cp.js";
import { createRequest, parseMemory } from "./commands/sandbox-flags.js";
import { parseEnvPair } from "./context.js";
import { ago, CliFailure, formatTable, printError } from "./output.js";

afterEach(() => vi.restoreAllMocks());

describe("output", () => {
  it("aligns table columns and does not pad the last one", () => {
    expect(
      formatTable(
        ["ID", "NAME", "X"],
        [
          ["a", "long-name", "1"],
          ["bbbb", "-", "22"],
        ],
      ).split("\n"),
    ).toEqual(["ID     NAME        X", "a      long-name   1", "bbbb   -           22"]);
  });

  it("says how long ago", () => {
    const now = Date.parse("2026-01-02T00:00:00Z");
    expect(ago("2026-01-01T23:59:30Z", now)).toBe("30s ago");
    expect(ago("2026-01-01T23:00:00Z", now)).toBe("1h ago");
    expect(ago("2025-12-30T00:00:00Z", now)).toBe("3d ago");
    expect(ago(null, now)).toBe("-");
  });

  it("prints error, hint and, with --debug, the code and stack", () => {
    let err = "";
    vi.spyOn(process.stderr, "write").mockImplementation((c: unknown) => ((err += String(c)), true));
    printError(new CliFailure(new SbxError("permission_denied", "cannot open the sbxd socket /s"), 125));
    expect(err).toBe(
      "error: cannot open the sbxd socket /s\nhint: the local sbxd socket is root-only: run sbx with sudo\n",
    );
    err = "";
    printError(new SbxError("invalid_argument", "bad", { field: "cpus" }), true);
    expect(err).toMatch(/^error: bad\ncode: invalid_argument details: \{"field":"cpus"\}\nSbxError: bad\n\s+at /);
  });
});

describe("parsers", () => {
  it("parses memory sizes", () => {
    expect(parseMemory("512")).toBe(512);
    expect(parseMemory("512m")).toBe(512);
    expect(parseMemory("2g")).toBe(2048);
    expect(parseMemory("1.5GiB")).toBe(1536);
    expect(() => parseMemory("0")).toThrow();
    expect(() => parseMemory("lots")).toThrow();
  });

  it("parses env pairs, keeping = in values", () => {
    expect(parseEnvPair("B=x=y", parseEnvPair("A=1"))).toEqual({ A: "1", B: "x=y" });
    expect(() => parseEnvPair("=x")).toThrow();
    expect(() => parseEnvPair("NOVALUE")).toThrow();
  });

  it("tells sandbox paths from local ones like docker cp", () => {
    expect(parseSpec("sb1:/etc/hosts")).toEqual({ kind: "sandbox", sandbox: "sb1", path: "/etc/hosts" });
    expect(parseSpec("./a:b")).toEqual({ kind: "local", path: "./a:b" });
    expect(parseSpec("/abs/x")).toEqual({ kind: "local", path: "/abs/x" });
    expect(parseSpec("-")).toEqual({ kind: "stdio" });
    expect(() => parseSpec("sb1:rel")).toThrow(/absolute/);
  });

  it("builds create requests with only what was given", () => {
    expect(createRequest({ internet: true })).toEqual({});
    expect(createRequest({ internet: false, cpus: 2, memory: 512, pids: 64, disk: 1024, timeout: 0 })).toEqual({
      allowInternetAccess: false,
      cpus: 2,
      memoryMb: 512,
      pidsLimit: 64,
      diskMb: 1024,
      timeoutSecs: 0,
    });
  });
});
