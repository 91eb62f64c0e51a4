// The public face of the package (`import { Sandbox } from "sbx"`): the classes, the error type
// and the types of everything they take and answer. Nothing else is part of the API.
export { Sandbox } from "./sandbox.js";
export type { ClientLike, CreateSandboxOptions, DirectoryListingT, ProcessOptions, RunOptions, StartProcessOptions } from "./sandbox.js";
export { SandboxClient } from "./client.js";
export type { ListSandboxesOptions, ProjectT, TokenT } from "./client.js";
export { SandboxProcess } from "./process.js";
export type { CommandResult, OutputChunk, OutputHandlers, OutputOptions, ProcessEvent } from "./process.js";
export { DEFAULT_HOST, DEFAULT_PROJECT, resolveConfig } from "./transport.js";
export type { ClientOptions, ResolvedConfig } from "./transport.js";
export { SbxError, ERROR_CODES, isErrorCode } from "../common/errors.js";
export type { ErrorCode } from "../common/errors.js";
export type {
  CreateSandboxRequest,
  DaemonInfoT,
  FileEntryT,
  ImageT,
  OutputEventT,
  ProcessT,
  SandboxT,
  StartProcessRequest,
} from "../api/schemas.js";
