// `@sbx-sh/sdk/internal`: helpers the sbx CLI shares with the SDK (formatting, archives, port
// streams). Not part of the SDK's public API: names here may change in any release. Nothing here
// loads tar or the image builder (archives are `@sbx-sh/sdk/internal/archive`), so the CLI's
// commands that only talk to the daemon start fast.
export { formatBytes } from "./format-bytes.js";
export { displayPath, formatSource } from "./source-location.js";
export { exitStatus, signalNumber } from "./process.js";
export { openPortStream } from "./port-stream.js";
export { configFilePath, readConfigFile, type ConfigFile, type ContextEntry } from "./config.js";
