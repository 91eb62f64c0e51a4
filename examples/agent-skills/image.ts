// An image for coding agents: sbx's own SDK described as a skill, where agents look for skills,
// so an agent running inside the sandbox knows how to start more sandboxes.
//   sbx image create examples/agent-skills/image.ts
import { Image } from "@sbx-sh/sdk";

export const agent = new Image({ name: "agent-skills", baseImage: "debian-minimal" })
  .copy("skills/sbx/SKILL.md", "/root/.claude/skills/sbx/SKILL.md")
  .copy("skills/sbx/SKILL.md", "/root/.agents/skills/sbx/SKILL.md")
  .env("SBX_SKILLS", "/root/.claude/skills");
