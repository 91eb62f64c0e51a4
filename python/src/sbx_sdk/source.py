"""Where in the user's code an image step was declared: the first stack frame outside this package,
as file:line:column (column of the method name, 1-based, as the TypeScript SDK reports it), so
build errors point at the line that wrote the step."""

from __future__ import annotations

import linecache
import os
import re
import sys
from typing import Any

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

SourceLocation = dict[str, Any]


def capture_source(token: str | None = None) -> SourceLocation | None:
    frame = sys._getframe(1)
    while frame is not None:
        file = frame.f_code.co_filename
        if not file.startswith(_PACKAGE_DIR) and not file.startswith("<") and os.path.isabs(file):
            line = frame.f_lineno
            column = _column(file, line, token) if token else None
            return {"file": file, "line": line} if column is None else {"file": file, "line": line, "column": column}
        if not file.startswith(_PACKAGE_DIR) and file.startswith("<"):
            return None
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _column(file: str, line: int, token: str) -> int | None:
    text = linecache.getline(file, line)
    if not text:
        return None
    pattern = r"(?:^|[^\w.])(Image)\s*\(" if token == "new" else r"\.\s*(" + re.escape(token) + r")\s*\("
    starts = [m.start(1) + 1 for m in re.finditer(pattern, text)]
    # One candidate on the line is unambiguous; with several, a wrong column is worse than none.
    return starts[0] if len(starts) == 1 else None


def display_path(file: str, base: str | None = None) -> str:
    """``file`` relative to ``base`` (the working directory) when it lies below it."""
    if not os.path.isabs(file):
        return file
    rel = os.path.relpath(file, base or os.getcwd())
    return file if rel == ".." or rel.startswith(".." + os.sep) else rel


def format_source(source: SourceLocation | None) -> str:
    if not source:
        return ""
    col = f":{source['column']}" if source.get("column") else ""
    return f"{display_path(source['file'])}:{source['line']}{col}"
