"""``.sbxignore`` in the build context: gitignore syntax (comments, ``!`` negation, ``/`` anchoring,
a trailing ``/`` for directories only, ``*``, ``?``, ``[...]``, ``**``), the same matcher as the
TypeScript SDK's sbxignore.ts, applied to the paths copy() and add() pack."""

from __future__ import annotations

import os
import re


class IgnoreRules:
    def __init__(self, text: str = "", file: str | None = None) -> None:
        self.file = file
        self._rules = [r for r in (_parse_line(line) for line in re.split(r"\r?\n", text)) if r]

    @staticmethod
    def load(context_dir: str, file: str | None = None) -> IgnoreRules:
        """``<context>/.sbxignore`` by default, else ``file`` (relative to the context or absolute)."""
        path = os.path.join(context_dir, file or ".sbxignore")
        try:
            with open(path, encoding="utf-8") as f:
                return IgnoreRules(f.read(), path)
        except FileNotFoundError:
            return IgnoreRules()

    def ignores(self, path: str, is_dir: bool) -> bool:
        ignored = False
        for regex, negate, dir_only in self._rules:
            if dir_only and not is_dir:
                continue
            if negate == ignored and regex.search(path):
                ignored = not negate
        return ignored

    def ignores_with_parents(self, path: str, is_dir: bool) -> bool:
        parts = path.split("/")
        for i in range(1, len(parts)):
            if self.ignores("/".join(parts[:i]), True):
                return True
        return self.ignores(path, is_dir)


def _parse_line(raw: str) -> tuple[re.Pattern[str], bool, bool] | None:
    line = re.sub(r"(?<!\\)\s+$", "", raw)
    if not line or line.startswith("#"):
        return None
    negate = False
    if line.startswith("!"):
        negate, line = True, line[1:]
    elif line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = False
    if line.endswith("/"):
        dir_only, line = True, line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    body = _glob_to_regex(line.lstrip("/"))
    return (
        re.compile(f"^{body}$" if anchored else f"^(?:.*/)?{body}$"),
        negate,
        dir_only,
    )


def _glob_to_regex(glob: str) -> str:
    out = ""
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            if i + 1 < len(glob) and glob[i + 1] == "*":
                at_start = i == 0 or glob[i - 1] == "/"
                at_end = i + 2 == len(glob) or glob[i + 2] == "/"
                if at_start and at_end:
                    i += 1
                    if i + 1 < len(glob) and glob[i + 1] == "/":
                        i += 1
                        out += "(?:.*/)?"
                    else:
                        out += ".*"
                    i += 1
                    continue
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = glob.find("]", i + 2)
            if end == -1:
                out += "\\["
            else:
                chars = glob[i + 1 : end].replace("\\", "\\\\")
                if chars.startswith("!"):
                    chars = "^" + chars[1:]
                out += f"[{chars}]"
                i = end
        elif c == "\\" and i + 1 < len(glob):
            i += 1
            out += re.escape(glob[i])
        else:
            out += re.escape(c)
        i += 1
    return out
