// The COPY/ADD stand-in on FakeRuntime, run as the builder runs COPY_SCRIPT: a directory's
// contents, files into a directory or to a new name, owner and mode, archives unpacked, and the
// context removed afterwards.
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import type { CopySource } from "@sbx-sh/protocol";
import { beforeEach, describe, expect, it } from "vitest";
import { COPY_SCRIPT, CONTEXT_DIR, copyArgs } from "../build/copy-step.js";
import { specFor } from "../domain/sandbox-spec.js";
import { HELPER_BUSYBOX } from "../runtime/types.js";
import { FAKE_BASE, FakeRuntime } from "../runtime/testing/fake-runtime.js";
import { writeTar } from "../runtime/testing/memory-tar.js";
import { withCopyStep } from "./copy-step-program.js";

const limits = { cpus: 1, memoryMb: 256, pidsLimit: 64, diskMb: 64 };
let runtime: FakeRuntime;

beforeEach(async () => {
  runtime = new FakeRuntime();
  runtime.addProgram("sh", withCopyStep(runtime.programs.get("sh")!));
  await runtime.create(
    specFor({ kind: "build-step", id: "b1", lowers: [FAKE_BASE], env: [], limits, netSlot: null, hostIds: false }),
  );
  const context = writeTar([
    { name: "0/app", type: "directory" },
    { name: "0/app/main.py", type: "file", data: Buffer.from("print(1)\n") },
    { name: "0/app/lib", type: "directory" },
    { name: "0/app/lib/util.py", type: "file", data: Buffer.from("x = 1\n") },
    { name: "0/run.sh", type: "file", data: Buffer.from("#!/bin/sh\n"), mode: 0o755 },
    {
      name: "0/data.tar.gz",
      type: "file",
      data: gzipSync(writeTar([{ name: "d.csv", type: "file", data: Buffer.from("a,b\n") }])),
    },
  ]);
  await runtime.extractArchive("b1", CONTEXT_DIR, Readable.from([context]));
});

async function copy(
  sources: CopySource[],
  dest: string,
  opts: { chown?: string; chmod?: string } = {},
): Promise<number> {
  const argv = [HELPER_BUSYBOX, "sh", "-c", COPY_SCRIPT, "sh", ...copyArgs({ sources, dest, ...opts }, "/work")];
  return runtime.run("b1", { argv, env: [], cwd: "/", user: "0:0" }, () => undefined);
}

const fs = () => runtime.sandboxes.get("b1")!.fs;
const text = (path: string) => fs().readFile(path).toString();

describe("the COPY step on FakeRuntime", () => {
  it("copies a directory's contents, recursively, relative to the working dir", async () => {
    expect(await copy([{ name: "app", type: "dir" }], "srv/")).toBe(0);
    expect(text("/work/srv/main.py")).toBe("print(1)\n");
    expect(text("/work/srv/lib/util.py")).toBe("x = 1\n");
    expect(fs().stat(CONTEXT_DIR)).toBeUndefined();
  });

  it("puts a file into a directory destination or at a new name, with owner and mode", async () => {
    expect(await copy([{ name: "run.sh", type: "file" }], "/opt/")).toBe(0);
    expect(fs().stat("/opt/run.sh")).toMatchObject({ type: "file", mode: 0o755 });
    await runtime.extractArchive("b1", CONTEXT_DIR, Readable.from([writeTar([{ name: "0/run.sh", type: "file" }])]));
    expect(await copy([{ name: "run.sh", type: "file" }], "/usr/bin/start", { chown: "1000:1000", chmod: "700" })).toBe(
      0,
    );
    expect(fs().stat("/usr/bin/start")).toMatchObject({ type: "file", uid: 1000, gid: 1000, mode: 0o700 });
  });

  it("unpacks an archive for add()", async () => {
    expect(await copy([{ name: "data.tar.gz", type: "file", extract: true }], "/data/")).toBe(0);
    expect(text("/data/d.csv")).toBe("a,b\n");
  });

  it("leaves every other script to the shell", async () => {
    const out: string[] = [];
    const code = await runtime.run("b1", { argv: ["sh", "-c", "echo hi"], env: [], cwd: "/", user: "0:0" }, (_s, d) =>
      out.push(d.toString()),
    );
    expect([code, out.join("")]).toEqual([0, "hi\n"]);
  });
});
