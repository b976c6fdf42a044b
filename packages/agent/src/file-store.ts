import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type AgentStore, type AgentStoreEntry, STORE_ENTRIES } from './store.js';

/** Private keys and bearer-like tokens: readable by the owner only. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** `AAUTH_HOME`, else `~/.aauth`. */
export function defaultStateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.AAUTH_HOME;
  return configured !== undefined && configured !== '' ? configured : join(homedir(), '.aauth');
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * A directory of JSON files, one per entry, each created with mode 0600 (the directory 0700).
 * Writes go to a fresh temporary file that is renamed into place, so a crash never leaves a torn
 * key file and the mode is the one the file was created with.
 */
export function createFileStore(directory: string = defaultStateDirectory()): AgentStore {
  const pathOf = (entry: AgentStoreEntry) => join(directory, `${entry}.json`);
  let prepared: Promise<void> | undefined;
  const prepare = () => {
    prepared ??= mkdir(directory, { recursive: true, mode: DIR_MODE }).then(() => undefined);
    return prepared;
  };
  return {
    async read(entry) {
      let text: string;
      try {
        text = await readFile(pathOf(entry), 'utf8');
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
      try {
        return JSON.parse(text);
      } catch (cause) {
        throw new TypeError(`${pathOf(entry)} is not valid JSON`, { cause });
      }
    },
    async write(entry, value) {
      await prepare();
      const target = pathOf(entry);
      const temporary = `${target}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: FILE_MODE, flag: 'wx' });
      // The umask can only narrow the mode; chmod makes 0600 exact regardless.
      await chmod(temporary, FILE_MODE);
      await rename(temporary, target);
    },
    async clear() {
      await Promise.all(STORE_ENTRIES.map((entry) => rm(pathOf(entry), { force: true })));
    },
  };
}
