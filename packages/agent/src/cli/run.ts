// Entry point of the `aauth` CLI when run from source (bin/aauth.js in the workspace).
import { runCli } from './main.js';

process.exitCode = await runCli(process.argv.slice(2));
