import {
  evaluateR3Policy,
  type PolicyDocument,
  parsePolicyDocument,
} from '@aauth-ref/auth-server/services/policy';
import { DEV, R3_VOCABULARY_MCP, R3_VOCABULARY_OPENAPI, type R3Operation, STRICT } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import { isRecord, readRepoFile, readYaml } from '../src/files.js';
import { COMPOSE_SERVERS } from '../src/servers.js';
import { mountsOf, toEnvRecord } from './support.js';

/**
 * infra/compose/as-policy.json, read by the auth server's own parser: every R3 resource it names (an
 * instance of the demo resource, which puts `r3_uri`/`r3_s256` on its resource tokens) has `r3` rules
 * covering each operation the resource publishes. Without them the AS decides an R3 request by scope
 * alone and issues no R3 claims (docs/spec-decisions.md), which the smoke did not notice.
 */

const POLICY_PATH = 'infra/compose/as-policy.json';

/**
 * The operations the demo resource publishes, in both vocabularies (R3 §OpenAPI Vocabulary
 * `operationId` in /openapi.json, R3 §MCP Vocabulary `tool` in /mcp), and whether each call is
 * approved per call. Mirrors apps/resource-server/src/services/r3-catalog.ts (`DEMO_OPERATIONS`),
 * which the resource server does not export.
 */
const PUBLISHED_OPERATIONS = [
  { operationId: 'listNotes', tool: 'list_notes', perCall: false },
  { operationId: 'createNote', tool: 'create_note', perCall: false },
  { operationId: 'deleteNote', tool: 'delete_note', perCall: true },
] as const;

const compose = readYaml('docker-compose.yml');
if (!isRecord(compose) || !isRecord(compose.services)) throw new Error('docker-compose.yml has no services');
const services = compose.services as Record<string, Record<string, unknown>>;
const asEnv = toEnvRecord(services['auth-server']?.environment);
const policy: PolicyDocument = parsePolicyDocument(
  JSON.parse(readRepoFile(POLICY_PATH)),
  asEnv.AAUTH_DEV === '1' ? DEV : STRICT,
);

/** The compose resources that are instances of the demo resource (every one is an R3 resource). */
const r3Resources = COMPOSE_SERVERS.filter(({ app }) => app === 'resource-server').map(({ service }) => {
  const env = toEnvRecord(services[service]?.environment);
  return { service, issuer: env.ISSUER ?? '', accessServer: env.ACCESS_SERVER };
});

function entry(vocabulary: string, op: (typeof PUBLISHED_OPERATIONS)[number]): R3Operation {
  return vocabulary === R3_VOCABULARY_MCP ? { tool: op.tool } : { operationId: op.operationId };
}

describe(`${POLICY_PATH}: the auth server's policy for the compose stack`, () => {
  it('is the POLICY_FILE the auth server is given, and parses with its own parser', () => {
    const mounts = mountsOf(services['auth-server'] ?? {});
    expect(mounts).toContainEqual(
      expect.objectContaining({ source: `./${POLICY_PATH}`, target: asEnv.POLICY_FILE }),
    );
    expect(Object.keys(policy.resources).length).toBeGreaterThan(0);
  });

  it('has a policy for every demo resource that names this auth server as its ACCESS_SERVER', () => {
    const delegating = r3Resources.filter((r) => r.accessServer === asEnv.ISSUER);
    expect(delegating.length).toBeGreaterThan(0);
    for (const resource of delegating) {
      expect(Object.keys(policy.resources), resource.service).toContain(resource.issuer);
    }
  });

  it('names at least one demo resource (R3)', () => {
    expect(r3Resources.filter((r) => r.issuer in policy.resources).length).toBeGreaterThan(0);
  });

  for (const resource of r3Resources.filter((r) => r.issuer in policy.resources)) {
    describe(`${resource.service} (${resource.issuer})`, () => {
      for (const vocabulary of [R3_VOCABULARY_OPENAPI, R3_VOCABULARY_MCP]) {
        for (const op of PUBLISHED_OPERATIONS) {
          const name = vocabulary === R3_VOCABULARY_MCP ? op.tool : op.operationId;
          it(`has r3 rules for ${name} (${vocabulary}): ${op.perCall ? 'per-call' : 'grant'}`, () => {
            const resourcePolicy = policy.resources[resource.issuer]!;
            expect(resourcePolicy.r3, 'no r3 member: R3 requests would get scope-only tokens').toBeDefined();
            const operation = entry(vocabulary, op);
            // R3 §AS Processing step 5, as the AS evaluates it (not a proposal: the class document).
            const outcome = evaluateR3Policy(resourcePolicy.r3, {
              vocabulary,
              operations: [operation],
              proposal: false,
            });
            expect(outcome).not.toHaveProperty('deny');
            if ('deny' in outcome) return;
            // The resource approves a per-call operation per call: the AS must not grant it for good.
            expect(op.perCall ? outcome.perCall : outcome.granted).toEqual([operation]);
          });
        }
      }
    });
  }
});
