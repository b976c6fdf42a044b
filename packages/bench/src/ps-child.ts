import type { ChildProcess } from 'node:child_process';
import { DWK, exportPrivateJwk, type KeyPair, systemClock, toPublicJwks } from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken } from '@aauth-ref/testkit';
import { startChild } from './child.js';
import type { IssuanceWorld } from './issuance-server.js';

/**
 * The parent's side of the Person Server child (`issuance-server.ts`): the parties it is told about
 * and its start. Shared by the issuance benchmark and the scaling profile.
 */

export interface PsParties {
  /** The agent: its key and agent token (another AP's agent, `ps` = the PS under test). */
  readonly agent: { readonly key: KeyPair; readonly jwt: string };
  readonly world: IssuanceWorld;
}

export function makePsParties(ps: string, resource: string): PsParties {
  const ap = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
  const agent = makeAgentToken({ issuer: ap, clock: systemClock, ps, lifetimeSeconds: 3600 });
  return {
    agent: { key: agent.key, jwt: agent.jwt },
    world: {
      ps,
      resource,
      ap: { issuer: ap.issuer, jwks: toPublicJwks(ap.keys).keys as unknown as Record<string, unknown>[] },
      agent: {
        privateJwk: exportPrivateJwk(agent.key) as unknown as Record<string, unknown>,
        token: agent.jwt,
      },
      scope: 'notes.read',
    },
  };
}

/** What the PS child reports once it listens. */
export interface PsListening {
  readonly port: number;
  readonly resourceToken: string;
  readonly agentMission: string;
  /** The database it serves from (PostgreSQL only). */
  readonly databaseUrl?: string;
  readonly seedSeconds?: { personTokensS: number; missionsS: number };
}

/** Starts the PS child; `env` adds its settings (`BENCH_SEED_*`, `BENCH_PS_ENV`, `BENCH_JOIN_DATABASE_URL`, …). */
export async function startPersonServer(
  world: IssuanceWorld,
  databaseUrl: string,
  options: { env?: Record<string, string>; cores?: string } = {},
): Promise<{ child: ChildProcess } & PsListening> {
  const { child, ready } = await startChild(
    new URL('./issuance-server.ts', import.meta.url),
    {
      name: 'the PS',
      env: { BENCH_WORLD: JSON.stringify(world), BENCH_PG_URL: databaseUrl, ...options.env },
      ...(options.cores ? { cores: options.cores } : {}),
    },
    (m) =>
      m.type === 'listening' && typeof m.port === 'number' && typeof m.agentMission === 'string'
        ? (m as unknown as PsListening)
        : undefined,
  );
  return { child, ...ready };
}
