// The operator CLIs' toolkit (`aauth-ps-admin`, `aauth-as-admin`), a subpath of its own so its
// generic names (EXIT, usageError, notFound …) stay out of the server kit's main surface.
export * from './server/admin-cli.js';
export { createProcessIo } from './server/admin-cli-process.js';
