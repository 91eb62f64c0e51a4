"""Image: a sandbox image defined in Python, in the shape Tensorlake users write
(``Image(name=..., base_image=...).run(...).env(...).workdir(...).copy(...).add(...)``) plus
sbx's other steps (user, copy_from, entrypoint, cmd). Each call is checked at once and remembers
the caller's line. The steps are the same as the TypeScript SDK's, so both lower to the same IR."""

from __future__ import annotations

import copy as _copy
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .config import default_base_image
from .errors import SbxError
from .source import SourceLocation, capture_source, format_source

MAX_STEPS = 200
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_USER_RE = re.compile(r"^(\d+|[a-z_][a-z0-9_-]*)(:(\d+|[a-z_][a-z0-9_-]*))?$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_URL_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)

#: Step dicts as declared (the TypeScript SDK's ImageStep): copy/add hold local paths, globs or URLs.
ImageStep = dict[str, Any]


class Image:
    """An image definition; ``build()`` builds it on the daemon, ``sbx image create file.py`` too."""

    #: The base image of images that name none; env SBX_DEFAULT_BASE_IMAGE overrides debian-minimal.
    default_base_image: str = default_base_image()

    def __init__(self, name: str, tag: str | None = None, base_image: str | None = None) -> None:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise SbxError(
                "invalid_name",
                f"invalid image name {_js(name)}: use 1-63 lowercase letters, digits, '.', '_' or '-', starting and"
                " ending with a letter or digit" + _at(capture_source("new")),
            )
        if tag is not None and (not isinstance(tag, str) or not _TAG_RE.match(tag)):
            raise SbxError(
                "invalid_name",
                f"invalid image tag {_js(tag)}: up to 128 letters, digits, '_', '.' or '-',"
                " not starting with '.' or '-'" + _at(capture_source("new")),
            )
        if base_image is not None and (
            not isinstance(base_image, str)
            or not base_image.strip()
            or len(base_image) > 255
            or re.search(r"[\s\0]", base_image)
        ):
            raise SbxError(
                "invalid_argument",
                f'invalid base image {_js(base_image)}: give an image name such as "debian-minimal" or'
                ' "my-image:v1"' + _at(capture_source("new")),
            )
        self.name = name
        self.tag = tag or "latest"
        self._base_image = base_image
        self._steps: list[ImageStep] = []
        #: Where ``Image(...)`` was called; its folder is the default build context.
        self.source = capture_source("new")

    def __repr__(self) -> str:
        return f"Image(name={self.name!r}, tag={self.tag!r}, base_image={self.base_image!r}, steps={len(self._steps)})"

    @property
    def base_image(self) -> str:
        return self._base_image or Image.default_base_image

    @property
    def steps(self) -> list[ImageStep]:
        """The steps so far (copies), in order."""
        return _copy.deepcopy(self._steps)

    # --- steps --------------------------------------------------------------------------------

    def run(self, commands: str | list[str], options: Mapping[str, str] | None = None) -> Image:
        """Runs a shell command (a string), or a program with arguments and no shell (a list)."""
        self._no_options("run", options, ())
        if isinstance(commands, str):
            if not commands.strip():
                raise self._bad("run", "the command is empty")
            command: str | list[str] = commands
        elif isinstance(commands, list) and commands and all(isinstance(a, str) for a in commands) and commands[0]:
            if any(c.isspace() for c in commands[0]):
                # Tensorlake joins a list into one shell line; here a list is an argv, as in the TypeScript SDK.
                raise self._bad(
                    "run",
                    f"a list is [program, *args], run without a shell, and {_js(commands[0])} is not a program name:"
                    ' give one shell command as a string, e.g. run("apt-get update && apt-get install -y curl")',
                )
            command = list(commands)
        else:
            raise self._bad(
                "run",
                "the command is a string (run by /bin/sh) or a list of strings [program, *args] (run without a shell)",
            )
        return self._push({"op": "run", "command": command}, "run")

    def env(self, key: str, value: str) -> Image:
        if not isinstance(key, str) or not _ENV_KEY_RE.match(key):
            raise self._bad(
                "env",
                f"invalid variable name {_js(key)}: letters, digits and _, not starting with a digit",
            )
        if not isinstance(value, str):
            raise self._bad(
                "env",
                f"the value of {key} must be a string (got {type(value).__name__}); use str(x)",
            )
        return self._push({"op": "env", "key": key, "value": value}, "env")

    def workdir(self, directory: str) -> Image:
        """Sets the working directory of later steps and of the image (created if missing)."""
        if not isinstance(directory, str) or not directory.strip() or "\0" in directory:
            raise self._bad("workdir", 'give a directory, e.g. workdir("/app")')
        return self._push({"op": "workdir", "path": directory}, "workdir")

    def user(self, name: str) -> Image:
        """Sets the user of later steps and of the image: ``name``, ``uid``, ``name:group`` or ``uid:gid``."""
        if not isinstance(name, str) or not _USER_RE.match(name):
            raise self._bad(
                "user",
                f"invalid user {_js(name)}: use name, uid, name:group or uid:gid",
            )
        return self._push({"op": "user", "user": name}, "user")

    def copy(
        self,
        src: str | list[str],
        dest: str,
        options: Mapping[str, str] | None = None,
        *,
        chown: str | None = None,
        chmod: str | int | None = None,
    ) -> Image:
        """Copies local files, directories or glob matches (relative to the image file's folder) into the image."""
        return self._copy_step("copy", src, dest, options, chown, chmod)

    def add(
        self,
        src: str | list[str],
        dest: str,
        options: Mapping[str, str] | None = None,
        *,
        chown: str | None = None,
        chmod: str | int | None = None,
    ) -> Image:
        """Like copy(), and also unpacks local tar archives and downloads http(s) URLs."""
        return self._copy_step("add", src, dest, options, chown, chmod)

    def copy_from(
        self,
        image: str,
        src: str | list[str],
        dest: str,
        *,
        chown: str | None = None,
        chmod: str | int | None = None,
    ) -> Image:
        """Copies paths out of another image of the project (Dockerfile's ``COPY --from``)."""
        paths = [src] if isinstance(src, str) else src
        if not isinstance(image, str) or not image.strip() or re.search(r"[\s\0]", image):
            raise self._bad(
                "copy_from",
                f'invalid image {_js(image)}: give an image name such as "builder" or "my-image:v1"',
            )
        if (
            not isinstance(paths, list)
            or not paths
            or not all(isinstance(p, str) and p.strip() and "\0" not in p for p in paths)
        ):
            raise self._bad(
                "copy_from",
                "give a path in the image (or a list of them),"
                ' e.g. copy_from("builder", "/out/app", "/usr/local/bin/")',
            )
        self._check_dest("copy_from", dest)
        step: ImageStep = {
            "op": "copy_from",
            "image": image,
            "paths": list(paths),
            "dest": dest,
            "text": "",
        }
        self._ownership("copy_from", step, chown, chmod)
        step["text"] = " ".join(["COPY", f"--from={image}", *_ownership_flags(step), *paths, dest])
        return self._push(step, "copy_from")

    def entrypoint(self, args: list[str] | str) -> Image:
        """The program sandboxes of this image run (exec form); a string means ``/bin/sh -c <string>``."""
        return self._push({"op": "entrypoint", "args": self._argv("entrypoint", args)}, "entrypoint")

    def cmd(self, args: list[str] | str) -> Image:
        return self._push({"op": "cmd", "args": self._argv("cmd", args)}, "cmd")

    def __str__(self) -> str:
        """The definition as Dockerfile-like lines: ``FROM debian-minimal``, ``RUN apt-get ...``."""
        from .build import describe_step

        return "\n".join([f"FROM {self.base_image}", *(describe_step(s) for s in self._steps)])

    # --- IR and builds ------------------------------------------------------------------------

    def to_definition(self, context_dir: str | None = None, ignore_file: str | None = None) -> dict[str, Any]:
        """The step IR the daemon receives (copy/add contexts are packed to compute their digests)."""
        from .build import image_definition

        return image_definition(self, context_dir=context_dir, ignore_file=ignore_file)

    def build(
        self,
        registered_name: str | None = None,
        *,
        tag: str | None = None,
        replace: bool = False,
        no_cache: bool = False,
        context_dir: str | None = None,
        ignore_file: str | None = None,
        client: Any = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        verbose: bool = False,
    ) -> Any:
        """Builds the image on the daemon and returns the registered ImageInfo; a failed build raises SbxError.

        ``verbose`` prints each step and its output on stderr; ``on_event`` gets the build's events.
        """
        from .build import build_image

        return build_image(
            self,
            registered_name=registered_name,
            tag=tag,
            replace=replace,
            no_cache=no_cache,
            context_dir=context_dir,
            ignore_file=ignore_file,
            client=client,
            on_event=on_event,
            verbose=verbose,
        )

    # --- helpers ------------------------------------------------------------------------------

    def _copy_step(
        self,
        op: str,
        src: str | list[str],
        dest: str,
        options: Mapping[str, str] | None,
        chown: str | None,
        chmod: str | int | None,
    ) -> Image:
        opts = self._no_options(op, options, ("chown", "chmod"))
        chown = chown if chown is not None else opts.get("chown")
        chmod = chmod if chmod is not None else opts.get("chmod")
        sources = [src] if isinstance(src, str) else src
        if (
            not isinstance(sources, list)
            or not sources
            or not all(isinstance(s, str) and s.strip() and "\0" not in s for s in sources)
        ):
            raise self._bad(
                op,
                'give a source path (or a list of them), e.g. copy("scripts/", "/opt/app/scripts/")',
            )
        for s in sources:
            if _URL_RE.match(s):
                if op == "copy":
                    raise self._bad(op, f"copy() takes local paths; to download {s} use add()")
                if not re.match(r"^https?://", s, re.I):
                    raise self._bad(op, f"only http and https URLs can be downloaded, not {s}")
                if not urlsplit(s).hostname:
                    raise self._bad(op, f"{s} is not a valid URL")
        self._check_dest(op, dest)
        step: ImageStep = {"op": op, "src": list(sources), "dest": dest, "text": ""}
        self._ownership(op, step, chown, chmod)
        step["text"] = " ".join([op.upper(), *_ownership_flags(step), *sources, dest])
        return self._push(step, op)

    def _check_dest(self, op: str, dest: object) -> None:
        if not isinstance(dest, str) or not dest.strip() or "\0" in dest:
            raise self._bad(op, 'give a destination, e.g. "/opt/app/"')

    def _ownership(self, op: str, step: ImageStep, chown: object, chmod: object) -> None:
        if chown is not None:
            if not isinstance(chown, str) or not _USER_RE.match(chown):
                raise self._bad(op, f"invalid chown {_js(chown)}: use user[:group], by name or id")
            step["chown"] = chown
        if chmod is not None:
            if isinstance(chmod, int) and not isinstance(chmod, bool) and 0 <= chmod <= 0o7777:
                step["chmod"] = format(chmod, "o").rjust(4, "0")
            elif isinstance(chmod, str) and re.match(r"^[0-7]{3,4}$", chmod):
                step["chmod"] = chmod
            else:
                raise self._bad(
                    op,
                    f'invalid chmod {_js(chmod)}: use an octal mode such as "0755" or 0o755',
                )

    def _no_options(self, op: str, options: Mapping[str, str] | None, allowed: tuple[str, ...]) -> Mapping[str, str]:
        if options is None:
            return {}
        if not isinstance(options, Mapping):
            raise self._bad(op, "options is a dict of strings")
        extra = [k for k in options if k not in allowed]
        if extra:
            hint = " (copy from another image with copy_from())" if "from" in extra else ""
            can = f"; it takes {', '.join(allowed)}" if allowed else ""
            raise self._bad(op, f"option {', '.join(extra)} is not supported{can}{hint}")
        return options

    def _argv(self, op: str, args: list[str] | str) -> list[str]:
        if isinstance(args, str):
            if not args.strip():
                raise self._bad(op, "the command is empty")
            return ["/bin/sh", "-c", args]
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise self._bad(op, 'give a list of strings, e.g. ["python3", "app.py"]')
        return list(args)

    def _push(self, step: ImageStep, method: str) -> Image:
        if len(self._steps) >= MAX_STEPS:
            raise self._bad(method, f"an image has at most {MAX_STEPS} steps")
        source = capture_source(method)
        if source:
            step["source"] = source
        self._steps.append(step)
        return self

    def _bad(self, method: str, message: str) -> SbxError:
        return SbxError(
            "invalid_argument",
            f"image {self.name}: {method}(): {message}{_at(capture_source(method))}",
        )


def _at(source: SourceLocation | None) -> str:
    where = format_source(source)
    return f" (at {where})" if where else ""


def _ownership_flags(step: ImageStep) -> list[str]:
    return [
        f
        for f in (
            f"--chown={step['chown']}" if step.get("chown") else "",
            f"--chmod={step['chmod']}" if step.get("chmod") else "",
        )
        if f
    ]


def _js(value: object) -> str:
    import json

    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)
