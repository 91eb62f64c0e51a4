"""The SDK contract, Python half (the TypeScript half is test/sdk-contract.e2e.test.ts, with the
same scenario names): the seed flow, processes, files, snapshots and bad input against a real
sbxd with real crun sandboxes."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from conftest import REPO

from sbx_sdk import Exit, Image, OutputChunk, Sandbox, SandboxClient, SbxError, entry_path

SEED = os.path.join(REPO, "test", "fixtures", "python-seed")
Make = Callable[..., Sandbox]


def test_seed_flow_builds_an_image_from_python_and_launches_it(
    client: SandboxClient, sandbox: Make, capsys: pytest.CaptureFixture[str]
) -> None:
    import runpy

    ns = runpy.run_path(os.path.join(SEED, "image.py"), run_name="seed")
    events: list[str] = []
    info = ns["image"].build(
        "py-seed-sdk", client=client, replace=True, verbose=True, on_event=lambda e: events.append(e["type"])
    )
    assert (info.name, info.kind) == ("py-seed-sdk", "built")
    assert events[0] == "build" and events[-1] == "done" and "step_done" in events
    assert "[1/5] RUN echo seeded > /etc/seed" in capsys.readouterr().err
    sb = sandbox(image="py-seed-sdk")
    r = sb.run(
        "sh",
        [
            "-c",
            'echo "$GREETING $(pwd)"; cat /etc/seed; cat app/hello.txt; cat assets/a/f',
        ],
    )
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "hello from python /opt/app\nseeded\nhello file\nin the tar\n"
    client.delete_image("py-seed-sdk")


def test_processes_run_stream_stdin_and_signals(sandbox: Make) -> None:
    with sandbox() as sb:
        r = sb.run(
            "sh",
            ["-c", "echo out; echo err >&2; pwd; echo $X; exit 3"],
            env={"X": "y"},
            working_dir="/tmp",
        )
        assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n/tmp\ny\n", "err\n")
        p = sb.start_process("sh", ["-c", "for i in 1 2 3; do echo line$i; done"])
        assert list(p.stdout_lines()) == ["line1", "line2", "line3"]
        cat = sb.start_process("sh", ["-c", "tr a-z A-Z; echo done"], stdin=True)
        cat.write_stdin("hello\n")
        cat.close_stdin()
        res = cat.wait()
        assert (res.exit_code, res.stdout) == (0, "HELLO\ndone\n")
        sleeper = sb.start_process("sleep", ["600"])
        chunks = sleeper.output(follow=True)
        sleeper.signal("SIGTERM")
        end = [ev for ev in chunks if isinstance(ev, Exit)]
        assert end and end[0].signal == "SIGTERM"
        assert sleeper.info().status == "exited"
        streamed = [ev for ev in sb.exec("sh", ["-c", "echo a; echo b >&2"]) if isinstance(ev, OutputChunk)]
        assert {(c.stream, c.data) for c in streamed} == {
            ("stdout", b"a\n"),
            ("stderr", b"b\n"),
        }
    assert sb.last_info.status == "terminated"


def test_files_read_write_list_delete_and_trees(sandbox: Make, tmp_path: os.PathLike[str]) -> None:
    sb = sandbox()
    sb.write_file("/work/dir/in.txt", "data ü")
    assert sb.read_file("/work/dir/in.txt") == "data ü".encode()
    listing = sb.list_directory("/work/dir")
    assert [(e.name, e.type, e.size) for e in listing.entries] == [("in.txt", "file", len("data ü".encode()))]
    sb.delete_file("/work/dir/in.txt")
    with pytest.raises(SbxError) as err:
        sb.read_file("/work/dir/in.txt")
    assert err.value.code == "file_not_found"
    # A name that is not UTF-8: listed with its bytes, and read and deleted by them.
    assert sb.run("sh", ["-c", "mkdir -p /work/nu && printf latin > \"$(printf '/work/nu/caf\\351')\""]).exit_code == 0
    [entry] = sb.list_directory("/work/nu").entries
    assert (entry.name, entry.name_base64) == ("caf\ufffd", "Y2Fm6Q==")
    assert entry_path("/work/nu", entry) == b"/work/nu/caf\xe9"
    assert sb.read_file(entry_path("/work/nu", entry)) == b"latin"
    sb.delete_file(entry_path("/work/nu", entry))
    assert sb.list_directory("/work/nu").entries == []
    src = os.path.join(str(tmp_path), "src")
    os.makedirs(os.path.join(src, "sub"))
    with open(os.path.join(src, "sub", "f.txt"), "w") as f:
        f.write("tree")
    sb.upload_directory(src, "/work/tree")
    assert sb.run("cat", ["/work/tree/sub/f.txt"]).stdout == "tree"
    out = os.path.join(str(tmp_path), "out")
    sb.download_directory("/work/tree", out)
    assert open(os.path.join(out, "sub", "f.txt")).read() == "tree"


def test_snapshots_forks_and_suspend_resume(client: SandboxClient, sandbox: Make) -> None:
    name = f"py-contract-{os.getpid()}"
    sb = sandbox(name=name)
    sb.write_file("/state.txt", "v1")
    snap = sb.snapshot()
    assert snap.status == "completed" and snap.source_sandbox_id == sb.id
    sb.write_file("/state.txt", "v2")
    restored = sandbox(snapshot_id=snap.id)
    assert restored.read_file("/state.txt") == b"v1"
    forks = sb.copy(times=2)
    try:
        assert [f.read_file("/state.txt") for f in forks] == [b"v2", b"v2"]
    finally:
        for f in forks:
            f.terminate()
    assert sb.suspend().status == "suspended"
    assert sb.resume().status == "running"
    assert (sb.id, sb.name, sb.read_file("/state.txt")) == (sb.id, name, b"v2")
    client.delete_snapshot(snap.id)


def test_volumes_outlive_sandboxes_and_are_shared_read_only(client: SandboxClient, sandbox: Make) -> None:
    name = f"py-vol-{os.getpid()}"
    client.create_volume(name, size_mb=16)
    try:
        writer = sandbox(volumes=[{"name": name, "path": "/data"}])
        writer.write_file("/data/kept.txt", "kept")
        writer.terminate()
        reader = sandbox(volumes=[{"name": name, "path": "/data", "read_only": True}])
        assert reader.read_file("/data/kept.txt") == b"kept"
        assert [v["mountedBy"][0]["sandboxId"] for v in client.list_volumes() if v["name"] == name] == [reader.id]
        with pytest.raises(SbxError) as err:
            client.delete_volume(name)
        assert err.value.code == "volume_in_use"
        reader.terminate()
    finally:
        client.delete_volume(name)


def test_bad_input_gets_coded_errors_and_changes_nothing(client: SandboxClient, sandbox: Make) -> None:
    before = {s.id for s in client.list()}
    with pytest.raises(SbxError) as err:
        Sandbox.create(name="Not A Name", client=client)
    assert err.value.code == "invalid_name"
    with pytest.raises(SbxError) as err:
        Sandbox.create(image="no-such-image", client=client)
    assert err.value.code == "image_not_found"
    with pytest.raises(SbxError) as err:
        Sandbox.connect("sb-doesnotexist0", client=client)
    assert err.value.code == "sandbox_not_found"
    assert {s.id for s in client.list()} == before
    bad = Image(name="py-fails", base_image="debian-minimal").run("echo before").run("exit 7")  # the failing line
    with pytest.raises(SbxError) as err:
        bad.build(client=client)
    assert err.value.code == "failed_precondition"
    assert err.value.details and err.value.details["exitCode"] == 7 and err.value.details["step"] == 2
    assert err.value.details["source"]["file"].endswith("test_contract.py")
    assert "exit 7" in str(err.value)
    with pytest.raises(SbxError) as err:
        client.get_image("py-fails")
    assert err.value.code == "image_not_found"


def test_terminals_and_port_tunnels(sandbox: Make) -> None:
    sb = sandbox(allow_internet_access=True)
    with sb.create_terminal(cols=91, rows=27) as term:
        term.write('stty size; echo SIZE-"OK"\r')
        seen = b""
        for chunk in term:
            seen += chunk
            if b"SIZE-OK" in seen:
                break
        assert b"27 91" in seen
        term.write("trap 'echo WINCH $(stty size)' WINCH; echo TRAP-\"SET\"\r")
        seen = b""
        for chunk in term:
            seen += chunk
            if b"TRAP-SET" in seen:
                break
        term.resize(100, 30)  # the shell gets SIGWINCH and prints the new size
        seen = b""
        for chunk in term:
            seen += chunk
            if b"WINCH 30 100" in seen:
                break
        term.write("exit 5\r")
        assert b"exit" in b"".join(term)
        assert term.exit_code == 5
    sb.start_process("/.sbx/busybox", ["nc", "-ll", "-p", "5432", "-e", "/bin/cat"])
    for _ in range(100):  # until the echo server listens
        if ":1538 " in sb.run("cat", ["/proc/net/tcp", "/proc/net/tcp6"]).stdout:
            break
    with sb.connect_port(5432) as conn:
        conn.send(b"ping through the tunnel\n")
        got = b""
        while b"\n" not in got:
            got += conn.recv()
        assert got == b"ping through the tunnel\n"
    with pytest.raises(SbxError) as err:
        sb.connect_port(5999)
    assert err.value.code == "upstream_unreachable"


def test_asyncio_variant_runs_commands_concurrently(client: SandboxClient) -> None:
    import asyncio

    from sbx_sdk.aio import AsyncSandbox

    async def main() -> tuple[list[str], list[str], str]:
        async with await AsyncSandbox.create(client=client, allow_internet_access=False) as sb:
            results = await asyncio.gather(*(sb.run("sh", ["-c", f"echo {i}"]) for i in range(3)))
            p = await sb.start_process("sh", ["-c", "echo one; echo two"])
            lines = [line async for line in p.stdout_lines()]
            await sb.write_file("/a.txt", "async")
            content = (await sb.read_file("/a.txt")).decode()
        assert (await sb.info()).status == "terminated"
        return [r.stdout for r in results], lines, content

    outputs, lines, content = asyncio.run(main())
    assert outputs == ["0\n", "1\n", "2\n"] and lines == ["one", "two"] and content == "async"
