// Answering a registry's 401 challenge (the distribution spec's auth): `Basic` with the user's
// name and password, or `Bearer` with a token from the realm the challenge names. The realm is the
// registry's choice, so it is held to the same outbound rules as the registry itself, and the
// user's password goes to it only over https or to the registry's own host.
import type { RegistryCredentials } from "@sbx-sh/protocol";
import { SbxError } from "@sbx-sh/protocol";
import { checkOutbound, type OutboundPolicy, type Resolver } from "./outbound.js";
import { errorBody, registryFailure } from "./registry-failure.js";
import { readAtMost } from "./response-body.js";

/** The largest token answer read (a JSON object with a token: a few KiB). */
const TOKEN_ANSWER_CAP = 64 << 10;

/** What the answer needs of the client: whom it asks for, with what, and its checked fetch. */
export interface ChallengeContext {
  registry: string;
  repository: string;
  /** The registry's own origin (`https://host:port`). */
  base: string;
  credentials: RegistryCredentials;
  outbound: OutboundPolicy;
  resolve: Resolver | undefined;
  send: (url: URL, init: RequestInit) => Promise<Response>;
}

/** The `authorization` header that answers `challenge` (a `www-authenticate` value). */
export async function answerChallenge(challenge: string, c: ChallengeContext): Promise<string> {
  const fail = (what: string, res?: Response, body?: string) =>
    registryFailure(c.registry, "unauthenticated", what, res, body);
  const basic =
    c.credentials.username !== undefined
      ? `Basic ${Buffer.from(`${c.credentials.username}:${c.credentials.password ?? ""}`).toString("base64")}`
      : undefined;
  if (/^basic/i.test(challenge)) {
    if (!basic) throw fail("the registry asks for a username and password");
    return basic;
  }
  if (!/^bearer/i.test(challenge)) throw fail(`unsupported auth challenge ${JSON.stringify(challenge)}`);
  const params: Record<string, string> = {};
  for (const m of challenge.slice(6).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  if (!params.realm) throw fail("the bearer challenge names no realm");
  let url: URL;
  try {
    url = new URL(params.realm);
  } catch {
    throw fail("the bearer challenge's realm is not a URL");
  }
  await checkOutbound(url, c.outbound, `registry ${c.registry}: token realm`, c.resolve);
  const sendBasic = basic !== undefined && (url.protocol === "https:" || url.host === new URL(c.base).host);
  if (params.service) url.searchParams.set("service", params.service);
  url.searchParams.set("scope", params.scope ?? `repository:${c.repository}:pull,push`);
  const res = await c
    .send(url, { headers: sendBasic ? { authorization: basic } : {}, redirect: "error" })
    .catch((err: unknown) => {
      if (err instanceof SbxError) throw err;
      throw registryFailure(
        c.registry,
        "failed_precondition",
        `cannot reach the token service ${url.origin} (${String(err)})`,
      );
    });
  if (!res.ok) throw fail("the token service refused the credentials", res, await errorBody(res));
  const answer = await readAtMost(res, TOKEN_ANSWER_CAP);
  if (answer.over) throw fail(`the token service answered more than ${TOKEN_ANSWER_CAP >> 10} KiB`);
  let body: { token?: string; access_token?: string };
  try {
    body = JSON.parse(answer.data.toString("utf8")) as typeof body;
  } catch {
    throw fail("the token service's answer is not JSON");
  }
  const token = body?.token ?? body?.access_token;
  if (typeof token !== "string" || !token) throw fail("the token service answered without a token");
  return `Bearer ${token}`;
}
