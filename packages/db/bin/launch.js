import { existsSync } from 'node:fs';

/** Imports `dist/<name>.js` when the package is built, else `src/<name>.ts` through tsx (workspace). */
export async function launch(name, exportName) {
  const built = new URL(`../dist/${name}.js`, import.meta.url);
  let module;
  if (existsSync(built)) {
    module = await import(built.href);
  } else {
    const { tsImport } = await import('tsx/esm/api');
    module = await tsImport(new URL(`../src/${name}.ts`, import.meta.url).href, import.meta.url);
  }
  try {
    return await module[exportName](process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
