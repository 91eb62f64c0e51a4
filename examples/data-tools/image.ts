// A Python data-tools image: packages from Debian, an app folder with scripts and unpacked
// assets, and a preparation step that runs at build time. Build it with:
//   sbx image create examples/data-tools/image.ts
import { Image } from "@sbx-sh/sdk";

export const data = new Image({ name: "data-tools", baseImage: "debian-minimal" })
  .run(
    "apt-get update && apt-get install -y --no-install-recommends python3 && apt-get clean && rm -rf /var/lib/apt/lists/*",
  )
  .env("APP_HOME", "/opt/app")
  .workdir("/opt/app")
  .copy("scripts/", "/opt/app/scripts/")
  .add("assets.tar.gz", "/opt/app/assets/")
  .run("python3 scripts/prepare.py");
