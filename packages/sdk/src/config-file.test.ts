// The SDK's reading of the user's config file: the current context (or SBX_CONTEXT) supplies host,
// token, project and CA; a host given outright never borrows a context's token; a file others
// can read is refused.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config.js";

function configDir(content: unknown, mode = 0o600): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), "sbx-config-"));
  mkdirSync(join(home, "sbx"));
  const file = join(home, "sbx", "config.json");
  writeFileSync(file, JSON.stringify(content));
  chmodSync(file, mode);
  return { XDG_CONFIG_HOME: home };
}

const FILE = {
  current: "prod",
  contexts: {
    prod: {
      host: "https://sbx.example.com:7443",
      token: "sbxt_prod",
      project: "ml",
      ca: "-----BEGIN CERTIFICATE-----\nx",
    },
    here: { project: "web" },
  },
};

describe("config file contexts", () => {
  it("takes host, token, project and CA from the current context", () => {
    const c = resolveConfig({ env: configDir(FILE) });
    expect(c).toMatchObject({
      host: "https://sbx.example.com:7443",
      token: "sbxt_prod",
      project: "ml",
      context: "prod",
      isDefaultHost: false,
    });
    expect(c.ca).toContain("BEGIN CERTIFICATE");
  });

  it("lets SBX_CONTEXT or the option pick another, and env values override single fields", () => {
    const env = configDir(FILE);
    expect(resolveConfig({ env: { ...env, SBX_CONTEXT: "here" } })).toMatchObject({
      project: "web",
      token: null,
      isDefaultHost: true,
    });
    expect(resolveConfig({ env, context: "here", project: "other" }).project).toBe("other");
    expect(() => resolveConfig({ env, context: "nope" })).toThrow(/context "nope" does not exist.*sbx context ls/);
  });

  it("never sends a context's token to a host given outright", () => {
    const c = resolveConfig({ env: { ...configDir(FILE), SBX_HOST: "http://other:7070" } });
    expect(c).toMatchObject({ host: "http://other:7070", token: null, project: "default", context: null });
  });

  it("refuses a file others can read, and has nothing to say without one", () => {
    expect(() => resolveConfig({ env: configDir(FILE, 0o644) })).toThrow(
      expect.objectContaining({ code: "permission_denied", message: expect.stringMatching(/mode 0644.*chmod 600/) }),
    );
    expect(resolveConfig({ env: {} })).toMatchObject({ context: null, project: "default", isDefaultHost: true });
  });
});
