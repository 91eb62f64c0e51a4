// Compile-time proof that the daemon's zod schemas and the protocol's plain wire types describe the
// same JSON: requests as clients send them (the schema's input), answers as the daemon sends them
// (the schema's output). A field added to one side only fails `npm run typecheck`. No runtime code.
import type { z } from "@hono/zod-openapi";
import type * as wire from "@sbx-sh/protocol";
import type * as ir from "./schemas/build-ir.js";
import type * as ports from "./schemas/ports.js";
import type * as pools from "./schemas/pools.js";
import type * as s from "./schemas/index.js";

/** True only when A and B are mutually assignable and neither is `any`. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? (0 extends 1 & A ? false : true) : false) : false;
type Check<T extends true> = T;

export type WireTypesMatch = [
  Check<Same<z.input<typeof s.CreateSandboxRequest>, wire.CreateSandboxRequest>>,
  Check<Same<z.output<typeof s.Sandbox>, wire.SandboxInfo>>,
  Check<Same<z.input<typeof s.UpdateNetworkRequest>, wire.UpdateNetworkRequest>>,
  Check<Same<z.input<typeof s.UpdateSandboxRequest>, wire.UpdateSandboxRequest>>,
  Check<Same<z.input<typeof s.StartProcessRequest>, wire.StartProcessRequest>>,
  Check<Same<z.output<typeof s.Process>, wire.ProcessInfo>>,
  Check<Same<z.output<typeof s.OutputEvent>, wire.OutputEvent>>,
  Check<Same<z.output<typeof s.SbxEvent>, wire.SbxEvent>>,
  Check<Same<z.output<typeof s.SandboxUsage>, wire.SandboxUsage>>,
  Check<Same<z.output<typeof s.FileEntry>, wire.FileInfo>>,
  Check<Same<z.output<typeof s.DirectoryListing>, wire.DirectoryListing>>,
  Check<Same<z.output<typeof s.DaemonInfo>, wire.DaemonInfo>>,
  Check<Same<z.output<typeof s.Project>, wire.Project>>,
  Check<Same<z.output<typeof s.ClusterNode>, wire.ClusterNode>>,
  Check<Same<z.input<typeof s.AddNodeRequest>, wire.AddNodeRequest>>,
  Check<Same<z.output<typeof s.NodeCredential>, wire.NodeCredential>>,
  Check<Same<z.input<typeof s.NodeReport>, wire.NodeReport>>,
  Check<Same<z.output<typeof s.NodeLease>, wire.NodeLease>>,
  Check<Same<z.input<typeof s.SetNodeStateRequest>, wire.SetNodeStateRequest>>,
  Check<Same<z.output<typeof s.DrainOutcome>, wire.DrainOutcome>>,
  Check<Same<z.output<typeof s.DrainSummary>, wire.DrainSummary>>,
  Check<Same<z.output<typeof s.Token>, wire.Token>>,
  Check<Same<z.input<typeof s.CreateBuildRequest>, wire.CreateBuildRequest>>,
  Check<Same<z.output<typeof s.Build>, wire.BuildInfo>>,
  Check<Same<z.output<typeof s.BuildEvent>, wire.BuildEvent>>,
  Check<Same<z.output<typeof s.ImageDetail>, wire.ImageInfo>>,
  Check<Same<z.output<typeof s.Snapshot>, wire.SnapshotInfo>>,
  Check<Same<z.input<typeof s.CreateTerminalRequest>, wire.CreateTerminalRequest>>,
  Check<Same<z.output<typeof s.Terminal>, wire.TerminalInfo>>,
  Check<Same<z.input<typeof ports.ExposePortRequest>, wire.ExposePortRequest>>,
  Check<Same<z.output<typeof ports.PortExposure>, wire.PortExposure>>,
  Check<Same<z.input<typeof pools.CreatePoolRequest>, wire.CreatePoolRequest>>,
  Check<Same<z.output<typeof pools.Pool>, wire.PoolInfo>>,
  Check<Same<z.input<typeof ir.Step>, wire.Step>>,
  Check<Same<z.input<typeof ir.ImageDefinition>, wire.ImageDefinition>>,
  Check<Same<z.input<typeof ir.CopySource>, wire.CopySource>>,
  Check<Same<z.input<typeof s.CreateVolumeRequest>, wire.CreateVolumeRequest>>,
  Check<Same<z.output<typeof s.Volume>, wire.VolumeInfo>>,
  Check<Same<z.input<typeof s.VolumeMount>, wire.VolumeMount>>,
];
