// Over TCP the bearer token decides the project. A project the request names as well
// (X-Sbx-Project) must be that one, or `sbx --project alpha ls` with beta's token would list beta as
// if it were alpha. "default" is a name like any other: the SDKs send the header only when a
// project was named. Older SDKs sent "default" when none was; such a client with a token of
// another project is refused with a message that says so.
import { SbxError } from "@sbx-sh/protocol";

/** True when the request names a project other than its token's. */
export function namesOtherProject(named: string | undefined, tokenProject: string): boolean {
  return named !== undefined && named !== tokenProject;
}

/** Refuses a request that names a project other than its token's (permission_denied). */
export function checkNamedProject(named: string | undefined, tokenProject: string): void {
  if (!namesOtherProject(named, tokenProject)) return;
  const older = named === "default" ? " (an older sbx SDK sends default when no project was named: upgrade it)" : "";
  throw new SbxError(
    "permission_denied",
    `this token belongs to project ${tokenProject}, not ${JSON.stringify(named)}: over TCP the token decides the project; use a token of ${JSON.stringify(named)}, or name no project${older}`,
  );
}
