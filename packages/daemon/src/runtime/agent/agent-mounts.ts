// Where sbx-agent lives in a sandbox: its binary (read-only), the directory of its socket and the
// log tmpfs its processes write to, both bind-mounted from the sandbox's host dir so the daemon
// reaches them from outside. The sandbox can write both directories: the daemon opens nothing in
// them without O_NOFOLLOW and a type check (./agent-client.ts, ../process-supervisor.ts readChunk).
import { HELPER_DIR } from "../types.js";

export const AGENT_PATH = `${HELPER_DIR}/agent`;
export const AGENT_RUN_DIR = `${HELPER_DIR}/run`;
export const AGENT_LOG_DIR = `${HELPER_DIR}/logs`;
/** The socket's name in the run dir (sbx-agent.c listens on <run dir>/agent.sock). */
export const AGENT_SOCKET = "agent.sock";

export interface AgentMounts {
  /** The sbx-agent binary on the host. */
  binary: string;
  /** Host dir seen as AGENT_RUN_DIR (the agent's socket). */
  runDir: string;
  /** Host dir seen as AGENT_LOG_DIR (process output and exit files). */
  logDir: string;
}

export function agentMountEntries(a: AgentMounts): Array<Record<string, unknown>> {
  return [
    { destination: AGENT_PATH, type: "bind", source: a.binary, options: ["bind", "ro", "nosuid", "nodev"] },
    { destination: AGENT_RUN_DIR, type: "bind", source: a.runDir, options: ["bind", "nosuid", "nodev", "noexec"] },
    { destination: AGENT_LOG_DIR, type: "bind", source: a.logDir, options: ["bind", "nosuid", "nodev", "noexec"] },
  ];
}

export function agentInit(): string[] {
  return [AGENT_PATH, AGENT_RUN_DIR, AGENT_LOG_DIR];
}
