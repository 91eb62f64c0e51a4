// The systemd units in deploy/systemd (docs/cluster.md) start daemons this sbxd accepts: their
// ExecStart flags parse, and with the secrets their EnvironmentFile documents, each role has all
// it needs (roleProblem is what refuses a daemon at start).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultConfig, parseFlags } from "../config.js";
import { roleProblem } from "../config-roles.js";

const DIR = join(import.meta.dirname, "..", "..", "..", "..", "deploy", "systemd");

function unit(file: string): { args: string[]; env: Record<string, string>; text: string } {
  const text = readFileSync(join(DIR, file), "utf8");
  const exec = /^ExecStart=(\S+) (.*)$/m.exec(text);
  expect(exec?.[1]).toBe("/usr/local/bin/sbxd");
  // The env file's documented keys (in the header comment), with their placeholder values.
  const env = Object.fromEntries([...text.matchAll(/^#\s+(SBX_[A-Z_]+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]));
  return { args: exec![2]!.split(/\s+/), env, text };
}

/** Both roles reach the cluster registry with its CA and credentials as files (never flags or env values). */
const REGISTRY = {
  registry: "registry.internal:5000",
  registryCa: "/etc/sbx/registry-ca.crt",
  registryAuthFile: "/etc/sbx/registry-auth",
};

describe("deploy/systemd units", () => {
  it("the control plane unit starts a control role with its store and secret from the env file", () => {
    const u = unit("sbxd-control.service");
    const cfg = parseFlags(u.args, defaultConfig({ ...u.env, SBX_CLUSTER_SECRET: "x".repeat(32) }));
    expect(cfg).toMatchObject({ role: "control", listenTcp: "0.0.0.0:7070", nodeLeaseSecs: 15 });
    expect(cfg.store).toMatch(/^postgres:\/\//);
    expect(roleProblem(cfg)).toBeNull();
    expect(Object.keys(u.env).sort()).toEqual(["SBX_CLUSTER_SECRET", "SBX_STORE"]);
    expect(u.text).toMatch(/^EnvironmentFile=\/etc\/sbx\/control\.env$/m);
    expect(cfg).toMatchObject(REGISTRY);
  });

  it("the node unit starts a node role that reaches its control plane and keeps sandboxes through restarts", () => {
    const u = unit("sbxd-node.service");
    const cfg = parseFlags(u.args, defaultConfig(u.env));
    expect(cfg).toMatchObject({ role: "node", listenTcp: "0.0.0.0:7080", control: "http://control.internal:7070" });
    expect(cfg.store).toBeNull();
    expect(roleProblem(cfg)).toBeNull();
    // No cluster secret on a node: the control plane hands each node its own key.
    expect(Object.keys(u.env).sort()).toEqual(["SBX_CONTROL", "SBX_NODE_TOKEN"]);
    expect(u.text).toMatch(/^KillMode=process$/m);
    expect(cfg).toMatchObject(REGISTRY);
  });
});
