import { resolve } from 'node:path';
import { hashPassword } from '@aauth-ref/fastify';
import {
  AdminCliError,
  type AdminCommand,
  type AdminIo,
  EXIT,
  formatJson,
  formatTable,
  notFound,
  parseCommand,
  readNewPassword,
  runAdminCommand,
  usageError,
} from '@aauth-ref/fastify/admin-cli';
import { seedPolicyFile } from '../seed-policy.js';
import { PolicyDocumentError } from '../services/policy.js';
import {
  findActiveBindingId,
  LIST_LIMIT,
  listAccounts,
  readPolicyDocument,
  replacePassword,
} from './queries.js';
import { type AsAdminSession, openAsAdminSession } from './session.js';

const NAME = 'aauth-as-admin';

export const AS_ADMIN_USAGE = `usage: ${NAME} <command> [options]

Operator commands of the Access Server. Reads the server's configuration from the environment
(DATABASE_URL, or the embedded database under DATA_DIR; SIGNING_KEYS; ISSUER; …) and applies the
committed migrations first, as the server does at start. With the embedded database, stop the server
first (one process at a time).

  users create <username> --name <display name> [--admin] [--password-stdin]
  users list [--json]
  users set-password <username> [--password-stdin]
  bindings list [--json]
  bindings revoke <ps> <sub>
  tokens list [--json]
  tokens revoke <jti>
  policy show
  policy load <file>

Accounts are the AS's own sign-ins (PS binding confirmation, billing; --admin: the /admin pages and
approvals). Passwords are read from stdin with --password-stdin (one trailing newline removed), or
asked twice on a terminal; never taken as arguments, never printed. \`tokens revoke\` revokes an issued
auth token and calls its resource's revocation_endpoint, as the administration page does.
\`policy show\` prints the stored trust list and resource policies as a policy document; \`policy load\`
validates and stores one exactly as POLICY_FILE does at start (a POLICY_FILE set on the server is
loaded again at its next start).

Exit codes: 0 done; 1 usage or bad input (also an invalid policy file); 2 not found; 3 already exists;
4 configuration or database problem; 5 revoked here but the resource could not be notified.`;

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
const MAX_TEXT = 200;

function checkUsername(username: string): string {
  if (!USERNAME.test(username)) {
    throw usageError(
      'a username has 1 to 64 characters: letters, digits and . _ @ + - (starting with a letter or digit)',
    );
  }
  return username;
}

function checkName(value: string | undefined): string {
  if (value === undefined) throw usageError('--name is required');
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > MAX_TEXT || /\p{Cc}/u.test(trimmed)) {
    throw usageError(`--name must have 1 to ${MAX_TEXT} characters and no control characters`);
  }
  return trimmed;
}

type Open = () => Promise<AsAdminSession>;

async function withSession<T>(open: Open, run: (session: AsAdminSession) => Promise<T>): Promise<T> {
  const session = await open();
  try {
    return await run(session);
  } finally {
    await session.close();
  }
}

async function usersCreate(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values, positionals } = parseCommand(
    args,
    { name: { type: 'string' }, admin: { type: 'boolean' }, 'password-stdin': { type: 'boolean' } },
    ['username'],
  );
  const username = checkUsername(positionals[0] as string);
  const displayName = checkName(values.name);
  return withSession(open, async (session) => {
    const exists = () => new AdminCliError(EXIT.conflict, `an account named ${username} exists already`);
    // Checked before the password is asked for; `createIfAbsent` settles a race with another creator.
    if (await session.persons.findByUsername(username)) throw exists();
    const password = await readNewPassword(io, values['password-stdin']);
    const created = await session.persons.createIfAbsent({
      username,
      passwordHash: await hashPassword(password),
      displayName,
      isAdmin: values.admin === true,
    });
    if (!created) throw exists();
    io.stdout.write(`created the ${values.admin ? 'administrator' : 'account'} ${username}\n`);
    return EXIT.ok;
  });
}

async function usersList(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values } = parseCommand(args, { json: { type: 'boolean' } }, []);
  const accounts = await withSession(open, (session) => listAccounts(session.prisma));
  io.stdout.write(
    values.json
      ? formatJson(accounts)
      : formatTable(
          ['USERNAME', 'NAME', 'ADMIN', 'CREATED'],
          accounts.map((a) => [a.username, a.displayName, a.isAdmin ? 'yes' : 'no', a.createdAt]),
        ),
  );
  return EXIT.ok;
}

async function usersSetPassword(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values, positionals } = parseCommand(args, { 'password-stdin': { type: 'boolean' } }, ['username']);
  const username = positionals[0] as string;
  return withSession(open, async (session) => {
    const account = await session.persons.findByUsername(username);
    if (!account) throw notFound(`no account is named ${username}`);
    const password = await readNewPassword(io, values['password-stdin']);
    const ended = await replacePassword(session.prisma, account.id, await hashPassword(password));
    io.stdout.write(`changed the password of ${username}; ${ended} browser session(s) signed out\n`);
    return EXIT.ok;
  });
}

async function bindingsList(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values } = parseCommand(args, { json: { type: 'boolean' } }, []);
  const bindings = await withSession(open, (session) => session.federation.listBindings(LIST_LIMIT));
  io.stdout.write(
    values.json
      ? formatJson(bindings)
      : formatTable(
          ['ACCOUNT', 'PERSON SERVER', 'SUBJECT', 'SINCE', 'REVOKED'],
          bindings.map((b) => [b.username, b.ps, b.sub, b.createdAt, b.revokedAt]),
        ),
  );
  return EXIT.ok;
}

async function bindingsRevoke(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { positionals } = parseCommand(args, {}, ['ps', 'sub']);
  const [ps, sub] = positionals as [string, string];
  return withSession(open, async (session) => {
    const id = await findActiveBindingId(session.prisma, ps, sub);
    const revoked =
      id !== undefined && (await session.federation.revokeBinding(id, new Date(session.clock.now())));
    if (!revoked) throw notFound(`no active binding of ${sub} at ${ps}`);
    io.stdout.write(
      `revoked the binding of ${sub} at ${ps}; that Person Server must be connected again before it is trusted for this person\n`,
    );
    return EXIT.ok;
  });
}

async function tokensList(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values } = parseCommand(args, { json: { type: 'boolean' } }, []);
  const tokens = await withSession(open, (session) => session.federation.listIssuedTokens(LIST_LIMIT));
  io.stdout.write(
    values.json
      ? formatJson(tokens)
      : formatTable(
          ['JTI', 'RESOURCE', 'PERSON SERVER', 'SUBJECT', 'SCOPE', 'EXPIRES', 'REVOKED'],
          tokens.map((t) => [t.jti, t.aud, t.ps, t.sub, t.scope, t.exp, t.revokedAt]),
        ),
  );
  return EXIT.ok;
}

async function tokensRevoke(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { positionals } = parseCommand(args, {}, ['jti']);
  const jti = positionals[0] as string;
  return withSession(open, async (session) => {
    const notice = await session.revocations.revokeIssued(jti);
    if (!notice) throw notFound(`no auth token ${jti} was issued here`);
    io.stdout.write(`revoked the auth token ${jti}\n`);
    if (notice.kind === 'notified') {
      io.stdout.write(`its resource was notified (HTTP ${notice.status})\n`);
      return EXIT.ok;
    }
    const status = notice.status === undefined ? '' : ` HTTP ${notice.status}`;
    io.stderr.write(
      `${NAME}: its resource could not be notified (${notice.reason}${status}); the token stays usable there until it expires\n`,
    );
    return EXIT.partial;
  });
}

async function policyShow(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  parseCommand(args, {}, []);
  const document = await withSession(open, (session) => readPolicyDocument(session.prisma));
  io.stdout.write(formatJson(document));
  return EXIT.ok;
}

async function policyLoad(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { positionals } = parseCommand(args, {}, ['file']);
  const file = resolve(positionals[0] as string);
  return withSession(open, async (session) => {
    let resources: string[];
    try {
      const document = await seedPolicyFile(session.prisma, file, session.config.identifierPolicy);
      resources = Object.keys(document.resources);
    } catch (err) {
      if (err instanceof PolicyDocumentError) throw usageError(`${file}: ${err.message}`);
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      if (err instanceof Error && err.message.startsWith('POLICY_FILE'))
        throw usageError(`${file} is not readable JSON${cause}`);
      throw err;
    }
    io.stdout.write(
      `loaded ${file}: ${resources.length} resource polic${resources.length === 1 ? 'y' : 'ies'} (${resources.join(', ')})\n`,
    );
    return EXIT.ok;
  });
}

const COMMANDS: Readonly<Record<string, AdminCommand<AsAdminSession>>> = {
  'users create': usersCreate,
  'users list': usersList,
  'users set-password': usersSetPassword,
  'bindings list': bindingsList,
  'bindings revoke': bindingsRevoke,
  'tokens list': tokensList,
  'tokens revoke': tokensRevoke,
  'policy show': policyShow,
  'policy load': policyLoad,
};

/**
 * `aauth-as-admin`: runs one command and returns its exit code. `open` gives the session (tests pass
 * one over their own database); by default the server's configuration from the environment.
 */
export async function runAsAdminCli(
  argv: readonly string[],
  io: AdminIo,
  open: Open = () => openAsAdminSession(),
): Promise<number> {
  return runAdminCommand({ name: NAME, usage: AS_ADMIN_USAGE, commands: COMMANDS }, argv, io, open);
}
