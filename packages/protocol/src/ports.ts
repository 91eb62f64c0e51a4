// What a TCP port number is, for the daemon, the SDK and the CLI alike (no zod: the SDK loads this).
import { SbxError } from "./errors.js";

export const PORT_MIN = 1;
export const PORT_MAX = 65535;

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < PORT_MIN || port > PORT_MAX)
    throw new SbxError("out_of_range", `port ${port} is not a TCP port: use ${PORT_MIN}..${PORT_MAX}`);
}
