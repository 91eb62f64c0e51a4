// The version sbx reports (daemon, CLI and SDK agree on it).
export const VERSION = "0.1.0";
