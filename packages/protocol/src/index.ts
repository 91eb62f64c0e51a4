// @sbx-sh/protocol: the contract between sbx's clients and its daemon. Wire types as plain
// interfaces, the error registry and error class, the build IR, name and port rules, and the
// version. No dependencies: the SDK, the CLI and the daemon all build on it.
export * from "./errors.js";
export * from "./names.js";
export * from "./ports.js";
export * from "./env.js";
export * from "./labels.js";
export * from "./version.js";
export * from "./build-ir.js";
export * from "./describe-step.js";
export * from "./wire/sandboxes.js";
export * from "./wire/processes.js";
export * from "./wire/files.js";
export * from "./wire/system.js";
export * from "./wire/builds.js";
export * from "./wire/snapshots.js";
export * from "./wire/terminals.js";
export * from "./wire/ports.js";
export * from "./wire/nodes.js";
export * from "./wire/pools.js";
export * from "./routes.js";
export * from "./wire/registries.js";
export * from "./wire/events.js";
export * from "./wire/stats.js";
export * from "./wire/volumes.js";
export * from "./patched-tar.js";
export { parseDockerfile, flattenDockerfile } from "./dockerfile/parser.js";
export type { DockerfileStep, DockerfileWarning, ParsedDockerfile, ParseOptions } from "./dockerfile/types.js";
