// Malformed requests for the API abuse tests: bodies that are not JSON or of the wrong shape,
// huge and deeply nested values, absurd numbers, bad names, path parameters with traversal, NUL,
// unicode and excessive length. Every one must be refused with a 4xx and change nothing.
import type { RawRequest } from "./api-http.js";

export interface AbuseCase {
  name: string;
  req: RawRequest;
  /** Allowed error codes; any 4xx code of the registry when absent. */
  codes?: string[];
}

/** The caller's own objects the cases aim at (so a refusal is about the input, not the id). */
export interface Targets {
  sandboxId: string;
  processId: string;
  snapshotId: string;
}

export const BAD_NAMES = [
  "has space",
  "a/b",
  "UPPER",
  "emoji-😀",
  "x".repeat(300),
  "",
  ".",
  "..",
  "-lead",
  "trail-",
  "nul\u0000byte",
  "../../etc",
  "tab\tname",
];
const RAW_NOT_JSON = [
  "not json",
  "{",
  "",
  '{"cpus": 1,}',
  "NaN",
  '{"cpus": NaN}',
  '{"cpus": Infinity}',
  "\u0000",
  "{'single': 'quotes'}",
  "\ufeff{}x",
];
const RAW_NOT_OBJECT = ["null", "[]", "42", '"text"', "true"];
const TRAVERSALS = [
  "..%2F..%2F..%2Fetc%2Fpasswd",
  "..",
  "%2e%2e",
  "%2e%2e%2f%2e%2e",
  "..%5c..%5cwindows",
  "%00",
  "a%00b",
  "%252e%252e%252f",
  "%F0%9F%98%80",
  "%C3%A9t%C3%A9",
  "x".repeat(5000),
  "%E0%A4%A",
  "%FF%FE",
  "%",
  "a%2Fb",
  ";ls",
  "$(id)",
  "%0d%0aX-Injected:%201",
];
const j = (v: unknown): string => JSON.stringify(v);
const deep = (n: number): string => "[".repeat(n) + "]".repeat(n);

export function abuseCases(t: Targets): AbuseCase[] {
  const sb = `/v1/sandboxes/${t.sandboxId}`;
  const proc = `${sb}/processes/${t.processId}`;
  const cases: AbuseCase[] = [];
  const add = (name: string, req: RawRequest, codes?: string[]): void => void cases.push({ name, req, codes });
  const post = (path: string, body: unknown, method = "POST"): RawRequest => ({
    method,
    path,
    body: typeof body === "string" ? body : j(body),
  });

  // Bodies that are not JSON, or JSON that is not an object, on every JSON route.
  const jsonRoutes: Array<[string, string]> = [
    ["POST", "/v1/sandboxes"],
    ["POST", `${sb}/processes`],
    ["POST", `${sb}/exec`],
    ["PATCH", `${sb}/network`],
    ["POST", `${proc}/signal`],
    ["POST", "/v1/builds"],
    ["POST", "/v1/images"],
    ["POST", `${sb}/snapshot`],
    ["POST", `${sb}/copy`],
  ];
  for (const [method, path] of jsonRoutes) {
    for (const raw of [...RAW_NOT_JSON, ...RAW_NOT_OBJECT])
      add(`${method} ${path} body ${j(raw.slice(0, 20))}`, post(path, raw, method), ["invalid_argument"]);
    add(`${method} ${path} deeply nested array`, post(path, `{"x": ${deep(100_000)}}`, method), [
      "invalid_argument",
      "payload_too_large",
    ]);
    add(`${method} ${path} unknown field`, post(path, { zzz: 1 }, method));
    add(`${method} ${path} __proto__`, post(path, '{"__proto__": {"times": 1000, "command": "id"}}', method));
    add(`${method} ${path} text/plain`, { method, path, body: "{}", headers: { "content-type": "text/plain" } });
    add(`${method} ${path} invalid UTF-8`, {
      method,
      path,
      body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      headers: { "content-type": "application/json" },
    });
    add(`${method} ${path} duplicate keys`, post(path, '{"zzz": 1, "zzz": 2}', method));
    add(`${method} ${path} form`, {
      method,
      path,
      body: "cpus=1000&command=id",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    add(`${method} ${path} 3 MiB body`, post(path, j({ pad: "x".repeat(3 * 1024 * 1024) }), method), [
      "payload_too_large",
    ]);
    add(
      `${method} ${path} 3 MiB chunked body`,
      {
        method,
        path,
        body: j({ pad: "x".repeat(3 * 1024 * 1024) }),
        headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      },
      ["payload_too_large"],
    );
  }

  // Creating a sandbox: wrong types, absurd numbers, bad names, huge strings.
  const create = (b: Record<string, unknown>): unknown => ({ allowInternetAccess: false, ...b });
  const sandboxBodies: Record<string, unknown>[] = [
    { cpus: "2" },
    { memoryMb: "1g" },
    { memoryMb: 1.5 },
    { env: { A: 1 } },
    { env: [] },
    { env: { "1BAD": "x" } },
    { env: { "A=B": "x" } },
    { env: { A: "x\u0000y" } },
    { env: { A: "x".repeat(200_000) } },
    { env: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`V${i}`, "x"])) },
    { allowOut: "192.0.2.1" },
    { allowOut: [1] },
    { allowOut: ["not-an-ip-!"] },
    { allowOut: ["192.0.2.1/99"] },
    { allowOut: Array(300).fill("192.0.2.1") },
    { denyOut: [""] },
    { name: 5 },
    { image: null },
    { image: "" },
    { image: "x".repeat(1_000_000) },
    { timeoutSecs: "10" },
    { allowInternetAccess: "yes" },
    { snapshotId: 5 },
    { snapshotId: "../../x" },
    { cpus: 0 },
    { cpus: -1 },
    { cpus: 1000 },
    { cpus: 1e-9 },
    { memoryMb: 1e15 },
    { memoryMb: -1 },
    { memoryMb: 0 },
    { pidsLimit: 0 },
    { pidsLimit: -1 },
    { pidsLimit: 1e9 },
    { diskMb: 0 },
    { diskMb: 1e15 },
    { timeoutSecs: -1 },
    { timeoutSecs: 1e12 },
    { timeoutSecs: 0.5 },
    ...BAD_NAMES.map((name) => ({ name })),
    { name: "x".repeat(1_000_000) },
    ...["../../etc", "a/b", "UPPER", "😀", "nul\u0000"].map((image) => ({ image })),
  ];
  for (const b of sandboxBodies) add(`create sandbox ${j(b).slice(0, 80)}`, post("/v1/sandboxes", create(b)));
  for (const raw of ['{"cpus": 1e309}', '{"memoryMb": 1e309}', '{"timeoutSecs": -1e309}', '{"pidsLimit": 1e400}'])
    add(`create sandbox ${raw}`, post("/v1/sandboxes", raw));

  // Processes: types, NUL bytes (never reach exec), absurd timeouts, bad users, signals.
  const procBodies: unknown[] = [
    { command: "" },
    { command: 5 },
    { command: ["ls"] },
    { command: "ls", args: "x" },
    { command: "ls", args: [1] },
    { command: "ls", timeoutSecs: 0 },
    { command: "ls", timeoutSecs: -1 },
    { command: "ls", timeoutSecs: 1e12 },
    { command: "ls", user: "root;rm -rf /" },
    { command: "ls", user: "😀" },
    { command: "ls", env: { "A=B": "x" } },
    { command: "ls", workingDir: 5 },
    { command: "ls", stdin: "yes" },
    { command: "a\u0000b" },
    { command: "ls", args: ["a\u0000b"] },
    { command: "ls", env: { A: "x\u0000y" } },
    { command: "ls", workingDir: "/tmp\u0000x" },
    { command: "x".repeat(1_000_000) },
    { command: "ls", args: Array(100_000).fill("x".repeat(64)) },
    { command: "ls", env: { A: "x".repeat(100_000) } },
  ];
  for (const b of procBodies)
    for (const route of ["processes", "exec"]) add(`${route} ${j(b).slice(0, 80)}`, post(`${sb}/${route}`, b));
  // Under the body cap but beyond what exec takes (E2BIG): refused before a process exists.
  for (const b of [
    { command: "x".repeat(200_000) },
    { command: "ls", args: ["x".repeat(200_000)] },
    { command: "ls", args: ["é".repeat(70_000)] },
  ]) {
    for (const route of ["processes", "exec"])
      add(`${route} ${j(b).slice(0, 60)}`, post(`${sb}/${route}`, b), ["out_of_range"]);
  }
  add("process timeout 1e309", post(`${sb}/processes`, '{"command": "ls", "timeoutSecs": 1e309}'));
  for (const signal of [9, "SIGFOO", "sigkill", "../", "", "SIG", "X".repeat(10_000)])
    add(`signal ${j(signal).slice(0, 30)}`, post(`${proc}/signal`, { signal }));

  // Network policy, snapshots, forks, builds, image registration, projects.
  for (const b of [
    { allowOut: ["nope"] },
    { allowOut: ["192.0.2.1/99"] },
    { allowOut: Array(300).fill("192.0.2.1") },
    { denyOut: "x" },
    { allowOut: [""] },
    { allowOut: ["😀"] },
    { allowOut: ["x".repeat(300)] },
  ]) {
    add(`network ${j(b).slice(0, 60)}`, post(`${sb}/network`, b, "PATCH"));
  }
  for (const b of [{ type: "bogus" }, { type: 5 }, { type: "memory", extra: 1 }])
    add(`snapshot ${j(b)}`, post(`${sb}/snapshot`, b));
  for (const raw of [
    '{"times": 0}',
    '{"times": 51}',
    '{"times": 1.5}',
    '{"times": "2"}',
    '{"times": -1}',
    '{"times": 1e309}',
    '{"times": 1e9}',
  ])
    add(`copy ${raw}`, post(`${sb}/copy`, raw));
  const def = (d: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => ({
    definition: { name: "abuse", baseImage: "debian-minimal", steps: [], ...d },
    ...extra,
  });
  const buildBodies: unknown[] = [
    { definition: "x" },
    def({ name: "UPPER" }),
    def({ name: "a/b" }),
    def({ name: "x".repeat(300) }),
    def({ name: "😀" }),
    def({ name: "" }),
    def({ baseImage: "../../etc" }),
    def({ baseImage: "" }),
    def({ steps: Array(201).fill({ op: "run", command: "true" }) }),
    def({ steps: [{ op: "evil" }] }),
    def({ steps: [{ op: "run", command: "" }] }),
    def({ tag: "../x" }),
    def({ tag: "x".repeat(300) }),
    def({}, { registeredName: "a/b" }),
    def({}, { registeredName: "UPPER" }),
    def({}, { tag: "../x" }),
    def({}, { tag: "😀" }),
    def({ steps: [{ op: "env", key: "1A", value: "x" }] }),
    def({
      steps: [
        { op: "copy", context: `sha256:${"0".repeat(64)}`, sources: [{ name: "../x", type: "file" }], dest: "/x" },
      ],
    }),
    def({
      steps: [{ op: "copy", context: `sha256:${"0".repeat(64)}`, sources: [{ name: "x", type: "file" }], dest: "/x" }],
    }),
    def({ steps: [{ op: "user", user: "root;id" }] }),
    def({ steps: [{ op: "workdir", path: "" }] }),
  ];
  for (const b of buildBodies) add(`build ${j(b).slice(0, 100)}`, post("/v1/builds", b));
  for (const name of BAD_NAMES)
    add(`register image name ${j(name).slice(0, 30)}`, post("/v1/images", { name, snapshotId: t.snapshotId }));
  for (const tag of ["../x", "a/b", "😀", "x".repeat(300), ""])
    add(
      `register image tag ${j(tag).slice(0, 30)}`,
      post("/v1/images", { name: "abuse-ok", tag, snapshotId: t.snapshotId }),
    );
  for (const b of [
    { name: "abuse", snapshotId: "../../x" },
    { name: "abuse", snapshotId: 5 },
    { name: 5, snapshotId: t.snapshotId },
    { snapshotId: t.snapshotId },
  ])
    add(`register image ${j(b)}`, post("/v1/images", b));
  add("create project over TCP", post("/v1/projects", { name: "abuse-new" }), ["permission_denied"]);

  // Path parameters: traversal, NUL, unicode, invalid percent-encoding, excessive length.
  for (const p of TRAVERSALS) {
    for (const [method, path] of [
      ["GET", `/v1/sandboxes/${p}`],
      ["DELETE", `/v1/sandboxes/${p}`],
      ["GET", `/v1/sandboxes/${p}/processes`],
      ["GET", `${sb}/processes/${p}`],
      ["GET", `${sb}/processes/${p}/output`],
      ["DELETE", `${sb}/processes/${p}/stdin`],
      ["GET", `/v1/snapshots/${p}`],
      ["DELETE", `/v1/snapshots/${p}`],
      ["GET", `/v1/builds/${p}`],
      ["GET", `/v1/builds/${p}/events`],
      ["DELETE", `/v1/builds/${p}`],
      ["GET", `/v1/images/${p}`],
      ["DELETE", `/v1/images/${p}`],
      ["GET", `/v1/contexts/${p}`],
      ["GET", `/v1/contexts/sha256:${p}`],
      ["POST", `/v1/projects/${p}/tokens`],
      ["GET", `/v1/sandboxes/${p}/files?path=/etc/passwd`],
    ] as const) {
      add(`${method} ${path.slice(0, 100)}`, { method, path });
    }
  }

  // Query parameters.
  for (const q of ["all=2", "all=NaN", "all=-1", "all=1e309", "all=1&all=0"])
    add(`list ${q}`, { method: "GET", path: `/v1/sandboxes?${q}` });
  for (const q of ["follow=-1", "follow=yes", "follow=1e309"])
    add(`output ${q}`, { method: "GET", path: `${proc}/output?${q}` });
  for (const q of [
    "",
    "path=",
    "path=%00",
    "path=/work/a%00b",
    "path=relative/x",
    "path=/work/x&recursive=yes",
    "path=/work/x&recursive=1e309",
  ]) {
    for (const method of ["GET", "DELETE"]) add(`${method} files ?${q}`, { method, path: `${sb}/files?${q}` });
  }
  for (const q of ["", "path=", "path=%00", "path=/work/a%00b", "path=relative/x"])
    add(`PUT files ?${q}`, {
      method: "PUT",
      path: `${sb}/files?${q}`,
      body: "x",
      headers: { "content-type": "application/octet-stream" },
    });
  for (const q of ["", "path=", "path=%00x"]) add(`files/list ?${q}`, { method: "GET", path: `${sb}/files/list?${q}` });
  for (const q of ["", "path=", "path=/work/%00"]) add(`archive ?${q}`, { method: "GET", path: `${sb}/archive?${q}` });
  add(
    "PUT archive not a tar",
    {
      method: "PUT",
      path: `${sb}/archive?path=/work/abuse-untar`,
      body: "this is not a tar archive at all",
      headers: { "content-type": "application/octet-stream" },
    },
    ["invalid_archive"],
  );
  add(
    "PUT context not a tar",
    {
      method: "PUT",
      path: `/v1/contexts/sha256:${"a".repeat(64)}`,
      body: "not a tar",
      headers: { "content-type": "application/x-tar" },
    },
    ["invalid_archive"],
  );
  add("PUT context short digest", {
    method: "PUT",
    path: "/v1/contexts/sha256:abc",
    body: "x",
    headers: { "content-type": "application/x-tar" },
  });
  // Methods a path does not have, stdin of a process started without it, base images.
  for (const [method, path] of [
    ["PUT", "/v1/sandboxes"],
    ["PATCH", "/v1/images"],
    ["TRACE", "/v1/sandboxes"],
    ["OPTIONS", sb],
    ["POST", `${sb}/files/list`],
    ["DELETE", "/v1/snapshots"],
    ["PROPFIND", "/v1/info"],
  ] as const) {
    add(`${method} ${path}`, { method, path }, ["not_found"]);
  }
  add(
    "stdin to a process without stdin",
    { method: "POST", path: `${proc}/stdin`, body: "x", headers: { "content-type": "application/octet-stream" } },
    ["failed_precondition"],
  );
  add("remove a base image", { method: "DELETE", path: "/v1/images/debian-minimal" }, ["failed_precondition"]);
  return cases;
}
