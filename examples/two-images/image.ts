// One file, two images: pick one with --image-name.
//   sbx image create examples/two-images/image.ts --image-name api
//   sbx image create examples/two-images/image.ts --image-name worker
import { Image, defineFunction } from "@sbx-sh/sdk";

export const api = new Image({ name: "api", baseImage: "debian-minimal" })
  .env("ROLE", "api")
  .run("echo 'serving' > /etc/role");

const workerImage = new Image({ name: "worker", baseImage: "debian-minimal" })
  .env("ROLE", "worker")
  .run(["sh", "-c", "echo 'working' > /etc/role"]);

// An image attached to a function is found too.
export const work = defineFunction({ image: workerImage }, async (input: string) => input.toUpperCase());
