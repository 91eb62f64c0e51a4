// The project and its tokens: the signed-in project's API tokens (ids and dates; the secrets are
// never stored, so never shown) with a revoke button for each one but the session's own. Minting
// tokens and making projects stay on the daemon host, over its unix socket (root): a token that
// leaked must not be able to mint new ones that outlive its own revocation. Revoking a token also
// signs out every dashboard session made with it.
import { html } from "lit";
import type { Token } from "@sbx-sh/protocol";
import { ago, enc, json } from "../api.js";
import { attempt, notify, redraw, state } from "../state.js";

let tokens: Token[] = [];
let loadedAt = 0;

async function load(): Promise<void> {
  loadedAt = Date.now();
  tokens = (await json<{ tokens: Token[] }>("GET", `/v1/projects/${enc(state.session!.project)}/tokens`)).tokens;
  redraw();
}

const revoke = (t: Token) =>
  attempt("revoke token", async () => {
    if (!confirm(`Revoke token ${t.id}? Programs using it stop working at once.`)) return;
    await json("DELETE", `/v1/projects/${enc(t.project)}/tokens/${enc(t.id)}`);
    notify(`revoked token ${t.id}`);
    await load();
  });

export function tokensPage() {
  const session = state.session!;
  if (Date.now() - loadedAt > 5000) void attempt("loading tokens", load);
  return html`<h1>Project ${session.project}</h1>
    <h2>API tokens</h2>
    <table aria-label="Tokens">
      <thead>
        <tr>
          <th>ID</th>
          <th>Created</th>
          <th>Actions</th>
        </tr>
      </thead>
      <tbody>
        ${tokens.map(
          (t) =>
            html`<tr data-id=${t.id}>
              <td>${t.id}</td>
              <td>${ago(t.createdAt)}</td>
              <td>
                ${
                  t.id === session.tokenId
                    ? html`<small>this session's token (revoke it with another one)</small>`
                    : html`<button
                        type="button"
                        class="danger"
                        aria-label="Revoke token ${t.id}"
                        @click=${() => revoke(t)}
                      >
                        Revoke
                      </button>`
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <p class="note" role="note">
      New tokens and projects are made on the daemon host, over its unix socket (root):
      <code>sudo sbx token create --project ${session.project}</code>. A token can list and revoke its own project's
      tokens, never mint new ones, so a token that leaked cannot outlive its revocation. Revoking a token signs out the
      dashboard sessions made with it.
    </p>`;
}
