// Sign-in: a project token goes to the daemon once, which answers with an HttpOnly session cookie;
// the field is cleared at once and the token is never shown or stored by the page.
import { html } from "lit";
import { ApiError, call } from "../api.js";

let error = "";

export function signInPage(done: () => Promise<void>) {
  const submit = async (ev: SubmitEvent): Promise<void> => {
    ev.preventDefault();
    const form = ev.target as HTMLFormElement;
    const input = form.elements.namedItem("token") as HTMLInputElement;
    const token = input.value.trim();
    input.value = "";
    try {
      await call("POST", "/ui/session", { token });
      error = "";
    } catch (err) {
      error = err instanceof ApiError ? err.message : String(err);
    }
    await done();
  };
  return html`<main class="signin">
    <h1>sbx dashboard</h1>
    <form @submit=${submit} autocomplete="off">
      <label for="token">Project token</label>
      <input id="token" name="token" type="password" required autocomplete="off" spellcheck="false" />
      <button type="submit">Sign in</button>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    </form>
    <p class="hint">
      Create a token on the daemon host:
      <code>curl --unix-socket /run/sbx/sbxd.sock -X POST http://sbx/v1/projects/default/tokens</code>
    </p>
  </main>`;
}
