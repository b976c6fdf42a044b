import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { createMemoryStore } from '../src/index.js';
import { createWorld, INTERACTION_CODE, requirementHeader, type World } from './support/world.js';

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(async () => {
  await world.close();
});

function cli() {
  const out: string[] = [];
  const err: string[] = [];
  const store = createMemoryStore();
  const run = (...argv: string[]) =>
    runCli(argv, {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      env: {},
      agent: { store, clock: world.clock, sleep: async () => {}, keys: world.keys },
    });
  return { run, out, err };
}

describe('aauth CLI', () => {
  it('enroll shows the approval URL and code; whoami, fetch --json, token show, logout', async () => {
    const { run, out, err } = cli();
    expect(await run('enroll', world.ps.url)).toBe(0);
    expect(err.join('')).toContain(`enter the code ${INTERACTION_CODE}`);
    expect(out.join('')).toMatch(/^Enrolled as aauth:/);
    out.length = 0;
    expect(await run('whoami', '--json')).toBe(0);
    expect(JSON.parse(out.join('')).ps).toBe(world.ps.url);
    world.rs.route('GET', '/api/agent/whoami', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      return { status: 200, body: { agent: token.claims.sub } };
    });
    out.length = 0;
    expect(await run('fetch', '--json', `${world.rs.url}/api/agent/whoami`)).toBe(0);
    const printed = JSON.parse(out.join(''));
    expect(printed.status).toBe(200);
    expect(printed.body.agent).toMatch(/^aauth:/);
    out.length = 0;
    expect(await run('token', 'show', '--json')).toBe(0);
    expect(JSON.parse(out.join('')).map((t: { kind: string }) => t.kind)).toEqual(['agent']);
    expect(await run('logout')).toBe(0);
    err.length = 0;
    expect(await run('whoami')).toBe(1);
    expect(err.join('')).toBe(
      'aauth: not_enrolled — This agent is not enrolled with an Agent Provider. (401)\n',
    );
  });

  it('prints one line with the spec error code on failure, JSON with --json', async () => {
    const { run, out, err } = cli();
    await run('enroll', world.ps.url);
    world.rs.route('GET', '/x', () => ({
      status: 401,
      headers: requirementHeader({ requirement: 'claims' }),
    }));
    expect(await run('fetch', `${world.rs.url}/x`)).toBe(1);
    expect(err.at(-1)).toMatch(/^aauth: unsupported_requirement — .*claims.* \(401\)\n$/);
    out.length = 0;
    expect(await run('fetch', '--json', `${world.rs.url}/x`)).toBe(1);
    expect(JSON.parse(out.join('')).error).toBe('unsupported_requirement');
  });

  it('--verbose prints each step', async () => {
    const { run, err } = cli();
    await run('enroll', world.ps.url);
    world.rs.route('GET', '/api/me', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      if (token.kind !== 'person')
        return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
      return { status: 200, body: { sub: token.claims.sub } };
    });
    err.length = 0;
    expect(await run('fetch', '--verbose', `${world.rs.url}/api/me`)).toBe(0);
    const steps = err.join('');
    expect(steps).toContain('requirement: person-token');
    expect(steps).toContain('person-token: POST');
  });
});
