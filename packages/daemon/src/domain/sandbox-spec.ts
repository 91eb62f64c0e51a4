// What the runtime is asked to start (SandboxSpec), and specFor(), the one place a spec is built.
// Four kinds of sandboxes start: users' sandboxes (created, or restarted on resume), warm-pool
// blanks, build steps and COPY --from sources. Each kind's rules (hostname, env, limits, network,
// how PID 1 boots) are written here once, so they cannot drift apart between call sites.
import { mergeEnv } from "@sbx-sh/protocol";
import type { EgressPolicy } from "./egress-policy.js";
import { DEFAULT_RESOURCES, type ResourceLimits } from "./limits.js";
import type { SandboxRecord } from "./records.js";

export interface SandboxSpec {
  id: string;
  /** Read-only layer directories, top first. */
  lowers: string[];
  hostname: string;
  env: string[];
  workingDir: string;
  cpus: number;
  memoryMb: number;
  pidsLimit: number;
  diskMb: number;
  /** A network slot for NAT egress, or null for no network at all (loopback only). */
  netSlot: number | null;
  /** Egress restrictions for a sandbox with a network slot; absent = open. */
  egress?: EgressPolicy;
  /** Boot the image's init (systemd) as PID 1 instead of catatonit; implies hostIds. */
  systemd?: boolean;
  /**
   * No user namespace: ids inside are host ids (weaker isolation). For systemd images, which
   * cannot manage cgroup v1 from inside a user namespace, and the builds of their layers.
   */
  hostIds?: boolean;
  init?: string[];
  /** Volumes to mount (by volume id; the runtime knows their disks), in the sandbox's own uid range. */
  volumes?: Array<{ volumeId: string; path: string; readOnly: boolean }>;
}

/** What a sandbox is launched from: the layer stack of an image (or snapshot) and its run config. */
export interface LaunchImage {
  lowers: string[];
  config: { env: string[]; workingDir: string; systemd: boolean; init?: string[] };
}

/** The fields of a sandbox's record its spec is made of. */
export type SpecSandbox = Pick<
  SandboxRecord,
  | "id"
  | "name"
  | "env"
  | "config"
  | "cpus"
  | "memoryMb"
  | "pidsLimit"
  | "diskMb"
  | "netSlot"
  | "allowOut"
  | "denyOut"
  | "volumes"
>;

export type SpecRequest =
  /** A user's sandbox as its record says: at create, and at restart (resume) with a new slot. */
  | { kind: "sandbox"; sandbox: SpecSandbox; image: LaunchImage }
  /**
   * A warm-pool blank of a non-systemd image: default limits, an open network if any, no init of
   * its own. The sandbox that takes it is reconfigured to its own "sandbox" spec.
   */
  | { kind: "blank"; id: string; image: LaunchImage; netSlot: number | null }
  /**
   * A build step ("build") or the source image of a COPY --from ("copy-from"): runs commands as
   * root from /, never boots systemd; a systemd image's layers keep host ids, like its base.
   */
  | {
      kind: "build-step" | "copy-from";
      id: string;
      lowers: string[];
      env: string[];
      limits: ResourceLimits;
      netSlot: number | null;
      hostIds: boolean;
    };

export function specFor(req: SpecRequest): SandboxSpec {
  switch (req.kind) {
    case "sandbox": {
      const { sandbox: s, image } = req;
      return {
        id: s.id,
        lowers: image.lowers,
        // A named sandbox's hostname is its name.
        hostname: s.name ?? s.id,
        env: mergeEnv(image.config.env, s.env),
        workingDir: s.config.workingDir,
        cpus: s.cpus,
        memoryMb: s.memoryMb,
        pidsLimit: s.pidsLimit,
        diskMb: s.diskMb,
        netSlot: s.netSlot,
        egress: { allowOut: s.allowOut ?? [], denyOut: s.denyOut ?? [] },
        systemd: image.config.systemd,
        init: image.config.init,
        ...(s.volumes?.length
          ? { volumes: s.volumes.map((v) => ({ volumeId: v.volumeId, path: v.path, readOnly: v.readOnly })) }
          : {}),
      };
    }
    case "blank":
      return {
        id: req.id,
        lowers: req.image.lowers,
        hostname: req.id,
        env: mergeEnv(req.image.config.env, {}),
        workingDir: req.image.config.workingDir || "/",
        ...DEFAULT_RESOURCES,
        netSlot: req.netSlot,
      };
    case "build-step":
    case "copy-from":
      return {
        id: req.id,
        lowers: req.lowers,
        hostname: req.kind === "build-step" ? "build" : "copy-from",
        env: req.env,
        workingDir: "/",
        ...req.limits,
        netSlot: req.netSlot,
        hostIds: req.hostIds,
      };
  }
}
