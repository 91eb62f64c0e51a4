// What moves with a named sandbox from one node to another (drain, or a resume elsewhere when its
// node is lost): the create request it was made with (resources, egress lists as given, env,
// labels, secret names), its id, name and creation time, and the snapshot it was suspended into
// (id and manifest digest in the cluster registry). Node-local state does not move: network slot,
// address, layer dirs (the new node pulls the snapshot), processes (a suspend ends them), exposed
// ports. Every side reads this as hostile input: a node's answer is checked before the control
// plane stores it, and the receiving node checks it again as it checks a create.
import { SbxError } from "@sbx-sh/protocol";
import { LIMITS } from "../domain/limits.js";
import type { SandboxRecord } from "../domain/records.js";

export interface MoveSpec {
  id: string;
  name: string;
  image: string;
  createdAt: string;
  cpus: number;
  memoryMb: number;
  pidsLimit: number;
  diskMb: number;
  timeoutSecs: number;
  allowInternetAccess: boolean;
  allowOut: string[];
  denyOut: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  secretNames: string[];
  /** The program it started at create (kept as the sandbox's record keeps it), or null. */
  entrypoint: string[] | null;
}

export interface MovedSnapshot {
  id: string;
  manifest: string;
}

/** A node's answer to "suspend it for a move", and what the receiving node is given. */
export interface MovePayload {
  sandbox: MoveSpec;
  snapshot: MovedSnapshot;
  /** Values of the secrets given at create (never stored by the control plane). */
  secrets: Record<string, string>;
}

export const MOVE_OUT_PATH = "/node/v1/moves/out";
export const MOVE_IN_PATH = "/node/v1/moves/in";
/** Bound on a move's JSON (env, labels, egress lists and secrets of one sandbox). */
export const MAX_MOVE_BYTES = 1 << 20;

export function specOf(sb: SandboxRecord): MoveSpec {
  return {
    id: sb.id,
    name: sb.name!,
    image: sb.image,
    createdAt: sb.createdAt,
    cpus: sb.cpus,
    memoryMb: sb.memoryMb,
    pidsLimit: sb.pidsLimit,
    diskMb: sb.diskMb,
    timeoutSecs: sb.timeoutSecs,
    allowInternetAccess: sb.allowInternetAccess,
    allowOut: sb.egressEntries?.allowOut ?? sb.allowOut ?? [],
    denyOut: sb.egressEntries?.denyOut ?? sb.denyOut ?? [],
    env: sb.env,
    labels: sb.labels ?? {},
    secretNames: sb.secretNames ?? [],
    entrypoint: sb.config.entrypoint ?? null,
  };
}

const bad = (what: string): SbxError => new SbxError("invalid_argument", `invalid sandbox move: ${what}`);
const isStr = (v: unknown, max = 4096): v is string => typeof v === "string" && v.length <= max;
const strList = (v: unknown, max: number): v is string[] =>
  Array.isArray(v) && v.length <= max && v.every((s) => isStr(s));
const strMap = (v: unknown): v is Record<string, string> =>
  typeof v === "object" &&
  v !== null &&
  !Array.isArray(v) &&
  Object.keys(v).length <= 1000 &&
  Object.values(v).every((s) => isStr(s, 65536));

function within(v: unknown, lim: { min: number; max: number }, what: string, whole = true): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < lim.min || v > lim.max || (whole && !Number.isInteger(v)))
    throw bad(`${what}: expected a number from ${lim.min} to ${lim.max}`);
  return v;
}

/** Checks a move's JSON (bounded by the caller) and answers it typed; `expect` pins what the caller asked for. */
export function checkMovePayload(raw: unknown, expect?: { id: string; name: string | null }): MovePayload {
  if (typeof raw !== "object" || raw === null) throw bad("expected an object");
  const { sandbox: s, snapshot: snap, secrets } = raw as Partial<Record<keyof MovePayload, unknown>>;
  if (typeof s !== "object" || s === null) throw bad("sandbox: expected an object");
  const x = s as Record<string, unknown>;
  if (!isStr(x.id, 100) || !/^[a-z0-9-]{1,100}$/.test(x.id)) throw bad("sandbox.id");
  if (!isStr(x.name, 100) || x.name.length === 0) throw bad("sandbox.name: only named sandboxes move");
  if (expect && (x.id !== expect.id || (expect.name !== null && x.name !== expect.name)))
    throw bad(`the node answered for sandbox ${String(x.id)}, not ${expect.id}`);
  if (!isStr(x.image, 512) || !isStr(x.createdAt, 64) || Number.isNaN(Date.parse(x.createdAt)))
    throw bad("sandbox.image/createdAt");
  if (typeof x.allowInternetAccess !== "boolean") throw bad("sandbox.allowInternetAccess");
  if (!strList(x.allowOut, 1000) || !strList(x.denyOut, 1000)) throw bad("sandbox.allowOut/denyOut");
  if (!strMap(x.env) || !strMap(x.labels)) throw bad("sandbox.env/labels");
  if (!strList(x.secretNames, 1000)) throw bad("sandbox.secretNames");
  if (x.entrypoint !== null && !strList(x.entrypoint, 10000)) throw bad("sandbox.entrypoint");
  if (typeof snap !== "object" || snap === null) throw bad("snapshot: expected an object");
  const sn = snap as Record<string, unknown>;
  if (!isStr(sn.id, 100) || !/^[A-Za-z0-9_-]{1,100}$/.test(sn.id)) throw bad("snapshot.id");
  if (!isStr(sn.manifest, 80) || !/^sha256:[0-9a-f]{64}$/.test(sn.manifest)) throw bad("snapshot.manifest");
  if (!strMap(secrets)) throw bad("secrets");
  const names = [...x.secretNames].sort();
  if (JSON.stringify(Object.keys(secrets).sort()) !== JSON.stringify(names))
    throw bad("secrets: the values do not match the sandbox's secret names");
  const sandbox: MoveSpec = {
    id: x.id,
    name: x.name,
    image: x.image,
    createdAt: x.createdAt,
    cpus: within(x.cpus, LIMITS.cpus, "sandbox.cpus", false),
    memoryMb: within(x.memoryMb, LIMITS.memoryMb, "sandbox.memoryMb"),
    pidsLimit: within(x.pidsLimit, LIMITS.pids, "sandbox.pidsLimit"),
    diskMb: within(x.diskMb, LIMITS.diskMb, "sandbox.diskMb"),
    timeoutSecs: within(x.timeoutSecs, LIMITS.timeoutSecs, "sandbox.timeoutSecs"),
    allowInternetAccess: x.allowInternetAccess,
    allowOut: x.allowOut,
    denyOut: x.denyOut,
    env: x.env,
    labels: x.labels,
    secretNames: x.secretNames,
    entrypoint: x.entrypoint === null ? null : (x.entrypoint as string[]),
  };
  return { sandbox, snapshot: { id: sn.id, manifest: sn.manifest }, secrets };
}
