// The public face of the package (`import { Sandbox, Image } from "@sbx-sh/sdk"`): the classes, the error
// type and the types of everything they take and answer. Nothing else is part of the API.
export { Image, describeImageStep } from "./image.js";
export type {
  CopyFromStep,
  CopyOptions,
  CopyStep,
  ImageOptions,
  ImageStep,
  RunStepOptions,
  StepOptions,
} from "./image.js";
export { defineFunction, imageOf } from "./function.js";
export type { FunctionMeta, FunctionOptions, SbxFunction } from "./function.js";
export { buildError, followBuild } from "./image-build.js";
export type { BuildOptions, DefinitionOptions, FollowOptions } from "./image-build.js";
export type { SourceLocation } from "./source-location.js";
export { Sandbox } from "./sandbox.js";
export { entryPath } from "./file-path.js";
export type { SandboxPath } from "./file-path.js";
export { DockerfileImage, imageFromDockerfile } from "./dockerfile-image.js";
export type { DockerfileImageOptions } from "./dockerfile-image.js";
export type { ClientLike, CreateSandboxOptions, ProcessOptions, RunOptions, StartProcessOptions } from "./sandbox.js";
export { SandboxClient } from "./client.js";
export type { ListSandboxesOptions } from "./client.js";
export type { ProgressOptions, PullResult, PushResult, RegistryCredentials, RegistryProgress } from "./oci.js";
export type { ExportFileOptions } from "./oci-export-file.js";
export { SandboxProcess } from "./process.js";
export { Terminal } from "./terminal.js";
export type { TerminalOptions } from "./terminal.js";
export type { CommandResult, OutputChunk, OutputHandlers, OutputOptions, ProcessEvent } from "./process.js";
export { DEFAULT_HOST, DEFAULT_PROJECT, parseHost, resolveConfig } from "./config.js";
export type { ClientOptions, ResolvedConfig } from "./config.js";
export { httpStatusOf } from "./transport.js";
export { SbxError, ERROR_CODES, isErrorCode } from "@sbx-sh/protocol";
export type { ErrorCode } from "@sbx-sh/protocol";
export type {
  BuildEvent,
  BuildInfo,
  CreateBuildRequest,
  CreateSandboxRequest,
  DaemonInfo,
  DirectoryListing,
  FileInfo,
  Project,
  Token,
  ImageInfo,
  OutputEvent,
  ProcessInfo,
  SandboxInfo,
  SnapshotInfo,
  StartProcessRequest,
  TerminalInfo,
} from "@sbx-sh/protocol";
export type { CopySource, ImageDefinition, Step } from "@sbx-sh/protocol";
export type { PortExposure } from "@sbx-sh/protocol";
export type { SbxEvent, EventType, EventAttributes, SandboxUsage } from "@sbx-sh/protocol";
export type { EventsOptions } from "./events.js";
