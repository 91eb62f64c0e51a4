// Test entry point: runs the CLI from its sources (bin/sbx.js would prefer a possibly stale dist/).
import { main } from "../main.js";

process.exitCode = await main(process.argv.slice(2));
