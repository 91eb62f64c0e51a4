# Evaluates a Python image file for `sbx image create image.py` and reports the images it defines
# (top-level Image values, and images attached to functions with @function(image=...)) as JSON on
# file descriptor 3, never on stdout: whatever the file prints goes to the CLI's stderr and cannot
# corrupt the answer. The file runs with __name__ != "__main__", so its main block does not run.
# Written without 3.11-only syntax so that an older python3 can still say it is too old.
# Usage: python3 load_image.py <image-file> [<folder holding sbx_sdk>]
import json
import os
import sys
import traceback

MIN_VERSION = (3, 11)


def version_error(version_info, executable):
    """The error an interpreter older than 3.11 reports, or None."""
    if tuple(version_info[:2]) >= MIN_VERSION:
        return None
    return {
        "code": "failed_precondition",
        "message": "Python image files need Python %d.%d or newer; %s is %d.%d.%d: install a newer python3 or point"
        " SBX_PYTHON at one" % (MIN_VERSION + (executable,) + tuple(version_info[:3])),
    }


def user_frame(tb, file):
    """The line of `file` nearest the error (the innermost frame in the image file)."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if os.path.abspath(frame.f_code.co_filename) == file:
            line = lineno
    return line


def describe(image, export_name, via):
    return {
        "name": image.name,
        "tag": image.tag,
        "baseImage": image._base_image,
        "source": image.source,
        "exportName": export_name,
        "via": via,
        "steps": image.steps,
    }


def collect(namespace):
    from sbx_sdk import Image
    from sbx_sdk.function import image_of

    found = {}
    for direct in (True, False):
        for export_name, value in namespace.items():
            if export_name.startswith("_"):
                continue
            image = value if direct and isinstance(value, Image) else (None if direct else image_of(value))
            if image is not None and id(image) not in found:
                found[id(image)] = describe(image, export_name, "export" if direct else "function")
    images = list(found.values())
    images.sort(
        key=lambda d: (
            (d["source"] or {}).get("line", 0),
            (d["source"] or {}).get("column", 0),
        )
    )
    return images


def main():
    channel = os.fdopen(3, "w", encoding="utf-8")
    os.set_inheritable(3, False)

    def answer(value):
        channel.write(json.dumps(value))
        channel.flush()

    error = version_error(sys.version_info, sys.executable)
    if error:
        answer({"error": error})
        return 3
    file = os.path.abspath(sys.argv[1])
    # As `python3 image.py` would: the file's folder first; then the CLI's own SDK, before site-packages.
    sys.path[0] = os.path.dirname(file)
    if len(sys.argv) > 2 and sys.argv[2]:
        sys.path.insert(1, sys.argv[2])
    import runpy

    try:
        namespace = runpy.run_path(file, run_name="__sbx_image_file__")
    except SyntaxError as err:
        answer(
            {
                "error": {
                    "code": "invalid_argument",
                    "message": "SyntaxError: %s" % err.msg,
                    "line": err.lineno,
                }
            }
        )
        return 2
    except BaseException as err:  # SystemExit and KeyboardInterrupt too: the file must define, not exit.
        code = getattr(err, "code", None) if type(err).__name__ == "SbxError" else None
        message = str(err) if code else "%s: %s" % (type(err).__name__, err)
        if isinstance(err, ImportError) and (err.name or "").split(".")[0] == "sbx_sdk":
            message += " (install sbx's Python SDK for python3: pip install <sbx checkout>/python)"
        answer(
            {
                "error": {
                    "code": code or "invalid_argument",
                    "message": message,
                    "line": user_frame(err.__traceback__, file),
                }
            }
        )
        return 2
    try:
        answer({"images": collect(namespace)})
    except ImportError as err:
        answer(
            {
                "error": {
                    "code": "failed_precondition",
                    "message": "cannot import sbx_sdk: %s" % err,
                }
            }
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
