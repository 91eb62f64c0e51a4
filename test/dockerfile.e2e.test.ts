// Dockerfiles end to end: `sbx image create ./Dockerfile -n ... --build-arg ...` builds through the
// same path as TS images (streamed, then all CACHED), a sandbox from it has the files, env and
// workdir; a broken Dockerfile fails naming its line and registers nothing.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { sharedClient, useSandboxes } from "./fixtures.js";
import { REPO } from "./harness.js";

const host = inject("sbxHost");
const client = sharedClient();
const sandbox = useSandboxes(client);
const dir = mkdtempSync(join(tmpdir(), "sbx-dockerfile-e2e-"));

function sbx(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO, "packages", "cli", "bin", "sbx.js"), ...args], {
    env: { ...process.env, SBX_HOST: host },
    encoding: "utf8",
    timeout: 600_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

afterAll(async () => {
  for (const name of ["df-web", "df-broken", "df-multi"])
    await client.transport.empty("DELETE", `/v1/images/${name}`).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe("images from Dockerfiles", () => {
  it("builds ARG, ENV, WORKDIR, COPY and a heredoc RUN, rebuilds all CACHED, and launches it", async () => {
    mkdirSync(join(dir, "app"));
    writeFileSync(join(dir, "app", "main.sh"), "echo main\n");
    writeFileSync(join(dir, "app", "debug.log"), "left out by .dockerignore\n");
    writeFileSync(join(dir, "run.sh"), "#!/bin/sh\necho running\n");
    writeFileSync(join(dir, ".dockerignore"), "**/*.log\n");
    writeFileSync(
      join(dir, "Dockerfile"),
      `ARG BASE=debian-minimal
FROM \${BASE}
ARG VERSION=1
ENV APP_HOME=/opt/app GREETING="hello world"
ENV PATH=$APP_HOME/bin:$PATH
LABEL org.example.team=sbx
WORKDIR $APP_HOME
COPY app/ ./
COPY --chmod=0755 run.sh bin/run.sh
RUN <<EOF
set -e
echo "version $VERSION" > version.txt
echo "$GREETING from $(pwd)" > greeting.txt
EOF
CMD ["run.sh"]
`,
    );
    const first = sbx([
      "image",
      "create",
      join(dir, "Dockerfile"),
      "-n",
      "df-web",
      "--build-arg",
      "VERSION=2",
      "--progress",
      "plain",
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/warning: \S*Dockerfile:6: LABEL is ignored/);
    expect(first.stderr).toMatch(/\[7\/8\] RUN export VERSION=2; set -e/);
    expect(first.stderr).toMatch(/built df-web:latest in \S+ \(8 steps\)/);

    const again = sbx([
      "image",
      "create",
      join(dir, "Dockerfile"),
      "-n",
      "df-web",
      "--build-arg",
      "VERSION=2",
      "--progress",
      "plain",
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/CACHED \[\d\/8\]/g)).toHaveLength(8);

    const sb = await sandbox({ image: "df-web" });
    const r = await sb.run("sh", {
      args: [
        "-c",
        'pwd; echo "$APP_HOME|$GREETING|${VERSION:-no VERSION at run time}"; cat version.txt greeting.txt; ls; run.sh; echo "$PATH"',
      ],
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      "/opt/app\n/opt/app|hello world|no VERSION at run time\nversion 2\nhello world from /opt/app\nbin\ngreeting.txt\nmain.sh\nversion.txt\nrunning\n/opt/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    );
    const inspect = JSON.parse(sbx(["image", "inspect", "df-web", "--json"]).stdout) as {
      config: { cmd: string[]; workingDir: string };
    };
    expect(inspect.config).toMatchObject({ cmd: ["run.sh"], workingDir: "/opt/app" });
  });

  it("fails on an unknown instruction naming its line, and registers nothing", async () => {
    const broken = join(dir, "broken");
    mkdirSync(broken);
    writeFileSync(join(broken, "Dockerfile"), "FROM debian-minimal\nRUN echo fine\nRUNN echo typo\n");
    const buildsBefore = (await client.transport.json<{ builds: unknown[] }>("GET", "/v1/builds")).builds.length;
    const r = sbx(["image", "create", join(broken, "Dockerfile"), "-n", "df-broken"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: \S*Dockerfile:3: unknown instruction RUNN \(did you mean RUN\?\)/);
    expect((await client.transport.json<{ builds: unknown[] }>("GET", "/v1/builds")).builds.length).toBe(buildsBefore);
    expect(sbx(["image", "inspect", "df-broken"]).code).not.toBe(0);
  });

  it("builds multi-stage Dockerfiles: COPY --from a stage (globs, symlinks resolved there, --chown) or an image, cached on rebuild", async () => {
    const multi = join(dir, "multi");
    mkdirSync(multi);
    writeFileSync(
      join(multi, "Dockerfile"),
      `FROM debian-minimal AS build
WORKDIR /src
RUN mkdir -p out/lib && printf 'echo built-$1' > out/app.sh && chmod 755 out/app.sh && chown 1000:1000 out/app.sh \\
 && echo a > out/lib/a.so && echo b > out/lib/b.so && echo c > out/lib/c.txt && ln -s out/app.sh link.sh
FROM debian-minimal AS assets
COPY --from=build /src/out/lib/*.so /assets/
FROM debian-minimal
COPY --from=build /src/out/app.sh /usr/local/bin/app
COPY --from=assets /assets /opt/assets
COPY --from=build --chown=1:1 /src/link.sh /opt/
COPY --from=debian-minimal /etc/os-release /opt/os-release
`,
    );
    const first = sbx(["image", "create", join(multi, "Dockerfile"), "-n", "df-multi", "--progress", "plain"]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/building stage stage-build first/);
    expect(first.stderr).toMatch(/built df-multi:latest in \S+ \(4 steps\)/);
    const names = (await client.listImages()).map((i) => `${i.name}:${i.tag}`);
    expect(names).toEqual(expect.arrayContaining(["df-multi:latest", "df-multi:stage-build", "df-multi:stage-assets"]));

    const sb = await sandbox({ image: "df-multi" });
    const r = await sb.run("sh", {
      args: [
        "-c",
        "app x; stat -c '%u %a' /usr/local/bin/app; ls /opt/assets; stat -c '%F %u' /opt/link.sh; grep -c ID= /opt/os-release",
      ],
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe("built-x\n0 755\na.so\nb.so\nregular file 1\n2\n");

    const again = sbx(["image", "create", join(multi, "Dockerfile"), "-n", "df-multi", "--progress", "plain"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/CACHED \[\d\/4\]/g)).toHaveLength(4);

    writeFileSync(
      join(multi, "Dockerfile.missing"),
      "FROM debian-minimal AS build\nRUN true\nFROM debian-minimal\nCOPY --from=build /nope/* /x/\n",
    );
    const missing = sbx([
      "image",
      "create",
      join(multi, "Dockerfile.missing"),
      "-n",
      "df-multi",
      "--tag",
      "missing",
      "--progress",
      "plain",
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\/nope\/\* matches nothing in df-multi:missing-stage-build/);
    expect(sbx(["image", "inspect", "df-multi:missing"]).code).not.toBe(0);
  });
});
