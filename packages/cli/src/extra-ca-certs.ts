// NODE_EXTRA_CA_CERTS without its start-up cost. Node reads that file while it starts, before any JS
// runs, and builds its whole root store with it: ~50 ms of every `sbx` command on a machine where it
// names the system bundle, though most commands only speak to sbxd's unix socket. The launcher keeps
// the variable from node's start (bin/sbx.js); here, every TLS context this process makes (the SDK's
// https:// and wss:// connections to sbxd, fetch() of an image's URLs, an image file's own code)
// trusts the file's certificates besides the default ones, as with Node's own handling, and the file
// is read when the first such context is made. Commands that make none never read it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { SecureContext, SecureContextOptions } from "node:tls";

type CreateSecureContext = (options?: SecureContextOptions) => SecureContext;

/** The part of node:tls this module uses; loaded only when there is a file to trust (~1 ms). */
interface TlsModule {
  createSecureContext: CreateSecureContext;
  rootCertificates: readonly string[];
}

/**
 * The options that shape a secure context (Node 20's createSecureContext and configSecureContext);
 * contexts made with the same values of these, and no `ca`, are the same, so one is made once and
 * shared (as `secureContext` would be). tls.connect passes its whole options object, host and
 * port included, which must not split the cache.
 */
const CONTEXT_OPTIONS = [
  "allowPartialTrustChain",
  "cert",
  "ciphers",
  "clientCertEngine",
  "crl",
  "dhparam",
  "ecdhCurve",
  "honorCipherOrder",
  "key",
  "maxVersion",
  "minVersion",
  "passphrase",
  "pfx",
  "privateKeyEngine",
  "privateKeyIdentifier",
  "secureOptions",
  "secureProtocol",
  "sessionIdContext",
  "sessionTimeout",
  "sigalgs",
  "ticketKeys",
] as const;

/**
 * From now on, TLS contexts made without a `ca` of their own also trust the certificates of `file`
 * (PEM). A `ca` given replaces the default trust, the file's certificates included, as in Node. A
 * file that cannot be read, or holds no certificate, is reported once through `warn` when the first
 * context is made, and TLS then trusts the default CAs only: what Node does at its start.
 */
export function trustExtraCaCerts(file: string, warn: (message: string) => void): void {
  const tls = createRequire(import.meta.url)("node:tls") as TlsModule;
  const create = tls.createSecureContext;
  // Not read yet (undefined), unusable and said so (null), or the file's bytes.
  let pem: Buffer | null | undefined;
  const made = new Map<string, SecureContext>();
  tls.createSecureContext = (options) => {
    if (options?.ca) return create(options);
    if (pem === undefined) pem = readCerts(file, warn);
    if (pem === null) return create(options);
    const key = cacheKey(options);
    const known = key === undefined ? undefined : made.get(key);
    if (known) return known;
    const context = withExtra(create, tls.rootCertificates, options, pem);
    if (key !== undefined) made.set(key, context);
    return context;
  };
}

/**
 * A context with the default trust plus `pem`'s certificates. Node's native context takes more CAs
 * after its root store (the context then gets a copy of the store of its own: the shared one stays
 * as it is), which keeps whatever the default trust is (--use-openssl-ca too); a Node without that
 * method gets the documented way, its bundled roots and the file as `ca`.
 */
function withExtra(
  create: CreateSecureContext,
  roots: readonly string[],
  options: SecureContextOptions | undefined,
  pem: Buffer,
): SecureContext {
  const context = create(options);
  const native = (context as { context?: { addCACert?: (pem: Buffer) => void } }).context;
  if (typeof native?.addCACert !== "function") return create({ ...options, ca: [...roots, pem.toString("utf8")] });
  native.addCACert(pem);
  return context;
}

/** The file's bytes, or null (said through `warn`) when it cannot be read or holds no certificate. */
function readCerts(file: string, warn: (message: string) => void): Buffer | null {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    warn(`NODE_EXTRA_CA_CERTS: cannot read ${file} (${why}): TLS trusts the default CAs only`);
    return null;
  }
  if (!pem.includes("CERTIFICATE-----")) {
    warn(`NODE_EXTRA_CA_CERTS: ${file} holds no PEM certificate: TLS trusts the default CAs only`);
    return null;
  }
  return pem;
}

/** The cache key of a context's options, or undefined when one is an object (keys, certificates, buffers). */
function cacheKey(options: SecureContextOptions | undefined): string | undefined {
  const values: unknown[] = [];
  for (const name of CONTEXT_OPTIONS) {
    const value = (options as Record<string, unknown> | undefined)?.[name];
    if (typeof value === "object" && value !== null) return undefined;
    values.push(value ?? null);
  }
  return JSON.stringify(values);
}
