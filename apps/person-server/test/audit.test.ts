import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './support/app-harness.js';
import {
  approveMission,
  governanceKeys,
  missionLog,
  newAgent,
  observable,
  signedPost,
  UNKNOWN_MISSION,
} from './support/governance-flow.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: governanceKeys, outboundFetch: async () => ({ status: 200 }) });
});
afterAll(async () => {
  await t?.close();
});

const RECORD = {
  action: 'WebSearch',
  description: 'Searched for flights to Tokyo in May',
  parameters: { query: 'flights to Tokyo May 2026' },
  result: { status: 'completed', summary: 'Found 12 flight options' },
};

describe('audit records (§Audit Endpoint)', () => {
  it('answers 201 Created and records action, description, parameters and result in the mission log (§Mission Log)', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, '/audit', { ...RECORD, mission_s256: mission.s256 });
    expect(res.statusCode).toBe(201);
    expect(res.body).toBe('');
    const log = await missionLog(t, mission.s256);
    expect(log.at(-1)).toEqual({ kind: 'audit', detail: RECORD });
  });

  it('records a minimal audit (only the REQUIRED members)', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, '/audit', { action: 'Noop', mission_s256: mission.s256 });
    expect(res.statusCode).toBe(201);
    expect((await missionLog(t, mission.s256)).at(-1)).toEqual({ kind: 'audit', detail: { action: 'Noop' } });
  });

  it('requires mission_s256: there is no audit outside a mission (400 invalid_request)', async () => {
    const mission = await approveMission(t);
    const res = await signedPost(t, mission.agent, '/audit', RECORD);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
    expect(await t.prisma.governanceLogEntry.count({ where: { kind: 'audit' } })).toBe(0);
  });

  it('refuses malformed members with 400 invalid_request before any mission lookup (§Audit Request)', async () => {
    const mission = await approveMission(t);
    for (const body of [
      { mission_s256: mission.s256 },
      { mission_s256: mission.s256, action: '' },
      { mission_s256: mission.s256, action: 'X', result: 'done' },
      { mission_s256: mission.s256, action: 'X', parameters: [1] },
      { mission_s256: mission.s256, action: 'X', description: { md: 'x' } },
      { mission_s256: 'short', action: 'X' },
      // Malformed members with an unknown mission: still 400, nothing disclosed about missions.
      { mission_s256: UNKNOWN_MISSION, action: 'X', result: [] },
    ]) {
      const res = await signedPost(t, mission.agent, '/audit', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
  });

  it('answers a terminated mission with 403 mission_terminated (§Mission Status Errors)', async () => {
    const mission = await approveMission(t);
    await mission.browser.get('/missions');
    await mission.browser.post('/missions/revoke', { _csrf: mission.browser.csrf(), s256: mission.s256 });
    const res = await signedPost(t, mission.agent, '/audit', { ...RECORD, mission_s256: mission.s256 });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({
      error: 'mission_terminated',
      mission_status: 'terminated',
      termination_reason: 'revoked',
    });
    expect((await missionLog(t, mission.s256)).filter((e) => e.kind === 'audit')).toEqual([]);
  });

  it('answers a foreign and an unknown mission with identical 404 mission_not_found (§Mission Endpoint Errors)', async () => {
    const mission = await approveMission(t);
    const stranger = newAgent(t);
    const foreign = await signedPost(t, stranger, '/audit', { ...RECORD, mission_s256: mission.s256 });
    const unknown = await signedPost(t, stranger, '/audit', { ...RECORD, mission_s256: UNKNOWN_MISSION });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error).toBe('mission_not_found');
    expect(observable(foreign)).toEqual(observable(unknown));
    // A foreign terminated mission is a 404 too, not a 403.
    await mission.browser.get('/missions');
    await mission.browser.post('/missions/revoke', { _csrf: mission.browser.csrf(), s256: mission.s256 });
    const foreignEnded = await signedPost(t, stranger, '/audit', { ...RECORD, mission_s256: mission.s256 });
    const unknownAgain = await signedPost(t, stranger, '/audit', {
      ...RECORD,
      mission_s256: UNKNOWN_MISSION,
    });
    expect(observable(foreignEnded)).toEqual(observable(unknownAgain));
    expect((await missionLog(t, mission.s256)).filter((e) => e.kind === 'audit')).toEqual([]);
  });

  it('rejects an unsigned request with 401 Signature-Error (§Audit Request: MUST include an HTTP Sig)', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/audit',
      headers: { host: 'localhost:3001', 'content-type': 'application/json' },
      payload: JSON.stringify({ ...RECORD, mission_s256: UNKNOWN_MISSION }),
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['signature-error']).toBeDefined();
  });
});
