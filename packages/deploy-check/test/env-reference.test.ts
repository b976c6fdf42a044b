import { describe, expect, it } from 'vitest';
import {
  defaultPort,
  extractEnvReferenceBlock,
  parseEnvReference,
  requiredVariables,
} from '../src/env-reference.js';
import { readRepoFile } from '../src/files.js';
import { describeIssuerProblem } from '../src/identifiers.js';
import { readServerHelp, SERVER_NAMES } from '../src/servers.js';

const SAMPLE = `demo-server — configuration is read from the environment.
Strict mode (the default) follows the AAuth spec; AAUTH_DEV=1 relaxes it for local development.

  PORT
      TCP port to listen on.
      default: 3009
  ISSUER
      This server's public identifier.
      default: required in strict mode; http://localhost:<PORT> in dev mode
  DATABASE_URL
      PostgreSQL connection URL.
      default: unset
`;

describe('parseEnvReference', () => {
  it('reads names, meanings, defaults and what strict mode requires', () => {
    const reference = parseEnvReference(SAMPLE);
    expect(reference.server).toBe('demo-server');
    expect([...reference.variables.keys()]).toEqual(['PORT', 'ISSUER', 'DATABASE_URL']);
    expect(reference.variables.get('PORT')).toEqual({
      name: 'PORT',
      description: 'TCP port to listen on.',
      defaultText: '3009',
      requiredInStrictMode: false,
    });
    expect(requiredVariables(reference)).toEqual(['ISSUER']);
    expect(defaultPort(reference)).toBe(3009);
  });

  it('refuses text that is not a reference', () => {
    expect(() => parseEnvReference('usage: something else\n')).toThrow(TypeError);
    expect(() => parseEnvReference('x — nothing\n\n')).toThrow(/lists no variable/);
  });

  it('extracts the block under its marker', () => {
    const markdown = `intro\n<!-- env-reference:demo-server -->\n\n\`\`\`text\n${SAMPLE}\`\`\`\n`;
    expect(extractEnvReferenceBlock(markdown, 'demo-server')).toBe(SAMPLE);
    expect(extractEnvReferenceBlock(markdown, 'other-server')).toBeUndefined();
  });
});

describe('describeIssuerProblem (§Server Identifiers)', () => {
  it('accepts https hosts without a port', () => {
    expect(describeIssuerProblem('https://ps.localhost')).toBeUndefined();
    expect(describeIssuerProblem('https://as.example.com')).toBeUndefined();
  });

  it.each([
    ['http://ps.localhost', 'is not https'],
    ['https://ps.localhost:443', 'carries a port'],
    ['https://ps.localhost:8443', 'carries a port'],
    ['https://ps.localhost/', 'carries a path, query or trailing slash'],
    ['https://ps.localhost/issuer', 'carries a path, query or trailing slash'],
    ['https://PS.localhost', 'is not lowercase'],
    ['ps.localhost', 'is not a URL'],
    [42, 'is not a string'],
  ])('refuses %s', (issuer, problem) => {
    expect(describeIssuerProblem(issuer)).toBe(problem);
  });
});

describe('infra/README.md environment reference', () => {
  const readme = readRepoFile('infra/README.md');

  it.each(SERVER_NAMES)('matches what %s prints with --help', (server) => {
    const documented = extractEnvReferenceBlock(readme, server);
    expect(documented, `infra/README.md lacks <!-- env-reference:${server} -->`).toBeDefined();
    // Regenerate with infra/scripts/env-reference.sh when this fails.
    expect(documented).toBe(readServerHelp(server));
  });
});
