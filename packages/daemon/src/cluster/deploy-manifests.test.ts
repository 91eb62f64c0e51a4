// The Kubernetes (deploy/kubernetes, a kustomize base) and Nomad (deploy/nomad) manifests start
// daemons this sbxd accepts: their flags parse with sbxd's own parser, the environment they give
// each role is what it needs (roleProblem is what refuses a daemon at start), every SBX_* name they
// set is one sbxd reads, every image is this release's, and the node daemon gets the host
// privileges and directories crun needs.
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { defaultConfig, parseFlags, type DaemonConfig } from "../config.js";
import { roleProblem } from "../config-roles.js";

const ROOT = join(import.meta.dirname, "..", "..", "..", "..");
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, "packages", "daemon", "package.json"), "utf8")) as { version: string }
).version;
const IMAGE = `ghcr.io/sbx-sh/sbxd:${VERSION}`;
const SECRET = "x".repeat(32);
/** Every SBX_* variable sbxd's config reads (config.ts is its only env reader). */
const KNOWN_ENV = new Set(
  [...readFileSync(join(ROOT, "packages", "daemon", "src", "config.ts"), "utf8").matchAll(/env\.(SBX_[A-Z_]+)/g)].map(
    (m) => m[1]!,
  ),
);

/** What sbxd would run with: the flags on its command line and the SBX_* environment (placeholder values). */
function daemonConfig(args: string[], env: Record<string, string>): DaemonConfig {
  for (const name of Object.keys(env)) expect(KNOWN_ENV, `${name} is read by sbxd`).toContain(name);
  return parseFlags(args, defaultConfig({ ...env, SBX_CLUSTER_SECRET: SECRET }));
}

// --- Kubernetes -------------------------------------------------------------------------------------
interface Container {
  image: string;
  args: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
  }[];
  envFrom?: { secretRef: { name: string } }[];
  ports: { name: string; containerPort: number }[];
  securityContext: { privileged?: boolean };
  volumeMounts: { name: string; mountPath: string; mountPropagation?: string; readOnly?: boolean }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    hostNetwork?: boolean;
    hostPID?: boolean;
    containers: Container[];
    volumes: { name: string; hostPath?: { path: string }; secret?: { secretName: string } }[];
  };
}
interface Obj {
  kind: string;
  metadata: { name: string };
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: PodTemplate;
    ports: { targetPort: string }[];
  } & { selector: Record<string, string> };
  stringData?: Record<string, string>;
}
interface Kustomization {
  resources: string[];
  images: unknown;
}

function kustomizeBase(): { kustomization: Kustomization; objects: Obj[] } {
  const dir = join(ROOT, "deploy", "kubernetes");
  const load = (f: string): unknown[] =>
    parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => {
      expect(d.errors).toEqual([]);
      return d.toJS();
    });
  const kustomization = load("kustomization.yaml")[0] as Kustomization;
  const objects = kustomization.resources.flatMap(load) as Obj[];
  return { kustomization, objects };
}

function one(objects: Obj[], kind: string, name: string): Obj {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0]!;
}

/** The container's SBX_* environment: its env entries and the keys of the Secrets it takes whole. */
function containerEnv(c: Container, objects: Obj[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ref of c.envFrom ?? []) Object.assign(env, one(objects, "Secret", ref.secretRef.name).stringData);
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) expect(one(objects, "Secret", ref.name).stringData).toHaveProperty([ref.key]);
    env[e.name] = e.value ?? (ref ? one(objects, "Secret", ref.name).stringData![ref.key]! : "10.0.0.5");
  }
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("SBX_")));
}

/**
 * The cluster registry's CA and credentials are files of the Secret sbx-registry, mounted read-only
 * where the daemon's --registry-ca and --registry-auth-file point, and never given any other way.
 */
function expectRegistryFiles(cfg: DaemonConfig, pod: PodTemplate["spec"], c: Container, objects: Obj[]): void {
  expect(cfg.registry).toBe("registry.internal:5000");
  for (const file of [cfg.registryCa, cfg.registryAuthFile]) {
    expect(file).toBeTruthy();
    const mount = c.volumeMounts.find((v) => v.mountPath === dirname(file!));
    expect(mount?.readOnly, file!).toBe(true);
    const secret = pod.volumes.find((v) => v.name === mount?.name)?.secret?.secretName;
    expect(secret).toBe("sbx-registry");
    expect(one(objects, "Secret", secret!).stringData).toHaveProperty([basename(file!)]);
  }
  expect(Object.keys(containerEnv(c, objects)).filter((k) => k.startsWith("SBX_REGISTRY"))).toEqual([]);
}

describe("deploy/kubernetes (kustomize base)", () => {
  const { kustomization, objects } = kustomizeBase();

  it("names this release's image everywhere", () => {
    expect(kustomization.images).toEqual([{ name: "ghcr.io/sbx-sh/sbxd", newTag: VERSION }]);
    const pods = objects.filter((o) => o.kind === "Deployment" || o.kind === "DaemonSet");
    expect(pods.map((o) => o.kind).sort()).toEqual(["DaemonSet", "Deployment"]);
    for (const o of pods) for (const c of o.spec.template.spec.containers) expect(c.image).toBe(IMAGE);
  });

  it("runs the control plane as ≥ 2 replicas on PostgreSQL, behind a Service on its TCP port", () => {
    const d = one(objects, "Deployment", "sbx-control");
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
    const pod = d.spec.template;
    const c = pod.spec.containers[0]!;
    const cfg = daemonConfig(c.args, containerEnv(c, objects));
    expect(cfg).toMatchObject({ role: "control", warmPool: 0 });
    expect(cfg.store).toMatch(/^postgres:\/\//);
    expect(roleProblem(cfg)).toBeNull();
    expectRegistryFiles(cfg, pod.spec, c, objects);
    const port = Number(cfg.listenTcp!.split(":").pop());
    const svc = one(objects, "Service", "sbx-control");
    expect(pod.metadata.labels).toMatchObject(svc.spec.selector);
    expect(d.spec.selector.matchLabels).toEqual(svc.spec.selector);
    const named = c.ports.find((p) => p.name === svc.spec.ports[0]!.targetPort)!;
    expect(named.containerPort).toBe(port);
  });

  it("runs a node daemon on every labelled host with the host privileges, dirs and its own credential", () => {
    const ds = one(objects, "DaemonSet", "sbx-node");
    const pod = ds.spec.template.spec;
    expect(pod).toMatchObject({ hostNetwork: true, hostPID: true });
    const c = pod.containers[0]!;
    expect(c.securityContext.privileged).toBe(true);
    // The token comes from the file named after this host in the mounted Secret, then sbxd is exec'd.
    const script = c.args.join(" ") as string;
    const m = /^SBX_NODE_TOKEN="\$\(cat "([^"]+)\/\$NODE_NAME"\)" exec \/usr\/local\/bin\/sbxd (.*)$/.exec(script);
    expect(m, script).not.toBeNull();
    const args = m![2]!.replace(/\$POD_IP/g, "10.0.0.5").split(/\s+/);
    const cfg = daemonConfig(args, { ...containerEnv(c, objects), SBX_NODE_TOKEN: "sbxn_x" });
    expect(cfg).toMatchObject({ role: "node", listenTcp: "10.0.0.5:7080", store: null });
    expect(cfg.control).toBe(`http://${one(objects, "Service", "sbx-control").metadata.name}.sbx.svc:7070`);
    expect(roleProblem(cfg)).toBeNull();
    expect(c.env?.find((e) => e.name === "NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");
    expectRegistryFiles(cfg, pod, c, objects);
    const mounts = new Map(c.volumeMounts.map((v) => [v.mountPath, v]));
    const hostPath = (path: string): string | undefined =>
      pod.volumes.find((v) => v.name === mounts.get(path)?.name)?.hostPath?.path;
    // Its dirs, the cgroup tree and /dev are the host's; mounts made under data and run dirs propagate to it.
    for (const dir of [cfg.dataDir, cfg.runDir, cfg.cacheDir, "/sys/fs/cgroup", "/dev"])
      expect(hostPath(dir), dir).toBe(dir);
    for (const dir of [cfg.dataDir, cfg.runDir]) expect(mounts.get(dir)?.mountPropagation).toBe("Bidirectional");
    const tokens = pod.volumes.find((v) => v.name === mounts.get(m![1]!)?.name);
    expect(tokens?.secret?.secretName).toBe("sbx-node-tokens");
    one(objects, "Secret", "sbx-node-tokens");
  });
});

// --- Nomad ------------------------------------------------------------------------------------------
/** The parts of an HCL job file this test checks, by a strict text parse (HCL string lists are JSON). */
function nomadJob(file: string): { text: string; args: string[]; env: Record<string, string> } {
  const text = readFileSync(join(ROOT, "deploy", "nomad", file), "utf8");
  const list = /^\s*args = (\[[^\]]*\])/m.exec(text);
  expect(list, `${file}: args`).not.toBeNull();
  const args = (JSON.parse(list![1]!) as string[]).map((a) => a.replace("${NOMAD_IP_node_api}", "10.0.0.5"));
  // The template's env file lines: KEY={{ … }} inside the heredoc.
  const env = Object.fromEntries([...text.matchAll(/(SBX_[A-Z_]+)=\{\{/g)].map((m) => [m[1]!, "placeholder"]));
  return { text, args, env };
}

/** The registry's CA and credentials: files the job renders from Nomad Variables into secrets/, mode 0400. */
function expectNomadRegistryFiles(cfg: DaemonConfig, text: string): void {
  expect(cfg.registry).toBe("registry.internal:5000");
  for (const [file, key] of [
    [cfg.registryCa, "registry_ca"],
    [cfg.registryAuthFile, "registry_auth"],
  ] as const) {
    // The docker driver mounts the task's secrets/ dir at /secrets.
    expect(file).toMatch(/^\/secrets\//);
    const block = new RegExp(
      `destination = "${file!.slice(1)}"\\s+perms\\s+= "0400"\\s+data\\s+= <<-EOT\\s+\\{\\{ with nomadVar "[^"]+" \\}\\}\\{\\{ \\.${key} \\}\\}`,
    );
    expect(text, file!).toMatch(block);
  }
}

describe("deploy/nomad", () => {
  it("runs the control plane as a service job of ≥ 2 replicas, secrets from Nomad Variables", () => {
    const job = nomadJob("sbx.nomad.hcl");
    expect(job.text).toMatch(/^ {2}type = "service"$/m);
    expect(Number(/^\s*count = (\d+)$/m.exec(job.text)?.[1])).toBeGreaterThanOrEqual(2);
    expect(job.text).toContain(`image      = "${IMAGE}"`);
    const cfg = daemonConfig(job.args, { ...job.env, SBX_STORE: "postgres://sbx:pw@db:5432/sbx" });
    expect(cfg).toMatchObject({ role: "control", listenTcp: "0.0.0.0:7070", warmPool: 0 });
    expect(roleProblem(cfg)).toBeNull();
    expect(Object.keys(job.env).sort()).toEqual(["SBX_CLUSTER_SECRET", "SBX_STORE"]);
    expectNomadRegistryFiles(cfg, job.text);
    expect(job.text).toMatch(/static = 7070/);
  });

  it("runs a node daemon on every client as a system job with the host's namespaces and dirs", () => {
    const job = nomadJob("sbx-node.nomad.hcl");
    expect(job.text).toMatch(/^ {2}type = "system"$/m);
    expect(job.text).toContain(`image        = "${IMAGE}"`);
    for (const line of ['network_mode = "host"', 'pid_mode     = "host"', "privileged   = true"])
      expect(job.text).toContain(line);
    const cfg = daemonConfig(job.args, job.env);
    expect(cfg).toMatchObject({ role: "node", listenTcp: "10.0.0.5:7080", store: null });
    expect(cfg.control).toBe("http://sbx-control.service.consul:7070");
    expect(roleProblem(cfg)).toBeNull();
    expect(Object.keys(job.env).sort()).toEqual(["SBX_NODE_TOKEN"]);
    expectNomadRegistryFiles(cfg, job.text);
    const binds = [...job.text.matchAll(/source\s+= "([^"]+)"\s+target\s+= "([^"]+)"/g)].map((m) => [m[1], m[2]]);
    for (const dir of [cfg.dataDir, cfg.runDir, cfg.cacheDir, "/sys/fs/cgroup", "/dev"])
      expect(binds, dir).toContainEqual([dir, dir]);
    expect([...job.text.matchAll(/propagation = "rshared"/g)]).toHaveLength(2);
  });
});
