// `@sbx-sh/sdk/core`: the sandbox half of the SDK (the client, sandboxes, processes, terminals,
// configuration) without the image builder, the Dockerfile front end or tar, which a program that
// only runs sandboxes never needs to parse at start-up. The same classes as `@sbx-sh/sdk` exports.
export { SandboxClient } from "./client.js";
export type { ListSandboxesOptions } from "./client.js";
export { Sandbox } from "./sandbox.js";
export type { ClientLike, CreateSandboxOptions, ProcessOptions, RunOptions, StartProcessOptions } from "./sandbox.js";
export { SandboxProcess } from "./process.js";
export type { CommandResult, OutputChunk, OutputHandlers, OutputOptions, ProcessEvent } from "./process.js";
export { Terminal } from "./terminal.js";
export type { TerminalOptions } from "./terminal.js";
export { DEFAULT_HOST, DEFAULT_PROJECT, parseHost, resolveConfig } from "./config.js";
export type { ClientOptions, ResolvedConfig } from "./config.js";
export { httpStatusOf } from "./transport.js";
export { SbxError, ERROR_CODES, isErrorCode } from "@sbx-sh/protocol";
