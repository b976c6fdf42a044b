/**
 * Seeds a Person Server database for the scaling profile with `COPY … FROM STDIN`: retained person-token
 * records (§Person Token Endpoint: retention) spread over 10 000 agents and the demo persons, half of
 * them expired (independently of the person), and active missions of 10 000 agents. Identifiers are deterministic.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { copyFrom } from './copy.js';

export interface ScaleSeed {
  readonly personTokens: number;
  readonly missions: number;
  readonly ps: string;
  readonly agentIss: string;
  readonly personIds: readonly string[];
  readonly resource: string;
}

export const SEED_AGENTS = 10_000;
export const seedAgentSub = (i: number) => `aauth:seed-${i % SEED_AGENTS}@agent.example`;
export const seedMissionS256 = (i: number) => createHash('sha256').update(`mission-${i}`).digest('base64url');

function* personTokenLines(seed: ScaleSeed, now: number): Generator<string> {
  for (let i = 0; i < seed.personTokens; i++) {
    // Expired or live independently of the person (`i % n` picks the person; bit 1 of i, the expiry).
    const exp = new Date(now + ((i >> 1) % 2 === 0 ? -1 : 1) * ((i % 3600) + 60) * 1000).toISOString();
    const issued = new Date(now - 3_600_000 - (i % 86_400) * 1000).toISOString();
    const person = seed.personIds[i % seed.personIds.length]!;
    const resource = `https://r${i % 50}.example`;
    // jti, ps, sub, mission_s256, tenant, exp, resource, person_id, agent_iss, agent_sub, subagent_sub, cnf_jkt, issued_at
    yield `seed-pt-${i}\t${seed.ps}\tdirected-${i % 5000}\t\\N\t\\N\t${exp}\t${resource}\t${person}\t${seed.agentIss}\t${seedAgentSub(i)}\t\\N\tjkt-${i % SEED_AGENTS}\t${issued}\n`;
  }
}

function* missionLines(seed: ScaleSeed, now: number): Generator<string> {
  const approved = new Date(now - 86_400_000).toISOString();
  const blob = `\\\\x${Buffer.from('{"description":"seeded mission"}').toString('hex')}`;
  for (let i = 0; i < seed.missions; i++) {
    const person = seed.personIds[i % seed.personIds.length]!;
    // s256, blob, agent_iss, agent_sub, person_id, status, approved_at, description
    yield `${seedMissionS256(i)}\t${blob}\t${seed.agentIss}\t${seedAgentSub(i)}\t${person}\tactive\t${approved}\tseeded mission ${i}\n`;
  }
}

/** Seeds and `ANALYZE`s; returns the seconds each table took. */
export async function seedScale(
  url: string,
  seed: ScaleSeed,
): Promise<{ personTokensS: number; missionsS: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const now = Date.now();
    let started = performance.now();
    await copyFrom(
      client,
      'COPY person_token_record (jti, ps, sub, mission_s256, tenant, exp, resource, person_id, agent_iss, agent_sub, subagent_sub, cnf_jkt, issued_at) FROM STDIN',
      personTokenLines(seed, now),
    );
    const personTokensS = (performance.now() - started) / 1000;
    started = performance.now();
    await copyFrom(
      client,
      'COPY mission (s256, blob, agent_iss, agent_sub, person_id, status, approved_at, description) FROM STDIN',
      missionLines(seed, now),
    );
    const missionsS = (performance.now() - started) / 1000;
    await client.query('ANALYZE person_token_record');
    await client.query('ANALYZE mission');
    return { personTokensS, missionsS };
  } finally {
    await client.end();
  }
}

/** `EXPLAIN` of the Person Server's hot queries on these tables, with values that exist in the seed. */
export async function explainHotQueries(
  url: string,
  values: { agentIss: string; agentSub: string; resource: string; personId: string; missionS256: string },
): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const q = (value: string) => `'${value.replaceAll("'", "''")}'`;
  const queries: [string, string][] = [
    [
      'person token by jti (resource-token check, revocation)',
      `SELECT * FROM person_token_record WHERE jti = 'seed-pt-12345'`,
    ],
    [
      'has the agent had a person token for this resource (POST /person)',
      `SELECT jti FROM person_token_record WHERE agent_iss = ${q(values.agentIss)} AND agent_sub = ${q(values.agentSub)} AND resource = ${q(values.resource)} LIMIT 1`,
    ],
    [
      'new resources of the agent (POST /person, groupBy)',
      `SELECT resource, min(issued_at) FROM person_token_record WHERE agent_iss = ${q(values.agentIss)} AND agent_sub = ${q(values.agentSub)} GROUP BY resource`,
    ],
    [
      "the person's live person tokens (dashboard)",
      `SELECT jti, agent_iss, agent_sub, resource, exp FROM person_token_record WHERE person_id = ${q(values.personId)} AND exp > now() ORDER BY exp ASC LIMIT 50`,
    ],
    [
      'mission by s256 and owner (POST /mission/{s256})',
      `SELECT * FROM mission WHERE s256 = ${q(values.missionS256)} AND agent_iss = ${q(values.agentIss)} AND agent_sub = ${q(values.agentSub)} LIMIT 1`,
    ],
  ];
  const out: string[] = [];
  try {
    for (const [label, sql] of queries) {
      const { rows } = await client.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${sql}`);
      out.push(`-- ${label}\n${rows.map((r: Record<string, string>) => `   ${r['QUERY PLAN']}`).join('\n')}`);
    }
  } finally {
    await client.end();
  }
  return out.join('\n');
}
