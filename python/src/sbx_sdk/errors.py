"""The one error type of sbx in Python: SbxError with the same stable codes as the TypeScript SDK
(packages/protocol/src/errors.ts; a test holds the two tables equal) and the HTTP status of each."""

from __future__ import annotations

import json
from typing import Any

#: Every code and the HTTP status the daemon answers it with. Where several codes share a status,
#: the first listed is what a bare status means (an answer without an error body).
ERROR_CODES: dict[str, int] = {
    "invalid_argument": 400,
    "invalid_name": 400,
    "invalid_path": 400,
    "invalid_archive": 400,
    "out_of_range": 400,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "sandbox_not_found": 404,
    "process_not_found": 404,
    "terminal_not_found": 404,
    "image_not_found": 404,
    "project_not_found": 404,
    "file_not_found": 404,
    "volume_not_found": 404,
    "sandbox_not_running": 409,
    "already_exists": 409,
    "volume_in_use": 409,
    "failed_precondition": 412,
    "payload_too_large": 413,
    "no_space": 507,
    "daemon_unavailable": 503,
    "base_image_unavailable": 503,
    "node_unavailable": 503,
    "internal": 500,
    "runtime_error": 500,
    "upstream_unreachable": 502,
    "unimplemented": 501,
    "agent_unreachable": 502,
}

_CODE_OF_STATUS: dict[int, str] = {}
for _code, _status in ERROR_CODES.items():
    _CODE_OF_STATUS.setdefault(_status, _code)


class SbxError(Exception):
    """An error with a stable ``code`` (see ERROR_CODES), a message saying what to do next, and details."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        """The HTTP status the daemon answers this code with."""
        return ERROR_CODES.get(self.code, 500)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"SbxError({self.code!r}, {self.message!r})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


def is_error_code(value: object) -> bool:
    return isinstance(value, str) and value in ERROR_CODES


def parse_error_body(value: Any) -> SbxError | None:
    """Reads ``{"error": {"code", "message", "details"}}``; unknown codes become ``internal``."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    error = value.get("error") if isinstance(value, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None
    details = error.get("details") if isinstance(error.get("details"), dict) else None
    code = error.get("code")
    if is_error_code(code):
        return SbxError(str(code), error["message"], details)
    return SbxError("internal", error["message"], {**(details or {}), "code": code})


def error_from_response(status: int, body: bytes) -> SbxError:
    """A non-2xx answer as an SbxError: the daemon's own error body, else the code of the status."""
    parsed = parse_error_body(body)
    if parsed:
        return parsed
    code = _CODE_OF_STATUS.get(status, "internal")
    detail = body.decode("utf-8", "replace").strip()[:300]
    return SbxError(
        code,
        f"sbxd answered HTTP {status}" + (f": {detail}" if detail else ""),
        {"status": status},
    )
