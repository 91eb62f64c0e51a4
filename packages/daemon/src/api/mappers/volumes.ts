// Volumes as the API describes them: usage and holders, never the disk's host path or id of its file.
import type { VolumeInfo } from "@sbx-sh/protocol";
import type { VolumeView } from "../../services/volume-service.js";

export function toVolume({ volume: v, usage, holders }: VolumeView): VolumeInfo {
  return {
    id: v.id,
    name: v.name,
    project: v.project,
    sizeMb: v.sizeMb,
    usedBytes: usage.usedBytes,
    capacityBytes: usage.capacityBytes,
    mountedBy: holders.map(({ sb, v: m }) => ({
      sandboxId: sb.id,
      sandboxName: sb.name,
      status: sb.status,
      path: m.path,
      readOnly: m.readOnly,
    })),
    createdAt: v.createdAt,
  };
}
