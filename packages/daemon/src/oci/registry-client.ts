// A client for the OCI distribution API: requests (redirects checked hop by hop, a 401 answered
// once: registry-auth.ts), manifests and blobs (HEAD to skip what a registry has, monolithic uploads). Plain HTTP only for loopback
// registries or when the caller says the registry is insecure; always TLS when the caller names a
// private CA for it (the cluster registry's --registry-ca). Transfers verify every digest.
import type { RegistryCredentials } from "@sbx-sh/protocol";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { SbxError, type ErrorCode } from "@sbx-sh/protocol";
import { INDEX_TYPES, MANIFEST_TYPES, MEDIA, sha256 } from "./layout.js";
import { fetch as undiciFetch, type Dispatcher, type RequestInit as UndiciRequestInit } from "undici";
import {
  allowListed,
  checkOutbound,
  DEFAULT_OUTBOUND,
  MAX_REDIRECTS,
  type OutboundPolicy,
  type Resolver,
} from "./outbound.js";
import { caAgents, outboundAgent } from "./outbound-dispatcher.js";
import { isCertVerifyError } from "../common/tls-errors.js";
import { answerChallenge } from "./registry-auth.js";
import { downloadBlob, type GetBlobOptions } from "./registry-blob.js";
import { errorBody, registryFailure } from "./registry-failure.js";
import { isLoopback, type RegistryRef } from "./registry-ref.js";
import { readAtMost } from "./response-body.js";

/** What the API's push and pull requests carry (the protocol's RegistryCredentials). */
export type RegistryAuth = RegistryCredentials;

/** How the registry is reached besides its policy: `ca` (PEM) makes it https, trusting that CA too. */
export interface RegistryTls {
  ca?: string;
}

/**
 * Connection failures that may be gone a moment later (a registry restarting, a proxy or the
 * network dropping a connection before the answer): a request failing so may be tried again. Not
 * so a name that does not resolve, nor TLS that does not handshake (plain HTTP spoken to https).
 */
const NETWORK_TRANSIENT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
]);

/** The largest manifest or index read: more is refused without reading the rest. */
const MANIFEST_CAP = 4 << 20;

const MANIFEST_ACCEPT = [MEDIA.manifest, MEDIA.index, MEDIA.dockerManifest, MEDIA.dockerList].join(", ");

export class RegistryClient {
  readonly base: string;
  private authHeader: string | undefined;
  private readonly agent: Dispatcher;
  /** For allow-listed hosts: undefined is undici's global dispatcher. */
  private readonly listed: Dispatcher | undefined;
  private readonly caGiven: boolean;

  constructor(
    readonly ref: RegistryRef,
    private readonly auth: RegistryAuth = {},
    /** Which hosts requests (and their redirects and token realms) may go to. */
    private readonly outbound: OutboundPolicy = DEFAULT_OUTBOUND,
    /** Name resolution for the checks and the connections (tests inject one). */
    private readonly resolve?: Resolver,
    tls: RegistryTls = {},
  ) {
    const plain = !tls.ca && (isLoopback(ref.registry) || auth.insecure);
    this.base = `${plain ? "http" : "https"}://${ref.registry}`;
    if (auth.token) this.authHeader = `Bearer ${auth.token}`;
    const agents = tls.ca ? caAgents(outbound, tls.ca) : undefined;
    this.agent = agents?.checked ?? outboundAgent(outbound, resolve);
    this.listed = agents?.listed;
    this.caGiven = !!tls.ca;
  }

  /**
   * fetch, connected only to addresses the outbound policy was checked against (the connection's
   * own lookup checks them again: DNS rebinding); a refusal there is the policy's error. undici's
   * own fetch: Node 20's built-in one (undici 6) mis-frames requests through an undici 7 dispatcher.
   */
  private async send(url: URL, init: RequestInit): Promise<Response> {
    const dispatcher = allowListed(url, this.outbound) ? this.listed : this.agent;
    try {
      const res = await undiciFetch(url, { ...init, ...(dispatcher ? { dispatcher } : {}) } as UndiciRequestInit);
      return res as unknown as Response;
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof SbxError) throw cause;
      throw err;
    }
  }

  private fail(code: ErrorCode, what: string, res?: Response, body?: string): SbxError {
    return registryFailure(this.ref.registry, code, what, res, body);
  }

  /** One request, answering a 401 challenge once (bearer token from the realm, or basic). */
  async request(
    method: string,
    path: string,
    init: {
      headers?: Record<string, string>;
      body?: Buffer | (() => ReadableStream);
      redirect?: "follow" | "manual";
    } = {},
  ): Promise<Response> {
    const first = new URL(path.startsWith("http") ? path : `${this.base}${path}`);
    const home = new URL(this.base).host;
    const send = async (): Promise<Response> => {
      let target = first;
      let verb = method;
      let withBody = true;
      for (let hops = 0; ; hops++) {
        await checkOutbound(target, this.outbound, `registry ${this.ref.registry}`, this.resolve);
        // Credentials only to the registry they were given for, never to where it redirects.
        const headers: Record<string, string> = { ...init.headers };
        if (this.authHeader && target.host === home) headers.authorization = this.authHeader;
        const body = withBody ? (typeof init.body === "function" ? init.body() : init.body) : undefined;
        let res: Response;
        try {
          res = await this.send(target, {
            method: verb,
            headers,
            body,
            redirect: "manual",
            ...(withBody && typeof init.body === "function" ? { duplex: "half" } : {}),
          } as RequestInit);
        } catch (err) {
          if (err instanceof SbxError) throw err;
          const cause = (err as { cause?: { code?: string; message?: string } }).cause;
          if (isCertVerifyError(cause?.code))
            throw new SbxError(
              "failed_precondition",
              `registry ${this.ref.registry}: the TLS certificate of ${target.origin} does not verify (${cause?.code})${this.caGiven ? "" : "; sbxd trusts the system's CAs and those in NODE_EXTRA_CA_CERTS"}`,
              { registry: this.ref.registry, reason: "tls_verify_failed" },
            );
          throw registryFailure(
            this.ref.registry,
            "failed_precondition",
            `cannot reach ${target.origin} (${cause?.code ?? cause?.message ?? String(err)})${this.base.startsWith("https") ? "; for a plain-HTTP registry pass --insecure" : ""}`,
            undefined,
            undefined,
            { reason: "unreachable", transient: NETWORK_TRANSIENT.has(cause?.code ?? "") },
          );
        }
        const location = res.headers.get("location");
        if (init.redirect === "manual" || ![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
        await res.body?.cancel();
        if (hops >= MAX_REDIRECTS) throw this.fail("failed_precondition", `more than ${MAX_REDIRECTS} redirects`, res);
        target = new URL(location, target);
        // 303 (and 301/302 after a POST) turn into a GET without the body, as browsers and curl do.
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && verb === "POST")) {
          verb = "GET";
          withBody = false;
        }
      }
    };
    let res = await send();
    if (res.status === 401 && !this.auth.token) {
      const challenge = res.headers.get("www-authenticate") ?? "";
      await res.body?.cancel();
      await this.authenticate(challenge);
      res = await send();
    }
    if (res.status === 401)
      throw this.fail(
        "unauthenticated",
        `${method} ${path} was refused: give credentials (--username/--password or SBX_REGISTRY_USER/SBX_REGISTRY_PASSWORD, or a token)`,
        res,
      );
    if (res.status === 403)
      throw this.fail("permission_denied", `${method} ${path} is not allowed for these credentials`, res);
    return res;
  }

  private async authenticate(challenge: string): Promise<void> {
    this.authHeader = await answerChallenge(challenge, {
      registry: this.ref.registry,
      repository: this.ref.repository,
      base: this.base,
      credentials: this.auth,
      outbound: this.outbound,
      resolve: this.resolve,
      send: (url, init) => this.send(url, init),
    });
  }

  private repoPath(kind: "manifests" | "blobs", ref: string): string {
    return `/v2/${this.ref.repository}/${kind}/${ref}`;
  }

  /** A manifest or index by tag or digest, its digest verified when it was asked for by digest. */
  async getManifest(reference: string): Promise<{ data: Buffer; mediaType: string; digest: string }> {
    const res = await this.request("GET", this.repoPath("manifests", reference), {
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.status === 404)
      throw this.fail("image_not_found", `${this.ref.repository}:${reference} does not exist`, res);
    if (!res.ok) throw this.fail("runtime_error", `cannot get manifest ${reference}`, res, await errorBody(res));
    const { data, over } = await readAtMost(res, MANIFEST_CAP);
    if (over) throw this.fail("invalid_archive", `manifest ${reference} is larger than 4 MiB`);
    const digest = sha256(data);
    if (reference.startsWith("sha256:") && digest !== reference)
      throw this.fail("invalid_archive", `manifest ${reference} does not match its digest (got ${digest})`);
    let mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    if (![...MANIFEST_TYPES, ...INDEX_TYPES].includes(mediaType)) {
      mediaType = (JSON.parse(data.toString()) as { mediaType?: string }).mediaType ?? MEDIA.manifest;
    }
    return { data, mediaType, digest };
  }

  /**
   * Downloads a blob into `path`, checking size and digest, trying a transfer that failed again
   * (registry-blob.ts); nothing is left behind on failure.
   */
  async getBlob(digest: string, size: number, path: string, o: GetBlobOptions = {}): Promise<void> {
    const from = {
      registry: this.ref.registry,
      repository: this.ref.repository,
      get: () => this.request("GET", this.repoPath("blobs", digest)),
    };
    await downloadBlob(from, { digest, size }, path, o);
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.request("HEAD", this.repoPath("blobs", digest));
    return res.ok;
  }

  /**
   * Uploads a blob file in one PUT, unless the registry already has it. Returns whether it was sent.
   * `has`: what the caller was just told by hasBlob for this digest (then it is not asked again).
   */
  async putBlob(digest: string, file: string, onBytes?: (n: number) => void, has?: boolean): Promise<boolean> {
    if (has ?? (await this.hasBlob(digest))) return false;
    const start = await this.request("POST", `/v2/${this.ref.repository}/blobs/uploads/`, {
      headers: { "content-length": "0" },
    });
    const location = start.headers.get("location");
    await start.body?.cancel();
    if (start.status !== 202 || !location)
      throw this.fail("runtime_error", `cannot start an upload of ${digest}`, start);
    const url = new URL(location, this.base);
    url.searchParams.set("digest", digest);
    const { size } = await stat(file);
    const res = await this.request("PUT", url.toString(), {
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
      body: () => Readable.toWeb(counted(createReadStream(file), onBytes)) as ReadableStream,
    });
    if (res.status !== 201) throw this.fail("runtime_error", `upload of ${digest} failed`, res, await errorBody(res));
    await res.body?.cancel();
    return true;
  }

  async putManifest(reference: string, data: Buffer, mediaType: string): Promise<string> {
    const res = await this.request("PUT", this.repoPath("manifests", reference), {
      headers: { "content-type": mediaType },
      body: data,
    });
    if (res.status !== 201)
      throw this.fail("runtime_error", `cannot put manifest ${reference}`, res, await errorBody(res));
    await res.body?.cancel();
    return sha256(data);
  }
}

/** `source` with each chunk's length reported as it passes (upload progress). */
function counted(source: Readable, onBytes: ((n: number) => void) | undefined): Readable {
  if (!onBytes) return source;
  return Readable.from(
    (async function* () {
      for await (const c of source as AsyncIterable<Buffer>) {
        onBytes(c.length);
        yield c;
      }
    })(),
  );
}
