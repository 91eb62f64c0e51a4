"""Unit tests of the Python SDK (no daemon): the error-code and route tables match the TypeScript
ones, connection settings, step validation with the caller's line, signal names, the loader's
version check, and safe extraction of hostile archives."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import tarfile

import pytest
from conftest import REPO

from sbx_sdk import ERROR_CODES, Image, SbxError, function, image_of, resolve_config
from sbx_sdk.archive import extract_safe
from sbx_sdk.errors import error_from_response
from sbx_sdk.process import signal_name
from sbx_sdk.routes import ROUTES


def _ts(path: str) -> str:
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def test_error_codes_match_the_typescript_registry() -> None:
    src = _ts("packages/protocol/src/errors.ts")
    block = src[src.index("export const ERROR_CODES = {") : src.index("} as const;")]
    ts = [(k, int(v)) for k, v in re.findall(r"^\s+(\w+): (\d+),", block, re.M)]
    assert list(ERROR_CODES.items()) == ts


def test_routes_match_the_typescript_table() -> None:
    src = _ts("packages/protocol/src/routes.ts")
    block = src[src.index("export const ROUTES = {") : src.index("} as const;")]
    assert ROUTES == dict(re.findall(r'^\s+(\w+): "([^"]+)"', block, re.M))


def test_connection_settings_come_from_arguments_then_the_environment() -> None:
    env = {
        "SBX_HOST": "http://10.0.0.1:7000/",
        "SBX_TOKEN": "t0k",
        "SBX_PROJECT": "team",
    }
    c = resolve_config(env=env)
    assert (c.host, c.socket_path, c.token, c.project) == (
        "http://10.0.0.1:7000",
        None,
        "t0k",
        "team",
    )
    c = resolve_config(host="/run/x.sock", project="p", env=env)
    assert (c.host, c.socket_path, c.project) == (
        "unix:///run/x.sock",
        "/run/x.sock",
        "p",
    )
    assert resolve_config(env={}).host == "unix:///run/sbx/sbxd.sock"
    # The project header goes only when a project was named (default too): over TCP the token decides.
    from sbx_sdk.transport import Transport

    for project, env, header in [(None, {}, None), ("default", {}, "default"), (None, {"SBX_PROJECT": "x"}, "x")]:
        t = Transport(project=project, env=env)
        assert t.config.project_named is (header is not None)
        assert t.headers().get("x-sbx-project") == header
    with pytest.raises(SbxError) as err:
        resolve_config(host="ftp://x", env={})
    assert err.value.code == "invalid_argument"


def test_contexts_of_the_cli_config_file(tmp_path: os.PathLike[str]) -> None:
    import json

    path = os.path.join(str(tmp_path), "sbx", "config.json")
    os.makedirs(os.path.dirname(path))
    cfg = {
        "current": "remote",
        "contexts": {
            "remote": {"host": "https://sbx.example:7443", "token": "ctx-token", "project": "team"},
            "local": {"host": "unix:///run/other.sock"},
        },
    }
    with open(path, "w") as f:
        json.dump(cfg, f)
    os.chmod(path, 0o600)
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    c = resolve_config(env=env)
    assert (c.context, c.host, c.token, c.project) == ("remote", "https://sbx.example:7443", "ctx-token", "team")
    c = resolve_config(env={**env, "SBX_CONTEXT": "local", "SBX_PROJECT": "p"})
    assert (c.context, c.socket_path, c.token, c.project) == ("local", "/run/other.sock", None, "p")
    # A host given outright never borrows a context's token.
    c = resolve_config(host="http://10.0.0.2:1", env=env)
    assert (c.context, c.token, c.project) == (None, None, "default")
    with pytest.raises(SbxError) as err:
        resolve_config(env={**env, "SBX_CONTEXT": "nope"})
    assert err.value.code == "not_found"
    os.chmod(path, 0o644)
    with pytest.raises(SbxError) as err:
        resolve_config(env=env)
    assert err.value.code == "permission_denied" and "chmod 600" in str(err.value)


def test_error_answers_keep_the_daemons_code_or_use_the_status() -> None:
    e = error_from_response(404, b'{"error":{"code":"sandbox_not_found","message":"no sandbox x"}}')
    assert (e.code, str(e), e.status) == ("sandbox_not_found", "no sandbox x", 404)
    assert error_from_response(503, b"<html>proxy</html>").code == "daemon_unavailable"


def test_steps_are_checked_at_once_and_name_the_callers_line() -> None:
    img = Image(name="unit").run("true")
    with pytest.raises(SbxError) as err:
        img.env("1BAD", "x")  # this line is in the message
    assert err.value.code == "invalid_argument"
    assert re.search(r"env\(\): invalid variable name .*test_unit\.py:\d+:\d+", str(err.value))
    with pytest.raises(SbxError) as err:
        Image(name="Bad Name")
    assert err.value.code == "invalid_name"
    with pytest.raises(SbxError):
        img.copy("https://example.com/x", "/x")  # copy() takes local paths
    with pytest.raises(SbxError):
        img.run("x", options={"mount": "type=cache"})
    with pytest.raises(SbxError) as err:
        img.run(["apt-get update", "apt-get install -y curl"])  # Tensorlake's list of shell lines
    assert "give one shell command as a string" in str(err.value)
    steps = img.copy("a", "/b", {"chown": "1000:1000"}).add("b", "/c", chmod=0o755).steps
    assert steps[1]["text"] == "COPY --chown=1000:1000 a /b"
    assert steps[2]["text"] == "ADD --chmod=0755 b /c"
    assert steps[0]["source"]["file"] == __file__


def test_function_decorator_attaches_the_image() -> None:
    img = Image(name="fn-image")

    @function(image=img, cpu=2)
    def handler(x: int) -> int:
        return x + 1

    assert handler(1) == 2
    assert image_of(handler) is img
    assert image_of(lambda: 0) is None


def test_signal_names() -> None:
    assert signal_name(15) == "SIGTERM"
    assert signal_name("int") == "SIGINT"
    with pytest.raises(SbxError):
        signal_name(999)


def test_loader_refuses_python_older_than_3_11() -> None:
    spec = importlib.util.spec_from_file_location("load_image", os.path.join(REPO, "packages/cli/python/load_image.py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    err = mod.version_error((3, 9, 2, "final", 0), "/usr/bin/python3.9")
    assert err["code"] == "failed_precondition"
    assert "3.11 or newer; /usr/bin/python3.9 is 3.9.2" in err["message"]
    assert mod.version_error((3, 11, 0, "final", 0), "python3") is None


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _info(
    name: str,
    kind: bytes = tarfile.REGTYPE,
    size: int = 0,
    link: str = "",
    mode: int = 0o644,
) -> tarfile.TarInfo:
    i = tarfile.TarInfo(name)
    i.type, i.size, i.linkname, i.mode = kind, size, link, mode
    return i


def test_extraction_of_hostile_archives_stays_inside_the_target(
    tmp_path: os.PathLike[str],
) -> None:
    outside = os.path.join(str(tmp_path), "outside")
    os.mkdir(outside)
    target = os.path.join(str(tmp_path), "target")
    data = _tar(
        [
            (_info("top/ok.txt", size=2, mode=0o4755), b"ok"),
            (_info("top/../../escape.txt", size=1), b"x"),
            (_info("top/link", tarfile.SYMTYPE, link=outside), None),
            (_info("top/link/through.txt", size=1), b"y"),
            # Not even the missing directories above an entry are made through the link.
            (_info("top/link/made/here.txt", size=1), b"z"),
            (_info("top/hard", tarfile.LNKTYPE, link="/etc/passwd"), None),
            (_info("top/dev", tarfile.CHRTYPE), None),
        ]
    )
    refused: list[str] = []
    extract_safe(
        [data],
        target,
        strip=1,
        on_warning=lambda m, r: refused.append(m) if r else None,
    )
    assert open(os.path.join(target, "ok.txt")).read() == "ok"
    assert os.stat(os.path.join(target, "ok.txt")).st_mode & 0o7777 == 0o755  # no setuid
    assert os.listdir(outside) == []
    assert not os.path.exists(os.path.join(str(tmp_path), "escape.txt"))
    assert not os.path.exists(os.path.join(target, "hard")) and not os.path.exists(os.path.join(target, "dev"))
    assert len(refused) == 5
    with pytest.raises(SbxError) as err:
        extract_safe([b"not a tar at all" * 64], target)
    assert err.value.code == "invalid_archive"


def test_paths_that_are_not_utf8_go_as_their_bytes() -> None:
    from sbx_sdk.file_path import entry_path, path_query
    from sbx_sdk.wire import FileInfo

    assert path_query("/a b") == {"path": "/a b"}
    assert path_query(b"/caf\xe9") == {"pathBase64": "L2NhZuk="}
    latin = FileInfo(name="caf\ufffd", name_base64="Y2Fm6Q==")
    assert entry_path("/nl", latin) == b"/nl/caf\xe9"
    assert entry_path(b"/nl/caf\xe9", FileInfo(name="x")) == b"/nl/caf\xe9/x"
    assert entry_path("/", FileInfo(name="a")) == "/a"
