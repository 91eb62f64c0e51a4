// Credentials for an OCI registry, as image push and pull requests carry them.

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** A bearer token, used as is. */
  token?: string;
  /** Plain HTTP (and no TLS checks) for a registry that is not on loopback. */
  insecure?: boolean;
}
