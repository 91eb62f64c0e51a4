"""The client side of a build, as the TypeScript SDK's image-build.ts does it: an Image becomes the
step IR (packing copy/add contexts), contexts the daemon lacks are uploaded, the build is started
and its events followed to the registered image; a failed build raises SbxError carrying the
failing step, the line of the image file that declared it and its last output."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .client import SandboxClient
from .context import PackedContext, pack_copy_step, step_label
from .errors import SbxError
from .ignore import IgnoreRules
from .source import display_path, format_source
from .wire import BuildInfo, ImageInfo, from_wire

if TYPE_CHECKING:
    from .image import Image


def describe_step(step: dict[str, Any]) -> str:
    """A step as one line (``RUN apt-get ...``), as progress and errors show it."""
    op = step["op"]
    if op in ("copy", "add", "copy_from"):
        return str(step["text"])
    if op == "run":
        c = step["command"]
        return "RUN " + (c if isinstance(c, str) else to_json(c))
    if op == "env":
        return f"ENV {step['key']}={step['value']}"
    if op == "workdir":
        return f"WORKDIR {step['path']}"
    if op == "user":
        return f"USER {step['user']}"
    return f"{op.upper()} {to_json(step['args'])}"


def to_json(value: Any) -> str:
    """JSON as JavaScript's JSON.stringify writes it (no spaces, non-ASCII as is): the IR's bytes."""
    text: str = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text


def _context_dir(image: Image, context_dir: str | None) -> str:
    if context_dir is not None:
        return os.path.abspath(context_dir)
    return os.path.dirname(str(image.source["file"])) if image.source else os.getcwd()


def _prepare(
    image: Image, context_dir: str | None, ignore_file: str | None, tmp_dir: str
) -> tuple[dict[str, Any], list[PackedContext]]:
    ctx = _context_dir(image, context_dir)
    steps = image.steps
    copies = [s for s in steps if s["op"] in ("copy", "add")]
    if copies and not os.path.isdir(ctx):
        raise SbxError("invalid_argument", f"the build context {ctx} is not a directory")
    ignore = IgnoreRules.load(ctx, ignore_file) if copies else IgnoreRules()
    out: list[dict[str, Any]] = []
    contexts: list[PackedContext] = []
    for i, s in enumerate(steps):
        source = {**s["source"], "file": display_path(s["source"]["file"])} if s.get("source") else None
        if s["op"] in ("copy", "add"):
            label = f"image {image.name}: {step_label(s, i + 1, len(steps))}"
            packed = pack_copy_step(s, i, ctx, tmp_dir, ignore, label)
            contexts.append(packed)
            step: dict[str, Any] = {
                "op": s["op"],
                "context": packed.digest,
                "sources": packed.sources,
                "dest": s["dest"],
                "text": s["text"],
            }
            for k in ("chown", "chmod"):
                if s.get(k):
                    step[k] = s[k]
        else:
            step = {k: v for k, v in s.items() if k != "source"}
        if source:
            step["source"] = source
        out.append(step)
    definition = {
        "name": image.name,
        "tag": image.tag,
        "baseImage": image.base_image,
        "steps": out,
    }
    return definition, contexts


def image_definition(image: Image, context_dir: str | None = None, ignore_file: str | None = None) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="sbx-build-")
    try:
        return _prepare(image, context_dir, ignore_file, tmp)[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_image(
    image: Image,
    registered_name: str | None = None,
    tag: str | None = None,
    replace: bool = False,
    no_cache: bool = False,
    context_dir: str | None = None,
    ignore_file: str | None = None,
    client: SandboxClient | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    verbose: bool = False,
) -> ImageInfo:
    c = client or SandboxClient()
    tmp = tempfile.mkdtemp(prefix="sbx-build-")
    try:
        definition, contexts = _prepare(image, context_dir, ignore_file, tmp)
        seen: set[str] = set()
        for packed in contexts:
            if packed.digest in seen:
                continue
            seen.add(packed.digest)
            if not c.has_context(packed.digest):
                with open(packed.file, "rb") as f:
                    c.upload_context(packed.digest, f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    request: dict[str, Any] = {"definition": definition}
    if registered_name is not None:
        request["registeredName"] = registered_name
    if tag is not None:
        request["tag"] = tag
    if replace:
        request["replace"] = True
    if no_cache:
        request["noCache"] = True
    build = c.create_build(request)
    try:
        return follow_build(c, build.id, _printing(on_event) if verbose else on_event)
    except KeyboardInterrupt:
        c.cancel_build(build.id)
        raise


def _printing(
    then: Callable[[dict[str, Any]], None] | None,
) -> Callable[[dict[str, Any]], None]:
    """An event handler that shows progress on stderr as ``sbx image create --progress plain`` does."""

    def show(ev: dict[str, Any]) -> None:
        if ev["type"] == "step":
            cached = "CACHED " if ev.get("cached") else ""
            print(f"{cached}[{ev['step']}/{ev['total']}] {ev['text']}", file=sys.stderr, flush=True)
        elif ev["type"] == "log":
            sys.stderr.write(str(ev.get("data", "")))
            sys.stderr.flush()
        if then:
            then(ev)

    return show


def follow_build(
    client: SandboxClient,
    build_id: str,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> ImageInfo:
    """Follows a build's events until it ends; returns the image, raises on failure or cancellation."""
    seen = 0
    for attempt in range(4):
        n = 0
        try:
            for ev in client.build_events(build_id, follow=True):
                n += 1
                if n <= seen:
                    continue  # events replay from the start on every request
                seen += 1
                if on_event:
                    on_event(ev)
                if ev["type"] == "done":
                    return _finished(client, from_wire(BuildInfo, ev["build"]), ev.get("image"))
        except SbxError as err:
            if err.code != "internal" or attempt >= 3:
                raise
        build = client.get_build(build_id)
        if build.state not in ("queued", "running"):
            return _finished(client, build, None)
        time.sleep(0.25 * (attempt + 1))
    raise SbxError(
        "internal",
        f"the event stream of build {build_id} keeps breaking off; see `sbx image logs {build_id} -f`",
    )


def _finished(client: SandboxClient, build: BuildInfo, image: dict[str, Any] | None) -> ImageInfo:
    if build.state == "succeeded":
        return from_wire(ImageInfo, image) if image else client.get_image(f"{build.image_name}:{build.tag}")
    raise build_error(build)


def build_error(build: BuildInfo) -> SbxError:
    """The error a failed or cancelled build becomes; ``details`` holds the failure."""
    ref = f"{build.image_name}:{build.tag}"
    details: dict[str, Any] = {
        "buildId": build.id,
        "state": build.state,
        "image": ref,
        "build": build.raw,
    }
    f = build.failure
    if build.state == "cancelled":
        return SbxError("failed_precondition", f"build {build.id} of {ref} was cancelled", details)
    if not f:
        return SbxError("failed_precondition", f"build {build.id} of {ref} {build.state}", details)
    details.update(
        step=f.get("step"),
        text=f.get("text"),
        source=f.get("source"),
        exitCode=f.get("exitCode"),
        lastLines=f.get("lastLines"),
        failure=f,
    )
    where = f" ({format_source(f['source'])})" if f.get("source") else ""
    step = (
        f" at step {f['step']}/{build.steps}{' ' + f['text'] if f.get('text') else ''}{where}"
        if f.get("step") is not None
        else ""
    )
    code = f" (exit code {f['exitCode']})" if f.get("exitCode") is not None else ""
    return SbxError(
        "no_space" if f.get("code") == "no_space" else "failed_precondition",
        f"build {build.id} of {ref} failed{step}: {f.get('message')}{code}",
        details,
    )
