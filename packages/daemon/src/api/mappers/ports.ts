// Exposed ports as the API describes them: with the URL the daemon's port proxy serves them at
// (built here, where the proxy's address is known) and the token for private ones.
import type { PortExposure } from "@sbx-sh/protocol";
import type { PortExposureRecord } from "../../domain/records.js";
import type { ProxyAddress } from "../../services/port-service.js";

export function portUrl(sandboxId: string, port: number, proxy: ProxyAddress): string {
  return `http://${port}-${sandboxId}.${proxy.domain}:${proxy.port}/`;
}

/** No proxy, no URL: the exposure is recorded, but nothing serves it. */
export function toPort(e: PortExposureRecord, proxy: ProxyAddress | null): PortExposure {
  return {
    sandboxId: e.sandboxId,
    port: e.port,
    public: e.public,
    url: proxy ? portUrl(e.sandboxId, e.port, proxy) : "",
    token: e.token,
    createdAt: e.createdAt,
  };
}
