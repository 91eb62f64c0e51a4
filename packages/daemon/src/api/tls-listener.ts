// TLS for the TCP listener: `--tls-cert`/`--tls-key` (PEM files) turn the TCP API into HTTPS, so
// bearer tokens never cross the network in clear. Both or neither: half a pair is a startup error.
import { createServer } from "node:https";
import { readFileSync } from "node:fs";

/** What createAdaptorServer needs to serve HTTPS, or nothing for plain HTTP. */
export function tlsServerOptions(cert: string | null, key: string | null): Record<string, unknown> {
  if (!cert && !key) return {};
  if (!cert || !key) throw new Error("--tls-cert and --tls-key go together: give both PEM files, or neither");
  const read = (path: string, flag: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`${flag} ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    createServer,
    serverOptions: { cert: read(cert, "--tls-cert"), key: read(key, "--tls-key"), minVersion: "TLSv1.2" },
  };
}
