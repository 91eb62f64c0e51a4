// Bases this host cannot build (their archive keyring is missing) are said so, by name and reason,
// instead of being offered like the others.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BaseImages } from "./base-images.js";
import { baseRecipes } from "./base-recipes.js";

describe("BaseImages.unavailable", () => {
  it("names a base whose keyring is missing, and not one whose keyring is there", () => {
    const recipes = baseRecipes({ mirror: "http://deb.example", suite: "bookworm" } as never);
    const ubuntu = recipes.get("ubuntu-minimal")!;
    recipes.set("ubuntu-minimal", { ...ubuntu, keyring: "/nonexistent/ubuntu-archive-keyring.gpg" });
    recipes.set("ubuntu-systemd", { ...recipes.get("ubuntu-systemd")!, keyring: "/etc/hostname" });
    const dir = mkdtempSync(join(tmpdir(), "sbx-bases-"));
    const bases = new BaseImages({ dataDir: dir, cacheDir: dir, uidBase: 100000, recipes });
    expect(bases.unavailable("ubuntu-minimal")).toMatch(
      /no \/nonexistent\/ubuntu-archive-keyring\.gpg \(install ubuntu-keyring\)/,
    );
    expect(bases.unavailable("ubuntu-systemd")).toBeUndefined();
    // Debian bases use the host's apt keyrings.
    expect(bases.unavailable("debian-minimal")).toBeUndefined();
  });
});
