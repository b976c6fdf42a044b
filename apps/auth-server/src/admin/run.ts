import { createProcessIo } from '@aauth-ref/fastify/admin-cli';
import { runAsAdminCli } from './cli.js';

/** Entry of `aauth-as-admin` (bin/aauth-as-admin.js runs this, built or through tsx). */
process.exitCode = await runAsAdminCli(process.argv.slice(2), createProcessIo());
