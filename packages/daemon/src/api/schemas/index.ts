// The HTTP contract: every request body and response object of the sbx API, as zod schemas, one
// module per resource. The same schemas validate requests and generate openapi.json; the protocol's
// plain types are checked against them (../wire-types.check.ts).
export * from "./common.js";
export * from "./sandboxes.js";
export * from "./processes.js";
export * from "./files.js";
export * from "./system.js";
export * from "./builds.js";
export * from "./snapshots.js";
export * from "./terminals.js";
export * from "./ports.js";
export * from "./nodes.js";
export * from "./pools.js";
export * from "./events.js";
export * from "./stats.js";
export * from "./volumes.js";
