// Shared tools of the adversarial e2e suite: the attacker program (probe.c, built static on this
// host once per content and copied into sandboxes), hostile tar archives written byte for byte,
// and host-side canaries whose content and mtime must never change.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { Header } from "tar";
import type { Sandbox } from "@sbx-sh/sdk";

const PROBE_SRC = fileURLToPath(new URL("probe.c", import.meta.url));

/**
 * A C file of this folder compiled static on the host (once per content): it runs in any image.
 * gcc and libc6-dev come with `setup-host.sh --with-test-tools`; without them this fails loudly.
 */
export function staticBinary(source: string): string {
  const src = readFileSync(source);
  const out = `/tmp/sbx-adv-${source.replace(/^.*\//, "").replace(/\.c$/, "")}-${createHash("sha256").update(src).digest("hex").slice(0, 16)}`;
  if (!existsSync(out)) {
    execFileSync("gcc", ["-static", "-O2", "-o", `${out}.${process.pid}`, source], { stdio: "pipe" });
    execFileSync("mv", [`${out}.${process.pid}`, out]);
  }
  return out;
}

/** The probe binary on the host. */
export function probeBinary(): string {
  return staticBinary(PROBE_SRC);
}

/** Copies the probe into the sandbox as /probe. */
export async function installProbe(sb: Sandbox): Promise<void> {
  await sb.writeFile("/probe", readFileSync(probeBinary()));
  const r = await sb.run("chmod", { args: ["755", "/probe"] });
  expect(r.exitCode).toBe(0);
}

export async function sh(
  sb: Sandbox,
  script: string,
  user?: string,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return sb.run("sh", { args: ["-c", script], ...(user ? { user } : {}) });
}

/** "name RESULT" lines of the probe as a map. */
export function results(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split("\n")
      .map((l) => l.split(" ") as [string, string]),
  );
}

export interface RawEntry {
  path: string;
  body?: string;
  type?: "File" | "Directory" | "SymbolicLink" | "Link" | "CharacterDevice" | "FIFO";
  linkpath?: string;
  mode?: number;
}

/** A tar with exactly these entries: no sanitising, as an attacker would write it. */
export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? "");
    const h = new Header({
      path: e.path,
      type: e.type ?? "File",
      linkpath: e.linkpath,
      size: body.length,
      mode: e.mode ?? 0o644,
      uid: 0,
      gid: 0,
      mtime: new Date(0),
      devmaj: 1,
      devmin: 1,
    });
    h.encode();
    blocks.push(h.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/**
 * A directory on the host holding one file of known content and an old mtime. `check()` asserts
 * both are unchanged and that nothing else appeared in the directory.
 */
export class HostCanary {
  readonly dir: string;
  readonly file: string;
  readonly content: string;

  constructor(name: string) {
    this.dir = `/tmp/sbx-adv-canary-${name}-${process.pid}`;
    this.file = join(this.dir, "canary.txt");
    this.content = `canary ${name} ${process.pid} ${Date.now()}\n`;
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.file, this.content);
    utimesSync(this.file, new Date(1_000_000_000_000), new Date(1_000_000_000_000));
  }

  check(): void {
    expect(readFileSync(this.file, "utf8")).toBe(this.content);
    expect(statSync(this.file).mtimeMs).toBe(1_000_000_000_000);
    expect(execFileSync("ls", ["-A", this.dir]).toString().trim()).toBe("canary.txt");
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Host paths that must not exist after an attack (names unique to this run). */
export function hostPathsAbsent(paths: string[]): void {
  for (const p of paths) expect(existsSync(p), `${p} must not exist on the host`).toBe(false);
}
