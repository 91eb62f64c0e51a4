"""``@function(image=...)``: a handler with the image it runs in attached (Tensorlake's decorator),
so ``sbx image create app.py`` finds images through the file's functions too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import SbxError
from .image import Image

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute the metadata is stored under on the function.
FUNCTION_ATTR = "__sbx_function__"


@dataclass(frozen=True)
class FunctionMeta:
    image: Image
    name: str
    description: str | None = None


def function(
    image: Image,
    name: str | None = None,
    description: str | None = None,
    **_tensorlake_options: Any,
) -> Callable[[F], F]:
    """Attaches ``image`` to the decorated function; the function itself is unchanged.

    Other keyword arguments Tensorlake's decorator takes (``cpu``, ``memory``, ``timeout``, ...)
    are accepted and ignored, so application files load as they are.
    """
    if not isinstance(image, Image):
        raise SbxError("invalid_argument", "@function(image=...): `image` must be an Image")

    def attach(fn: F) -> F:
        if not callable(fn):
            raise SbxError("invalid_argument", "@function(image=...) decorates a function")
        meta = FunctionMeta(image, name or str(getattr(fn, "__name__", image.name)), description)
        setattr(fn, FUNCTION_ATTR, meta)
        return fn

    return attach


def image_of(fn: object) -> Image | None:
    """The image attached to a function by @function, if any."""
    meta = getattr(fn, FUNCTION_ATTR, None) if callable(fn) else None
    return meta.image if isinstance(meta, FunctionMeta) else None
