// `@sbx-sh/sdk/internal`: helpers the sbx CLI shares with the SDK (formatting, archives, port
// streams). Not part of the SDK's public API: names here may change in any release.
export { formatBytes } from "./image-build.js";
export { displayPath, formatSource } from "./source-location.js";
export { extractSafe, packPath } from "./archive.js";
export { exitStatus, signalNumber } from "./process.js";
export { openPortStream } from "./port-stream.js";
export { configFilePath, readConfigFile, type ConfigFile, type ContextEntry } from "./config.js";
