/**
 * Parses the environment reference a server prints with `--help` (`formatEnvReference` of
 * @aauth-ref/fastify): a title, then per variable its name (two spaces), its meaning and
 * `default: …` (six spaces).
 */

export interface EnvVarDoc {
  readonly name: string;
  readonly description: string;
  /** The `default:` text as printed (`3001`, `required in strict mode; …`, `unset`). */
  readonly defaultText: string;
  /** Strict mode refuses to start without it (the printed default starts with "required"). */
  readonly requiredInStrictMode: boolean;
}

export interface EnvReference {
  /** The server name from the first line (`person-server — configuration is read …`). */
  readonly server: string;
  readonly variables: ReadonlyMap<string, EnvVarDoc>;
}

const NAME_LINE = /^ {2}([A-Z][A-Z0-9_]*)$/;
const DEFAULT_LINE = /^ {6}default: (.*)$/;
const DESCRIPTION_LINE = /^ {6}(.+)$/;

export function parseEnvReference(text: string): EnvReference {
  const lines = text.split('\n');
  const server = /^(\S+) — /.exec(lines[0] ?? '')?.[1];
  if (!server) throw new TypeError('not an environment reference: no "<server> — …" title');
  const variables = new Map<string, EnvVarDoc>();
  let name: string | undefined;
  let description: string[] = [];
  for (const line of lines.slice(1)) {
    const named = NAME_LINE.exec(line);
    if (named) {
      name = named[1];
      description = [];
      continue;
    }
    if (name === undefined) continue;
    const fallback = DEFAULT_LINE.exec(line);
    if (fallback) {
      const defaultText = fallback[1] ?? '';
      variables.set(name, {
        name,
        description: description.join(' '),
        defaultText,
        requiredInStrictMode: defaultText.startsWith('required'),
      });
      name = undefined;
      continue;
    }
    const text = DESCRIPTION_LINE.exec(line)?.[1];
    if (text) description.push(text);
  }
  if (variables.size === 0) throw new TypeError(`the reference of ${server} lists no variable`);
  return { server, variables };
}

/** The variables a strict-mode deployment must set (no usable default). */
export function requiredVariables(reference: EnvReference): string[] {
  return [...reference.variables.values()].filter((v) => v.requiredInStrictMode).map((v) => v.name);
}

/** The printed default port (`PORT … default: 3001`). */
export function defaultPort(reference: EnvReference): number {
  const port = Number(reference.variables.get('PORT')?.defaultText);
  if (!Number.isInteger(port)) throw new TypeError(`${reference.server} prints no numeric PORT default`);
  return port;
}

/**
 * The fenced block under `<!-- env-reference:<server> -->` in a Markdown document: the pasted
 * `--help` output, which tests compare with the live one.
 */
export function extractEnvReferenceBlock(markdown: string, server: string): string | undefined {
  const marker = `<!-- env-reference:${server} -->`;
  const at = markdown.indexOf(marker);
  if (at < 0) return undefined;
  const open = markdown.indexOf('```text\n', at);
  if (open < 0) return undefined;
  const start = open + '```text\n'.length;
  const end = markdown.indexOf('\n```', start);
  return end < 0 ? undefined : `${markdown.slice(start, end)}\n`;
}
