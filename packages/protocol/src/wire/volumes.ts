// Volumes on the wire: named, project-scoped persistent directories with a size cap, mounted into
// sandboxes at create (`volumes` of CreateSandboxRequest) and kept after the sandbox ends.

/** One volume mounted into a sandbox: at `path`, read-only unless `readOnly` is false (the default: read-write). */
export interface VolumeMount {
  /** The volume's name in the sandbox's project. */
  name: string;
  /** Absolute path inside the sandbox (not /, /proc, /sys, /dev or /.sbx). */
  path: string;
  /** Mounted read-only (many sandboxes may); read-write is one sandbox at a time. Default false. */
  readOnly?: boolean | undefined;
}

export interface CreateVolumeRequest {
  name: string;
  /** The size cap in MiB (default 1024). */
  sizeMb?: number | undefined;
}

/** A sandbox that holds a volume: running, pending or suspended (it mounts the volume again on resume). */
export interface VolumeUser {
  sandboxId: string;
  sandboxName: string | null;
  status: string;
  path: string;
  readOnly: boolean;
}

export interface VolumeInfo {
  id: string;
  name: string;
  project: string;
  /** The size cap asked for at create. */
  sizeMb: number;
  /** Bytes in use and the bytes the filesystem can hold (a little below the cap: its own metadata). */
  usedBytes: number;
  capacityBytes: number;
  /** The sandboxes that hold it now; a volume is removable only when this is empty. */
  mountedBy: VolumeUser[];
  createdAt: string;
}
