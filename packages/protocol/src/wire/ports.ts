// Exposed ports on the wire (sbx port expose/ls/close).

export interface ExposePortRequest {
  /** Reachable without the token; default false. */
  public?: boolean | undefined;
}

export interface PortExposure {
  sandboxId: string;
  port: number;
  public: boolean;
  /** http://<port>-<sandboxId>.<domain>:<proxyPort>/ on the daemon's port proxy. */
  url: string;
  /** Send as X-Sbx-Token, or once as ?sbx_token= (sets a cookie); not needed when public. */
  token: string;
  createdAt: string;
}
