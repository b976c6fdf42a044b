import { DWK } from '@aauth-ref/core';
import { createTestIssuer, makeAuthToken } from '@aauth-ref/testkit';
import { describe, expect, it } from 'vitest';
import { createHarness, OTHER_RESOURCE, PS, RESOURCE } from '../support/service-harness.js';

/**
 * §Call Chaining, §Upstream Token Verification, §Directed Identifiers Across a Chain: RESOURCE, acting
 * as an agent (its own agent identity under its own issuer), obtains a person token and an auth token
 * for OTHER_RESOURCE on behalf of the person whose auth token it received.
 */

async function expectRejection(promise: Promise<unknown>, status: number, error: string) {
  await expect(promise).rejects.toMatchObject({ status, error });
}

async function chainSetup() {
  const h = createHarness();
  const agent = h.makeAgent();
  const pt = await h.obtainPersonToken(agent);
  const first = await h.authTokens.requestAuthToken(agent.signer, {
    resource_token: h.makeResourceToken(pt, agent.key),
  });
  if (first.kind !== 'needs_consent') throw new Error('expected consent');
  const upstream = await h.authTokens.completeAuthToken(first.plan, { personId: h.person.id });
  // The intermediary's operator, not the person, is who it is bound to (if anyone).
  const intermediary = h.makeAgent({ ap: h.intermediaryAp, bound: false });
  return { h, agent, pt, upstream, intermediary };
}

describe('call chaining at the person token endpoint', () => {
  it('issues for the person of the upstream token, with the downstream directed sub', async () => {
    const { h, pt, upstream, intermediary } = await chainSetup();
    const outcome = await h.personTokens.requestPersonToken(intermediary.signer, {
      resource: OTHER_RESOURCE,
      upstream_token: upstream.authToken,
    });
    expect(outcome).toMatchObject({
      kind: 'needs_consent',
      reason: 'new_resource',
      plan: { personId: h.person.id },
    });
    if (outcome.kind !== 'needs_consent') return;
    const downstream = await h.personTokens.completePersonToken(outcome.plan, { personId: h.person.id });
    // §Directed Identifiers Across a Chain: never the upstream sub.
    expect(downstream.claims.sub).not.toBe(pt.sub);
    expect(downstream.claims.sub).toBe(await h.stores.directedSubjects.find(h.person.id, OTHER_RESOURCE));
    expect(downstream.claims.cnf).toEqual({ jwk: intermediary.claims.cnf.jwk });
    expect(await h.stores.personTokens.findByJti(downstream.claims.jti)).toMatchObject({
      agentIss: RESOURCE,
      agentSub: intermediary.claims.sub,
      personId: h.person.id,
    });
  });

  it('then issues the downstream auth token with upstream_token', async () => {
    const { h, upstream, intermediary } = await chainSetup();
    await h.stores.resourceConsents.grant({
      personId: h.person.id,
      agent: intermediary.claims,
      resource: OTHER_RESOURCE,
    });
    const ptOutcome = await h.personTokens.requestPersonToken(intermediary.signer, {
      resource: OTHER_RESOURCE,
      upstream_token: upstream.authToken,
    });
    if (ptOutcome.kind !== 'issued') throw new Error('expected a person token');
    const rt = h.makeResourceToken(ptOutcome.claims, intermediary.key, { scope: 'charge' });
    const outcome = await h.authTokens.requestAuthToken(intermediary.signer, {
      resource_token: rt,
      upstream_token: upstream.authToken,
    });
    if (outcome.kind !== 'needs_consent') throw new Error('expected consent');
    const issued = await h.authTokens.completeAuthToken(outcome.plan, { personId: h.person.id });
    expect(issued.claims).toMatchObject({
      iss: PS,
      aud: OTHER_RESOURCE,
      sub: ptOutcome.claims.sub,
      scope: 'charge',
    });
    // Without the upstream token the intermediary acts for nobody.
    await expectRejection(
      h.authTokens.requestAuthToken(intermediary.signer, { resource_token: rt }),
      400,
      'invalid_agent_token',
    );
  });

  it('rejects an upstream token issued to another agent with 400 invalid_request (step 3)', async () => {
    const { h, upstream } = await chainSetup();
    const bystander = h.makeAgent();
    await expectRejection(
      h.personTokens.requestPersonToken(bystander.signer, {
        resource: OTHER_RESOURCE,
        upstream_token: upstream.authToken,
      }),
      400,
      'invalid_request',
    );
  });

  it('rejects an upstream token from another issuer with 400 invalid_request (step 2)', async () => {
    const { h, intermediary } = await chainSetup();
    const foreign = makeAuthToken({
      issuer: createTestIssuer({ dwk: DWK.access }),
      aud: RESOURCE,
      clock: h.clock,
    });
    await expectRejection(
      h.personTokens.requestPersonToken(intermediary.signer, {
        resource: OTHER_RESOURCE,
        upstream_token: foreign.jwt,
      }),
      400,
      'invalid_request',
    );
  });

  it('rejects a revoked or expired upstream token with 400 invalid_request', async () => {
    const { h, upstream, intermediary } = await chainSetup();
    const body = { resource: OTHER_RESOURCE, upstream_token: upstream.authToken };
    h.stores.issuedAuthTokens.revoke(upstream.claims.jti, new Date(h.clock.now()));
    await expectRejection(
      h.personTokens.requestPersonToken(intermediary.signer, body),
      400,
      'invalid_request',
    );
    const fresh = await chainSetup();
    fresh.h.clock.advance(3600_000);
    await expectRejection(
      fresh.h.personTokens.requestPersonToken(fresh.intermediary.signer, {
        resource: OTHER_RESOURCE,
        upstream_token: fresh.upstream.authToken,
      }),
      400,
      'invalid_request',
    );
  });

  it('rejects a person token (not an auth token) as upstream_token with 400 invalid_request', async () => {
    const { h, intermediary } = await chainSetup();
    const other = h.makeAgent();
    await h.stores.resourceConsents.grant({ personId: h.person.id, agent: other.claims, resource: RESOURCE });
    const outcome = await h.personTokens.requestPersonToken(other.signer, { resource: RESOURCE });
    if (outcome.kind !== 'issued') throw new Error('expected a person token');
    await expectRejection(
      h.personTokens.requestPersonToken(intermediary.signer, {
        resource: OTHER_RESOURCE,
        upstream_token: outcome.personToken,
      }),
      400,
      'invalid_request',
    );
  });
});
