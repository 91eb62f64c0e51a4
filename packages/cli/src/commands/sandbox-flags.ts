// The sandbox settings `sbx new` and `sbx run` share: their flags, how their values read (memory
// with units, lists, ports), and the create request they make.
import { type Command, InvalidArgumentError } from "commander";
import type { CreateSandboxRequest, VolumeMount } from "@sbx-sh/protocol";
import { parseLabel } from "./labels.js";
import { parseEnvPair } from "../context.js";
import { exactWhole, parsePositive, parsePositiveInt } from "../option-numbers.js";
import { parsePort } from "./ports.js";
import { parseSecretPair, secretsOf } from "./secret-flag.js";
import { parseVolumeFlag } from "./volumes.js";

/** Megabytes, or with a unit: 512, 512m, 2g. */
export function parseMemory(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([mg]i?b?)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected megabytes like 512 or 2g, got ${JSON.stringify(value)}`);
  const n = Number(m[1]) * (m[2]?.toLowerCase().startsWith("g") ? 1024 : 1);
  if (n <= 0) throw new InvalidArgumentError(`expected a whole number of megabytes, got ${JSON.stringify(value)}`);
  return exactWhole(n, value, "a whole number of megabytes");
}

export interface SandboxFlags {
  image?: string;
  snapshot?: string;
  name?: string;
  cpus?: number;
  memory?: number;
  disk?: number;
  pids?: number;
  env?: Record<string, string>;
  internet?: boolean;
  allowOut?: string[];
  denyOut?: string[];
  label?: Record<string, string>;
  /** false with --no-entrypoint. */
  entrypoint?: boolean;
  secret?: Record<string, string>;
  volume?: VolumeMount[];
  nodeSelector?: Record<string, string>;
}

/** Repeatable list option; a value may also hold several entries separated by commas. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

/** Repeatable -p/--port. */
export function collectPorts(value: string, previous: number[] = []): number[] {
  return [...previous, parsePort(value)];
}

/** The sandbox settings shared by `new` and `run`. */
export function addSandboxFlags(cmd: Command): Command {
  return cmd
    .option("--image <name>", "image to start from (default: the daemon's, debian-minimal)")
    .option("--snapshot <id>", "start from a snapshot instead of an image")
    .option("--name <name>", "a name to use instead of the id")
    .option("--cpus <n>", "CPUs (fractions allowed)", parsePositive)
    .option("--memory <MB>", "memory limit in MB (or 2g)", parseMemory)
    .option("--disk <MB>", "disk limit in MB (or 10g)", parseMemory)
    .option("--pids <n>", "maximum number of processes", parsePositiveInt)
    .option("-e, --env <KEY=VALUE>", "environment variable (repeatable)", parseEnvPair)
    .option("-l, --label <KEY=VALUE>", "label for sbx ls --filter (repeatable)", parseLabel)
    .option("--no-internet", "no access to the internet")
    .option(
      "-A, --allow-out <cidr>",
      "only this IPv4 address/CIDR or host name is reachable, plus DNS (repeatable; names are re-resolved every minute)",
      collectList,
    )
    .option("-D, --deny-out <cidr>", "never reach this IPv4 address/CIDR, even if allowed (repeatable)", collectList)
    .option("--no-entrypoint", "do not start the image's ENTRYPOINT/CMD as a background process")
    .option(
      "--secret <NAME=VALUE>",
      "env variable whose value sbx never shows or stores in clear (repeatable)",
      parseSecretPair,
    )
    .option(
      "--volume <NAME:/path[:ro]>",
      "mount a volume (sbx volume create); :ro for read-only (repeatable)",
      parseVolumeFlag,
    )
    .option(
      "--node-selector <KEY=VALUE>",
      "cluster: only a node with this label (sbx node add --label; repeatable)",
      parseLabel,
    );
}

export function createRequest(o: SandboxFlags & { timeout?: number }): CreateSandboxRequest {
  const req: CreateSandboxRequest = {};
  if (o.image) req.image = o.image;
  if (o.snapshot) req.snapshotId = o.snapshot;
  if (o.name) req.name = o.name;
  if (o.cpus !== undefined) req.cpus = o.cpus;
  if (o.memory !== undefined) req.memoryMb = o.memory;
  if (o.disk !== undefined) req.diskMb = o.disk;
  if (o.pids !== undefined) req.pidsLimit = o.pids;
  if (o.timeout !== undefined) req.timeoutSecs = o.timeout;
  if (o.env) req.env = o.env;
  if (o.label) req.labels = o.label;
  // Only say something when the user did: otherwise the daemon's default applies.
  if (o.internet === false) req.allowInternetAccess = false;
  if (o.allowOut?.length) req.allowOut = o.allowOut;
  if (o.denyOut?.length) req.denyOut = o.denyOut;
  if (o.entrypoint === false) req.noEntrypoint = true;
  if (o.secret) req.secrets = secretsOf(o.secret);
  if (o.volume?.length) req.volumes = o.volume;
  if (o.nodeSelector) req.placement = { nodeSelector: o.nodeSelector };
  return req;
}
