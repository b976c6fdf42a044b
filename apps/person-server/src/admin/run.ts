import { createProcessIo } from '@aauth-ref/fastify/admin-cli';
import { runPsAdminCli } from './cli.js';

/** Entry of `aauth-ps-admin` (bin/aauth-ps-admin.js runs this, built or through tsx). */
process.exitCode = await runPsAdminCli(process.argv.slice(2), createProcessIo());
