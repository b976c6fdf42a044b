import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DWK,
  InvalidPersonToken,
  MissionNotFound,
  MissionTerminated,
  parseAAuthCapabilities,
} from '@aauth-ref/core';
import { createTestIssuer } from '@aauth-ref/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileStore, InvalidMissionApproval } from '../src/index.js';
import { createWorld, requirementHeader, type World } from './support/world.js';

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(async () => {
  await world.close();
});

const PROPOSAL = {
  description: '# Read my notes\n\nSummarize this week’s notes.',
  tools: [{ name: 'Summarize', description: 'Summarize text' }],
};

/** A resource answering with the person token's `sub` and `mission_s256`, after requirement=person-token. */
function routeMe() {
  world.rs.route('GET', '/api/me', async (request) => {
    const token = world.tokenOf(await world.verify(request));
    if (token.kind !== 'person')
      return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
    return {
      status: 200,
      body: {
        sub: token.claims.sub,
        mission_s256: (token.claims as { mission_s256?: string }).mission_s256 ?? null,
      },
    };
  });
}

describe('§Mission Creation and §Mission Approval', () => {
  it('proposes, answers a clarification, verifies the approval and caches the person tokens per resource and mission', async () => {
    const questions: string[] = [];
    const agent = await world.enrolledAgent({
      onClarification: (prompt) => {
        questions.push(prompt.clarification);
        return { action: 'clarification_response', clarification_response: 'Only this week.' };
      },
    });
    const resources = [world.rs.url];
    let answer: Record<string, unknown> | undefined;
    world.ps.route('POST', '/mission', async (request) => {
      await world.verify(request, { requireBodyComponents: true });
      return {
        status: 202,
        headers: {
          location: '/mission/pending/1',
          'retry-after': '0',
          'cache-control': 'no-store',
          ...requirementHeader({ requirement: 'clarification' }),
        },
        body: { status: 'pending', clarification: 'Which notes?' },
      };
    });
    world.ps.route('POST', '/mission/pending/1', async (request) => {
      await world.verify(request, { requireBodyComponents: true });
      answer = request.json();
      return {
        status: 202,
        headers: { location: '/mission/pending/1', 'retry-after': '0', 'cache-control': 'no-store' },
        body: { status: 'interacting' },
      };
    });
    world.ps.route('GET', '/mission/pending/1', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      const proposal = JSON.parse(world.ps.requests.find((r) => r.path === '/mission')!.body.toString());
      return {
        status: 200,
        body: world.approveMission(token.claims.sub, token.cnfKey!.jwk, proposal),
      };
    });

    const mission = await agent.proposeMission({ ...PROPOSAL, resources });

    const proposed = world.ps.requests.find((r) => r.path === '/mission')!;
    expect(proposed.json()).toEqual({
      ...PROPOSAL,
      resources,
      capabilities: ['interaction', 'clarification'],
    });
    expect(proposed.headers['aauth-capabilities']).toBeUndefined();
    expect(proposed.headers['signature-key']).toMatch(/^sig=jwt;jwt=/);
    expect(questions).toEqual(['Which notes?']);
    expect(answer).toEqual({ action: 'clarification_response', clarification_response: 'Only this week.' });
    expect(mission).toMatchObject({
      approver: world.ps.url,
      agent: (await agent.whoami()).agent,
      description: PROPOSAL.description,
      approved_tools: PROPOSAL.tools,
      approved_resources: resources,
      capabilities: ['interaction', 'payment'],
      person_token_resources: resources,
      status: 'active',
    });
    expect(await agent.mission()).toEqual(mission);

    // The approval's person token is presented at once: no person-token request to the PS.
    routeMe();
    const me = await agent.fetch(`${world.rs.url}/api/me`);
    expect(await me.json()).toMatchObject({ mission_s256: mission.s256 });
    expect(world.ps.hits('POST', '/person')).toBe(0);
    expect(world.rs.hits('GET', '/api/me')).toBe(1);
    // §AAuth-Capabilities: the agent's own ∪ the approval's, on resource requests.
    const sent = world.rs.requests.find((r) => r.path === '/api/me')!;
    expect([...parseAAuthCapabilities(sent.headers['aauth-capabilities'])].sort()).toEqual([
      'clarification',
      'interaction',
      'payment',
    ]);
  });

  it('names the mission in person token requests (mission_s256) with the capabilities member, no header', async () => {
    const agent = await world.enrolledAgent();
    const mission = await agent.proposeMission(PROPOSAL);
    routeMe();
    const me = await agent.fetch(`${world.rs.url}/api/me`);
    expect(await me.json()).toMatchObject({ mission_s256: mission.s256 });
    const request = world.ps.requests.find((r) => r.path === '/person')!;
    expect(request.json()).toEqual({
      resource: world.rs.url,
      mission_s256: mission.s256,
      capabilities: ['interaction', 'payment'],
    });
    expect(request.headers['aauth-capabilities']).toBeUndefined();
  });

  it('refuses an approval whose s256 is not the SHA-256 of the decoded mission bytes (§Mission Approval)', async () => {
    const agent = await world.enrolledAgent();
    world.ps.route('POST', '/mission', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      const approval = world.approveMission(token.claims.sub, token.cnfKey!.jwk, request.json());
      const other = world.approveMission(token.claims.sub, token.cnfKey!.jwk, {
        description: 'something else',
      });
      return { status: 200, body: { ...approval, s256: other.s256 } };
    });
    await expect(agent.proposeMission(PROPOSAL)).rejects.toBeInstanceOf(InvalidMissionApproval);
    expect(await agent.mission()).toBeUndefined();
    expect(await agent.missions()).toEqual([]);
  });

  it('refuses a mission blob that names another agent (§Mission Approval)', async () => {
    const agent = await world.enrolledAgent();
    world.ps.route('POST', '/mission', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      return {
        status: 200,
        body: world.approveMission('aauth:someone-else@127.0.0.1', token.cnfKey!.jwk, request.json()),
      };
    });
    const failure = agent.proposeMission(PROPOSAL);
    await expect(failure).rejects.toBeInstanceOf(InvalidMissionApproval);
    await expect(failure).rejects.toMatchObject({ detail: 'The mission blob agent is not this agent.' });
    expect(await agent.mission()).toBeUndefined();
  });

  it('refuses a mission blob approved by another server, or without approved_at (§Mission Approval)', async () => {
    const agent = await world.enrolledAgent();
    let blob: Record<string, unknown> = { approver: 'https://other.example' };
    world.ps.route('POST', '/mission', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      return {
        status: 200,
        body: world.approveMission(token.claims.sub, token.cnfKey!.jwk, request.json(), { blob }),
      };
    });
    await expect(agent.proposeMission(PROPOSAL)).rejects.toMatchObject({
      error: 'invalid_mission_approval',
      detail: 'The mission blob approver is not this Person Server.',
    });
    blob = { approved_at: undefined };
    await expect(agent.proposeMission(PROPOSAL)).rejects.toMatchObject({
      detail: 'The mission blob has no approved_at.',
    });
  });

  it('refuses returned person tokens that do not carry mission_s256 or were not proposed', async () => {
    const agent = await world.enrolledAgent();
    let override: (jwk: unknown) => Record<string, unknown> = () => ({});
    world.ps.route('POST', '/mission', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      return {
        status: 200,
        body: world.approveMission(token.claims.sub, token.cnfKey!.jwk, request.json(), {
          override: override(token.cnfKey!.jwk),
        }),
      };
    });
    override = (jwk) => ({ person_tokens: { [world.rs.url]: world.issuePersonToken(world.rs.url, jwk) } });
    await expect(agent.proposeMission({ ...PROPOSAL, resources: [world.rs.url] })).rejects.toMatchObject({
      error: 'invalid_mission_approval',
      detail: expect.stringContaining('mission_s256'),
    });
    override = (jwk) => ({
      person_tokens: {
        'https://elsewhere.example': world.issuePersonToken('https://elsewhere.example', jwk),
      },
    });
    await expect(agent.proposeMission(PROPOSAL)).rejects.toMatchObject({
      detail: expect.stringContaining('not proposed'),
    });
    expect(await agent.missions()).toEqual([]);
  });

  it('refuses a returned person token whose signature does not verify against the PS keys (§Mission Approval)', async () => {
    const agent = await world.enrolledAgent();
    const forger = createTestIssuer({ dwk: DWK.person, issuer: world.ps.url });
    world.ps.route('POST', '/mission', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      const approval = world.approveMission(token.claims.sub, token.cnfKey!.jwk, request.json());
      const forged = forger.issue(
        'person',
        {
          aud: world.rs.url,
          sub: 'someone',
          cnf: { jwk: token.cnfKey!.jwk },
          mission_s256: approval.s256,
        } as never,
        { clock: world.clock, lifetimeSeconds: 3600 },
      );
      return { status: 200, body: { ...approval, person_tokens: { [world.rs.url]: forged } } };
    });
    await expect(agent.proposeMission({ ...PROPOSAL, resources: [world.rs.url] })).rejects.toMatchObject({
      error: 'invalid_mission_approval',
      detail: expect.stringContaining('signature did not verify'),
    });
    expect(await agent.missions()).toEqual([]);
    expect(await agent.tokens()).toHaveLength(1);
  });

  it('refuses a person token from the person token endpoint that lacks the mission asked for', async () => {
    const agent = await world.enrolledAgent();
    await agent.proposeMission(PROPOSAL);
    world.ps.route('POST', '/person', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      return {
        status: 200,
        body: { person_token: world.issuePersonToken(world.rs.url, token.cnfKey!.jwk), expires_in: 3600 },
      };
    });
    routeMe();
    await expect(agent.fetch(`${world.rs.url}/api/me`)).rejects.toBeInstanceOf(InvalidPersonToken);
    expect(world.rs.hits('GET', '/api/me')).toBe(1);
  });

  it('persists the mission in the file store with mode 0600', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'aauth-mission-'));
    try {
      const agent = world.makeAgent({ store: createFileStore(directory) });
      await agent.enroll(world.ps.url);
      const mission = await agent.proposeMission(PROPOSAL);
      expect((await stat(join(directory, 'missions.json'))).mode & 0o777).toBe(0o600);
      const again = world.makeAgent({ store: createFileStore(directory) });
      expect(await again.mission()).toEqual(mission);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('§Mission Update and §Mission Completion', () => {
  it('updates: POST {mission_endpoint}/{s256} with action update; the accepted s256 is recorded', async () => {
    const agent = await world.enrolledAgent();
    const mission = await agent.proposeMission(PROPOSAL);
    world.ps.route('POST', `/mission/${mission.s256}`, async (request) => {
      await world.verify(request, { requireBodyComponents: true });
      return { status: 200, body: { s256: 'Q2h1Y2sgSW50ZWdyaXR5IENoZWNrQ2h1Y2sgSW50ZWc' } };
    });
    const update = await agent.updateMission('Also read last week.');
    expect(update).toEqual({ s256: 'Q2h1Y2sgSW50ZWdyaXR5IENoZWNrQ2h1Y2sgSW50ZWc' });
    const sent = world.ps.requests.find((r) => r.path === `/mission/${mission.s256}`)!;
    expect(sent.json()).toEqual({ action: 'update', description: 'Also read last week.' });
    expect(sent.headers['aauth-capabilities']).toBeUndefined();
    expect((await agent.mission())?.updates).toEqual([
      { s256: update.s256, description: 'Also read last week.' },
    ]);
  });

  it('completes: the person reviews (deferred), the mission is recorded as terminated/completed and no longer used', async () => {
    const agent = await world.enrolledAgent();
    const mission = await agent.proposeMission(PROPOSAL);
    // Used before completion, so the agent has the mission loaded when it ends.
    routeMe();
    expect((await agent.fetch(`${world.rs.url}/api/me`)).status).toBe(200);
    const hitsBefore = world.rs.hits('GET', '/api/me');
    world.ps.route('POST', `/mission/${mission.s256}`, async (request) => {
      await world.verify(request, { requireBodyComponents: true });
      return {
        status: 202,
        headers: {
          location: '/pending/completion',
          'retry-after': '3',
          'cache-control': 'no-store',
          ...requirementHeader({ requirement: 'approval' }),
        },
        body: { status: 'pending' },
      };
    });
    world.ps.route('GET', '/pending/completion', async (request) => {
      await world.verify(request);
      return { status: 200, body: { mission_status: 'terminated', termination_reason: 'completed' } };
    });
    const completion = await agent.completeMission('Summarized 12 notes.');
    expect(completion).toEqual({
      s256: mission.s256,
      mission_status: 'terminated',
      termination_reason: 'completed',
    });
    expect(
      world.ps.requests.find((r) => r.method === 'POST' && r.path.startsWith('/mission/'))!.json(),
    ).toEqual({
      action: 'completion',
      summary: 'Summarized 12 notes.',
    });
    expect(world.sleeps).toEqual([3000]);
    expect(await agent.mission()).toMatchObject({ status: 'terminated', termination_reason: 'completed' });
    // §Mission Status Errors: "The agent MUST stop acting on this mission."
    const stopped = agent.fetch(`${world.rs.url}/api/me`);
    await expect(stopped).rejects.toBeInstanceOf(MissionTerminated);
    await expect(stopped).rejects.toMatchObject({ extra: { termination_reason: 'completed' } });
    expect(world.rs.hits('GET', '/api/me')).toBe(hitsBefore);
    await expect(agent.updateMission('more')).rejects.toBeInstanceOf(MissionTerminated);
  });

  it('surfaces 403 mission_terminated with mission_status and termination_reason, and records it (§Mission Status Errors)', async () => {
    const agent = await world.enrolledAgent();
    await agent.proposeMission(PROPOSAL);
    world.ps.route('POST', '/person', () => ({
      status: 403,
      body: { error: 'mission_terminated', mission_status: 'terminated', termination_reason: 'revoked' },
    }));
    routeMe();
    const failure = agent.fetch(`${world.rs.url}/api/me`);
    await expect(failure).rejects.toBeInstanceOf(MissionTerminated);
    await expect(failure).rejects.toMatchObject({
      status: 403,
      error: 'mission_terminated',
      extra: { mission_status: 'terminated', termination_reason: 'revoked' },
    });
    expect(await agent.mission()).toMatchObject({ status: 'terminated', termination_reason: 'revoked' });
  });

  it('surfaces 404 mission_not_found (§Mission Endpoint Errors)', async () => {
    const agent = await world.enrolledAgent();
    const mission = await agent.proposeMission(PROPOSAL);
    world.ps.route('POST', `/mission/${mission.s256}`, () => ({
      status: 404,
      body: { error: 'mission_not_found', detail: 'No such mission, or it is not this agent’s.' },
    }));
    await expect(agent.completeMission('done')).rejects.toBeInstanceOf(MissionNotFound);
    expect(await agent.mission()).toMatchObject({ status: 'active' });
  });

  it('uses a stored mission selected by s256 (useMission) for person tokens', async () => {
    const agent = await world.enrolledAgent();
    const first = await agent.proposeMission(PROPOSAL);
    await agent.proposeMission({ description: 'another' });
    agent.useMission(first.s256);
    routeMe();
    await agent.fetch(`${world.rs.url}/api/me`);
    const token = world.ps.requests.find((r) => r.path === '/person')!.json();
    expect(token.mission_s256).toBe(first.s256);
    // Without a mission the person token cached under the mission is not used: a new request, no mission_s256.
    agent.useMission(undefined);
    await agent.fetch(`${world.rs.url}/api/me`);
    const requests = world.ps.requests.filter((r) => r.path === '/person').map((r) => r.json());
    expect(requests).toHaveLength(2);
    expect(requests[1]!.mission_s256).toBeUndefined();
  });
});
