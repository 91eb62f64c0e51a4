# The seed's flow in Python: an image defined in an application file and attached to a function,
# built with
#   sbx image create examples/data-tools/image.py
# and launched with `sbx new --image data-tools`. Same image as image.ts beside it (same steps, same
# cache): Debian's python3, an app folder with scripts and unpacked assets, and a preparation step
# that runs at build time. copy()/add() sources are read from this folder when you run create.
from sbx_sdk import Image, function

image = (
    Image(name="data-tools", base_image="debian-minimal")
    .run(
        "apt-get update && apt-get install -y --no-install-recommends python3 && apt-get clean && rm -rf /var/lib/apt/lists/*"
    )
    .env("APP_HOME", "/opt/app")
    .workdir("/opt/app")
    .copy("scripts/", "/opt/app/scripts/")
    .add("assets.tar.gz", "/opt/app/assets/")
    .run("python3 scripts/prepare.py")
)


@function(image=image)
def prepare(path: str) -> str:
    """Runs in a sandbox of the data-tools image (the body is not run by `sbx image create`)."""
    return path.upper()


if __name__ == "__main__":
    # Also builds from Python directly: python3 examples/data-tools/image.py
    print(image.build(verbose=True))
