"""Fixtures of the Python SDK's tests. Tests marked ``daemon`` need a real sbxd: they get its
address from SBX_TEST_HOST, which test/python-sdk.e2e.test.ts sets to the shared test daemon of
the end-to-end run (run them through it: SBX_TEST_SLOT=<n> npx vitest run test/python-sdk.e2e.test.ts)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python", "src"))

from sbx_sdk import Sandbox, SandboxClient  # noqa: E402


@pytest.fixture(scope="session")
def client() -> SandboxClient:
    host = os.environ.get("SBX_TEST_HOST")
    if not host:
        pytest.fail("SBX_TEST_HOST is not set: run these tests through test/python-sdk.e2e.test.ts (it starts sbxd)")
    return SandboxClient(host=host, env={})


@pytest.fixture
def sandbox(client: SandboxClient) -> Iterator[Callable[..., Sandbox]]:
    """Creates sandboxes (no network unless asked) and terminates them after the test, whatever happened."""
    made: list[Sandbox] = []

    def create(**kw: Any) -> Sandbox:
        kw.setdefault("allow_internet_access", False)
        sb = Sandbox.create(client=client, **kw)
        made.append(sb)
        return sb

    yield create
    for sb in made:
        try:
            sb.terminate()
        except Exception:  # already terminated by the test
            pass
