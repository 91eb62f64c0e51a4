"""Install: ``pip install ./python`` and a built wheel work offline (--no-index) with the system
Python in a venv, using only Debian's setuptools and wheel, and the installed package talks to
the daemon."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

from conftest import REPO

from sbx_sdk import SandboxClient

#: Debian's interpreter when there is one (what a user of a fresh Debian 12/13 has).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
# No PYTHONPATH: the venv must find the installed copy, not this checkout's.
OFFLINE = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
OFFLINE.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
CHECK = (
    "import importlib.resources as r, sbx_sdk, sys; "
    "assert r.files('sbx_sdk').joinpath('py.typed').is_file(); "
    "print(sbx_sdk.__file__); "
    "print(sbx_sdk.SandboxClient(host=sys.argv[1]).info().version)"
)


def _venv(path: str) -> str:
    # System site-packages: Debian's python3-setuptools and python3-wheel are the build backend.
    # No pip of its own (ensurepip costs seconds): Debian's python3-pip from the system site installs into it.
    subprocess.run(
        [PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", path],
        check=True,
    )
    return os.path.join(path, "bin", "python")


def _pip(python: str, *args: str) -> None:
    r = subprocess.run(
        [python, "-m", "pip", "--no-cache-dir", *args],
        env=OFFLINE,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_pip_install_and_a_built_wheel_work_offline_in_a_venv(
    client: SandboxClient, tmp_path: os.PathLike[str]
) -> None:
    tmp = str(tmp_path)
    # A copy, so the in-tree build leaves nothing behind in the checkout.
    src = os.path.join(tmp, "python")
    shutil.copytree(
        os.path.join(REPO, "python"),
        src,
        ignore=shutil.ignore_patterns("tests", "build", "*.egg-info"),
    )
    host = client.config.host

    direct = _venv(os.path.join(tmp, "venv-dir"))
    _pip(direct, "install", "--no-build-isolation", src)
    r = subprocess.run(
        [direct, "-c", CHECK, host],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=OFFLINE,
    )
    assert r.returncode == 0, r.stderr
    where, version = r.stdout.split()
    assert where.startswith(os.path.join(tmp, "venv-dir")), where
    assert version == "0.1.0"

    _pip(
        direct,
        "wheel",
        "--no-build-isolation",
        "--no-deps",
        "-w",
        os.path.join(tmp, "dist"),
        src,
    )
    (wheel,) = glob.glob(os.path.join(tmp, "dist", "sbx_sdk-0.1.0-*.whl"))
    fresh = _venv(os.path.join(tmp, "venv-wheel"))
    _pip(fresh, "install", wheel)
    r = subprocess.run([fresh, "-c", CHECK, host], capture_output=True, text=True, cwd=tmp, env=OFFLINE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].startswith(os.path.join(tmp, "venv-wheel")), r.stdout
