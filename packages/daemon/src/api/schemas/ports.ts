// The HTTP contract of exposed ports (sbx port expose/ls/close) and the TCP tunnel endpoint.
import { z } from "@hono/zod-openapi";
import { PORT_MAX, PORT_MIN } from "@sbx-sh/protocol";

/** A port in a path: digits only, 1..65535 (out_of_range beyond, invalid_argument for non-numbers). */
export const PortNumber = z.coerce
  .number({ error: "a TCP port is a number from 1 to 65535" })
  .int("a TCP port is a whole number from 1 to 65535")
  .min(PORT_MIN, "a TCP port is 1..65535")
  .max(PORT_MAX, "a TCP port is 1..65535");

export const PortParams = z.object({
  id: z.string().min(1).max(128),
  port: PortNumber.openapi({ param: { name: "port", in: "path" }, example: 8080 }),
});

export const ExposePortRequest = z
  .strictObject({
    public: z.boolean().optional().openapi({ description: "reachable without the token; default false" }),
  })
  .openapi("ExposePortRequest");

export const PortExposure = z
  .object({
    sandboxId: z.string(),
    port: z.number(),
    public: z.boolean(),
    url: z
      .string()
      .openapi({ description: "http://<port>-<sandboxId>.<domain>:<proxyPort>/ on the daemon's port proxy" }),
    token: z
      .string()
      .openapi({ description: "send as X-Sbx-Token, or once as ?sbx_token= (sets a cookie); not needed when public" }),
    createdAt: z.string(),
  })
  .openapi("PortExposure");

export const PortExposureList = z.object({ ports: z.array(PortExposure) }).openapi("PortExposureList");

export type PortExposureT = z.infer<typeof PortExposure>;
export type ExposePortRequestT = z.infer<typeof ExposePortRequest>;
