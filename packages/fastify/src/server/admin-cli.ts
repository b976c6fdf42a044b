import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * The small toolkit of the servers' operator CLIs (`aauth-ps-admin`, `aauth-as-admin`): exit codes, injected standard streams,
 * option parsing that never accepts a password as an argument, password input from stdin or a
 * terminal prompt, and plain-text tables.
 */

/** Exit codes, documented in `--help` and infra/README.md (*Operator commands*). */
export const EXIT = Object.freeze({
  ok: 0,
  /** Bad command line or input (unknown option, missing argument, password too short, bad file). */
  usage: 1,
  /** The named person, account, token or binding does not exist (or is no longer live). */
  notFound: 2,
  /** The thing to create exists already. */
  conflict: 3,
  /** Configuration or database problem: nothing was done. */
  environment: 4,
  /** Done here, but a resource could not be told (revocation notice failed). */
  partial: 5,
});

export interface AdminIo {
  /** Read whole for `--password-stdin`. */
  readonly stdin: AsyncIterable<string | Uint8Array>;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Asks for a secret on the terminal without echo; absent when stdin is not a terminal. */
  readonly promptSecret?: (prompt: string) => Promise<string>;
}

/** A failure with its exit code; the message goes to stderr as it is (never a secret). */
export class AdminCliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdminCliError';
  }
}

export const usageError = (message: string) => new AdminCliError(EXIT.usage, message);
export const notFound = (message: string) => new AdminCliError(EXIT.notFound, message);

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** The parsed option values: strings and booleans, each possibly absent. */
export type ParsedValues<T extends OptionSpec> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string;
};

/** Names that would carry a secret on the command line (visible in `ps` and shell history). */
const SECRET_OPTIONS = /^--?(password|passwd|pass|secret)(=|$)/i;

/**
 * Parses one command's arguments strictly: unknown options and a wrong number of positionals are
 * usage errors. A `--password VALUE` is refused with a pointer to `--password-stdin`.
 */
export function parseCommand<const T extends OptionSpec>(
  args: readonly string[],
  options: T,
  positionals: readonly string[],
): { values: ParsedValues<T>; positionals: string[] } {
  const secret = args.find((arg) => SECRET_OPTIONS.test(arg));
  if (secret !== undefined) {
    throw usageError(
      'passwords are never taken as arguments (they would show in the process list and shell history): use --password-stdin, or run on a terminal to be prompted',
    );
  }
  let parsed: { values: unknown; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(err instanceof Error ? err.message : String(err));
  }
  if (parsed.positionals.length !== positionals.length) {
    const expected = positionals.map((name) => `<${name}>`).join(' ');
    throw usageError(
      positionals.length === 0 ? 'this command takes no arguments' : `expected the arguments ${expected}`,
    );
  }
  for (const [index, value] of parsed.positionals.entries()) {
    if (value.trim() === '') throw usageError(`<${positionals[index]}> must not be empty`);
  }
  return { values: parsed.values as ParsedValues<T>, positionals: parsed.positionals };
}

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

async function readAll(stdin: AsyncIterable<string | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    size += buffer.length;
    if (size > MAX_PASSWORD_LENGTH * 4 + 2) throw usageError('the password on stdin is too long');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function checkPassword(password: string): string {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw usageError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH)
    throw usageError(`the password must have at most ${MAX_PASSWORD_LENGTH} characters`);
  return password;
}

/**
 * The new password: all of stdin with `--password-stdin` (one trailing newline removed), else asked
 * twice on the terminal. Never echoed, never printed.
 */
export async function readNewPassword(io: AdminIo, fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin) return checkPassword((await readAll(io.stdin)).replace(/\r?\n$/, ''));
  if (!io.promptSecret) {
    throw usageError('no password given: pipe it with --password-stdin, or run on a terminal to be prompted');
  }
  const first = checkPassword(await io.promptSecret('New password: '));
  const second = await io.promptSecret('Repeat the password: ');
  if (first !== second) throw usageError('the two passwords differ');
  return first;
}

type Cell = string | number | boolean | Date | null | undefined;

function cellText(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

/** A plain-text table with a header row, columns padded to their widest cell. */
export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) => row.map(cellText));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...text.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...text.map(line)].join('\n')}\n`;
}

/** JSON output: one document, dates as ISO strings. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** One command of an operator CLI: its arguments after the two command words. */
export type AdminCommand<S> = (
  args: readonly string[],
  io: AdminIo,
  open: () => Promise<S>,
) => Promise<number>;

export interface AdminCliSpec<S> {
  /** The program name used in messages (`aauth-ps-admin`). */
  readonly name: string;
  readonly usage: string;
  /** Keyed by the two command words, `'person create'`. */
  readonly commands: Readonly<Record<string, AdminCommand<S>>>;
}

/**
 * Runs one command of an operator CLI and returns its exit code: usage and `--help`, an unknown
 * command, and the mapping of failures — an `AdminCliError` keeps its code; anything else (a
 * `ConfigError` names variables, never values; the database's own message) is `EXIT.environment`.
 */
export async function runAdminCommand<S>(
  spec: AdminCliSpec<S>,
  argv: readonly string[],
  io: AdminIo,
  open: () => Promise<S>,
): Promise<number> {
  const { name, usage } = spec;
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    (argv.length === 0 ? io.stderr : io.stdout).write(`${usage}\n`);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const command = spec.commands[`${argv[0]} ${argv[1] ?? ''}`];
  if (!command) {
    io.stderr.write(`${name}: unknown command "${argv.slice(0, 2).join(' ')}"\n\n${usage}\n`);
    return EXIT.usage;
  }
  const rest = argv.slice(2);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command(rest, io, open);
  } catch (err) {
    if (err instanceof AdminCliError) {
      io.stderr.write(`${name}: ${err.message}\n`);
      if (err.exitCode === EXIT.usage) io.stderr.write(`(${name} --help lists the commands)\n`);
      return err.exitCode;
    }
    io.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.environment;
  }
}
