// A Tensorlake-SDK-shaped call to a control replica's TCP listener, for the cluster e2e files: JSON
// in, the status and text out, with the project's token. node:http's request, so Host goes as given
// (the Tensorlake routes read the sandbox from `Host: <id>.local`).
import { request } from "node:http";
import type { Fleet } from "./cluster-harness.js";

export interface TensorlakeAnswer {
  status: number;
  text: string;
  json: () => unknown;
}

export type TensorlakeCall = (
  path: string,
  init?: { method?: string; body?: unknown; headers?: Record<string, string> },
) => Promise<TensorlakeAnswer>;

/** Calls replica `replica`'s Tensorlake routes with `token`. */
export function tensorlakeCaller(fleet: Fleet, token: string, replica = 0): TensorlakeCall {
  return (path, init = {}) =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: fleet.hostAddress,
          port: Number(new URL(fleet.controlUrl(replica)).port),
          path,
          method: init.method ?? "GET",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) as unknown }));
        },
      );
      req.on("error", reject);
      req.end(init.body === undefined ? undefined : JSON.stringify(init.body));
    });
}
