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
import { findTokenOwner, listLiveTokens, listPersons, replacePassword } from './queries.js';
import { openPsAdminSession, type PsAdminSession } from './session.js';

const NAME = 'aauth-ps-admin';

export const PS_ADMIN_USAGE = `usage: ${NAME} <command> [options]

Operator commands of the Person Server. Reads the server's configuration from the environment
(DATABASE_URL, or the embedded database under DATA_DIR; SIGNING_KEYS; ISSUER; …) and applies the
committed migrations first, as the server does at start. With the embedded database, stop the server
first (one process at a time).

  person create <username> --name <display name> [--email <email>] [--tenant <tenant>] [--password-stdin]
  person list [--json]
  person set-password <username> [--password-stdin]
  agents list <username> [--json]
  tokens list [--person <username>] [--json]
  tokens revoke <jti>

Passwords are read from stdin with --password-stdin (one trailing newline removed), or asked twice
on a terminal; never taken as arguments, never printed. \`set-password\` also signs the person out of
every browser session. \`tokens revoke\` revokes a live auth or person token and notifies the resource's
revocation_endpoint, as the dashboard does. \`person disable\` does not exist: persons have no disabled
state (revoke their tokens and change their password instead).

Exit codes: 0 done; 1 usage or bad input; 2 not found (or no longer live); 3 already exists;
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

function checkText(name: string, value: string | undefined, required: boolean): string | undefined {
  if (value === undefined) {
    if (required) throw usageError(`--${name} is required`);
    return undefined;
  }
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > MAX_TEXT || /\p{Cc}/u.test(trimmed)) {
    throw usageError(`--${name} must have 1 to ${MAX_TEXT} characters and no control characters`);
  }
  return trimmed;
}

async function findPersonId(session: PsAdminSession, username: string): Promise<string> {
  const person = await session.persons.findByUsername(username);
  if (!person) throw notFound(`no person is named ${username}`);
  return person.id;
}

type Open = () => Promise<PsAdminSession>;

async function withSession<T>(open: Open, run: (session: PsAdminSession) => Promise<T>): Promise<T> {
  const session = await open();
  try {
    return await run(session);
  } finally {
    await session.close();
  }
}

async function personCreate(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values, positionals } = parseCommand(
    args,
    {
      name: { type: 'string' },
      email: { type: 'string' },
      tenant: { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
    ['username'],
  );
  const username = checkUsername(positionals[0] as string);
  const displayName = checkText('name', values.name, true) as string;
  const email = checkText('email', values.email, false);
  if (email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(email)) throw usageError('--email is not an address');
  const tenant = checkText('tenant', values.tenant, false);
  return withSession(open, async (session) => {
    // Checked before the password is asked for; `createIfAbsent` settles a race with another creator.
    if (await session.persons.findByUsername(username)) {
      throw new AdminCliError(EXIT.conflict, `a person named ${username} exists already`);
    }
    const password = await readNewPassword(io, values['password-stdin']);
    const created = await session.persons.createIfAbsent({
      username,
      passwordHash: await hashPassword(password),
      displayName,
      ...(email === undefined ? {} : { email }),
      ...(tenant === undefined ? {} : { tenant }),
    });
    if (!created) throw new AdminCliError(EXIT.conflict, `a person named ${username} exists already`);
    io.stdout.write(`created the person ${username}\n`);
    return EXIT.ok;
  });
}

async function personList(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values } = parseCommand(args, { json: { type: 'boolean' } }, []);
  const persons = await withSession(open, (session) => listPersons(session.prisma));
  io.stdout.write(
    values.json
      ? formatJson(persons)
      : formatTable(
          ['USERNAME', 'NAME', 'EMAIL', 'TENANT', 'CREATED'],
          persons.map((p) => [p.username, p.displayName, p.email, p.tenant, p.createdAt]),
        ),
  );
  return EXIT.ok;
}

async function personSetPassword(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values, positionals } = parseCommand(args, { 'password-stdin': { type: 'boolean' } }, ['username']);
  const username = positionals[0] as string;
  // Whether the person exists is checked first, so nobody types a password for nothing.
  return withSession(open, async (session) => {
    const personId = await findPersonId(session, username);
    const password = await readNewPassword(io, values['password-stdin']);
    const ended = await replacePassword(session.prisma, personId, await hashPassword(password));
    io.stdout.write(`changed the password of ${username}; ${ended} browser session(s) signed out\n`);
    return EXIT.ok;
  });
}

async function agentsList(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values, positionals } = parseCommand(args, { json: { type: 'boolean' } }, ['username']);
  const agents = await withSession(open, async (session) =>
    session.bindings.listForPerson(await findPersonId(session, positionals[0] as string)),
  );
  io.stdout.write(
    values.json
      ? formatJson(agents)
      : formatTable(
          ['AGENT', 'ISSUER', 'NAME', 'PLATFORM', 'DEVICE', 'SINCE'],
          agents.map((a) => [a.agentSub, a.agentIss, a.agentName, a.platform, a.device, a.createdAt]),
        ),
  );
  return EXIT.ok;
}

async function tokensList(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { values } = parseCommand(args, { person: { type: 'string' }, json: { type: 'boolean' } }, []);
  const tokens = await withSession(open, async (session) => {
    const personId = values.person === undefined ? undefined : await findPersonId(session, values.person);
    return listLiveTokens(session.prisma, session.issuer, new Date(session.clock.now()), personId);
  });
  io.stdout.write(
    values.json
      ? formatJson(tokens)
      : formatTable(
          ['KIND', 'JTI', 'PERSON', 'AGENT', 'RESOURCE', 'SCOPE', 'EXPIRES'],
          tokens.map((t) => [t.kind, t.jti, t.person, t.agentSub, t.resource, t.scope, t.exp]),
        ),
  );
  return EXIT.ok;
}

async function tokensRevoke(args: readonly string[], io: AdminIo, open: Open): Promise<number> {
  const { positionals } = parseCommand(args, {}, ['jti']);
  const jti = positionals[0] as string;
  return withSession(open, async (session) => {
    const owner = await findTokenOwner(session.prisma, jti);
    if (!owner) throw notFound(`no auth or person token ${jti} was issued here`);
    const revoked =
      owner.kind === 'auth'
        ? await session.revocations.revokeAuthToken(owner.personId, jti)
        : await session.revocations.revokePersonToken(owner.personId, jti);
    if (!revoked) throw notFound(`the ${owner.kind} token ${jti} is no longer live (revoked or expired)`);
    // The notice to the resource runs after the revocation; wait for it to report its outcome.
    await session.revocations.settled();
    io.stdout.write(`revoked the ${owner.kind} token ${jti}\n`);
    const about = session.revocationEvents.filter((e) => e.fields.jti === jti);
    let code: number = EXIT.ok;
    for (const { event, fields } of about) {
      if (event === 'revocation.notified') {
        io.stdout.write(`notified ${String(fields.resource)} (HTTP ${String(fields.status)})\n`);
      } else if (event === 'revocation.cascade_failed') {
        const status = fields.status === undefined ? '' : ` HTTP ${String(fields.status)}`;
        io.stderr.write(
          `${NAME}: could not notify ${String(fields.resource)} (${String(fields.reason)}${status}); the token stays usable there until it expires\n`,
        );
        code = EXIT.partial;
      }
    }
    return code;
  });
}

const COMMANDS: Readonly<Record<string, AdminCommand<PsAdminSession>>> = {
  'person create': personCreate,
  'person list': personList,
  'person set-password': personSetPassword,
  'agents list': agentsList,
  'tokens list': tokensList,
  'tokens revoke': tokensRevoke,
};

/**
 * `aauth-ps-admin`: runs one command and returns its exit code. `open` gives the session (tests pass
 * one over their own database); by default the server's configuration from the environment.
 */
export async function runPsAdminCli(
  argv: readonly string[],
  io: AdminIo,
  open: Open = () => openPsAdminSession(),
): Promise<number> {
  return runAdminCommand({ name: NAME, usage: PS_ADMIN_USAGE, commands: COMMANDS }, argv, io, open);
}
