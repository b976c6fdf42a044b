import { readFileSync } from 'node:fs';
import { R3_VOCABULARY_MCP, R3_VOCABULARY_OPENAPI, type R3Operation } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import { DEMO_SCOPES } from '../src/scopes.js';
import { DEMO_OPERATIONS, findDemoOperation, operationEntry } from '../src/services/r3-catalog.js';

/**
 * apps/auth-server/policy/dev-policy.json is the auth server's policy for this resource under
 * `pnpm dev` (four-party: the resource at http://localhost:3003 with `ACCESS_SERVER`
 * http://localhost:3002). Read as data, as the auth server reads it (an app imports no other app):
 * the scopes its rules decide are the `scope_descriptions` this resource publishes by default, and its
 * `r3` rules name the operations this resource publishes. The auth server's own test parses it.
 */

const DEV_RESOURCE = 'http://localhost:3003';

interface DevPolicy {
  readonly resources: Record<
    string,
    {
      readonly rules: ReadonlyArray<{ readonly scopes: readonly string[]; readonly effect: string }>;
      readonly r3?: {
        readonly operations: ReadonlyArray<{
          readonly vocabulary: string;
          readonly match: R3Operation;
          readonly effect: string;
        }>;
      };
    }
  >;
}

const policy = JSON.parse(
  readFileSync(new URL('../../auth-server/policy/dev-policy.json', import.meta.url), 'utf8'),
) as DevPolicy;
const resource = policy.resources[DEV_RESOURCE];
const published = Object.keys(DEMO_SCOPES);

describe('apps/auth-server/policy/dev-policy.json: the dev auth server’s policy for this resource', () => {
  it('names this resource', () => {
    expect(resource).toBeDefined();
  });

  it('decides only scopes this resource publishes, and grants each of them by some rule', () => {
    const named = resource!.rules.flatMap((rule) => rule.scopes).filter((scope) => scope !== '*');
    expect(named.filter((scope) => !published.includes(scope))).toEqual([]);
    const granted = resource!.rules.filter((rule) => rule.effect === 'grant').flatMap((rule) => rule.scopes);
    expect(published.filter((scope) => !granted.includes(scope))).toEqual([]);
  });

  it('has an r3 rule for each operation this resource publishes, per call where the resource asks per call', () => {
    const operations = resource!.r3?.operations ?? [];
    for (const entry of operations) {
      expect(findDemoOperation(entry.vocabulary, entry.match), JSON.stringify(entry)).toBeDefined();
    }
    for (const vocabulary of [R3_VOCABULARY_OPENAPI, R3_VOCABULARY_MCP]) {
      for (const op of DEMO_OPERATIONS) {
        const match = operationEntry(vocabulary, op);
        const rule = operations.find(
          (entry) => entry.vocabulary === vocabulary && JSON.stringify(entry.match) === JSON.stringify(match),
        );
        expect(rule?.effect, `${vocabulary} ${JSON.stringify(match)}`).toBe(
          op.perCall ? 'per-call' : 'grant',
        );
      }
    }
  });
});
