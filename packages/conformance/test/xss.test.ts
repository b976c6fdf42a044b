import { createLocalKeyResolver, DWK } from '@aauth-ref/core';
import { renderMarkdown } from '@aauth-ref/fastify';
import { createTestIssuer, makeAgentToken } from '@aauth-ref/testkit';
import { chromiumSkipReason, launchChromium } from '@aauth-ref/testkit/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ISSUER,
  sendSigned,
  startTestApp,
  type TestApp,
} from '../../../apps/person-server/test/support/app-harness.js';
import {
  approve,
  codeOf,
  mintResourceToken,
  openCode,
  pathOf,
  poll,
  requestAuthToken,
} from '../../../apps/person-server/test/support/token-flow.js';
import { findExecutableMarkup, XSS_CORPUS } from '../src/xss-corpus.js';

/**
 * Agent-supplied text rendered inert (issue #10, item 3): the corpus through `renderMarkdown` (strict
 * and development mode) and through the PS consent pages that show agent and resource text — the
 * Agent Provider's metadata `name`/`description`, the resource's `name`/`description`/
 * `scope_descriptions`, the agent's `justification`, a mission description — then one real-browser
 * load of those pages.
 */

describe('XSS corpus through renderMarkdown', () => {
  it('the corpus has at least 30 vectors', () => {
    expect(XSS_CORPUS.length).toBeGreaterThanOrEqual(30);
  });

  it.each(XSS_CORPUS.map((v) => [v]))('%j renders inert (strict and development mode)', (vector) => {
    for (const devMode of [false, true]) {
      const html = renderMarkdown(vector, { devMode }).toString();
      expect(findExecutableMarkup(html), html).toBeUndefined();
    }
  });

  it('the whole corpus as one document renders inert', () => {
    const html = renderMarkdown(XSS_CORPUS.join('\n\n')).toString();
    expect(findExecutableMarkup(html), html).toBeUndefined();
  });

  it('the checker itself finds what it must (no vacuous pass)', () => {
    expect(findExecutableMarkup('<p><img src=x onerror=alert(1)></p>')).toBeDefined();
    expect(findExecutableMarkup('<a href="javascript:alert(1)">x</a>')).toBeDefined();
    expect(findExecutableMarkup('<a href="&#106;avascript:alert(1)">x</a>')).toBeDefined();
    expect(findExecutableMarkup('<p>&lt;script&gt;</p>')).toBeUndefined();
    expect(
      findExecutableMarkup('<a href="https://x.example" title="&quot; onclick=&quot;x">x</a>'),
    ).toBeUndefined();
  });
});

const RESOURCE = 'https://resource.example';
const SHORT = '<img src=x onerror=window.__xss=1>';
/** A NUL cannot be stored (PostgreSQL text): a body carrying one is refused, tested on its own below. */
const STORABLE = XSS_CORPUS.filter((v) => !v.includes('\0'));
/** Descriptions hold at most 4000 characters (consent-view.ts): as many vectors as fit. */
function fitting(limit: number): string {
  let text = '';
  for (const vector of STORABLE) {
    if (text.length + vector.length + 2 > limit) break;
    text += `${vector}\n\n`;
  }
  return text;
}

const hostileAp = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { name: SHORT, description: fitting(3900) },
});
const hostileResource = createTestIssuer({
  dwk: DWK.resource,
  issuer: RESOURCE,
  metadata: {
    name: '"><script>window.__xss=1</script>',
    description: fitting(3900),
    scope_descriptions: {
      'data.read': '<svg onload=window.__xss=1>',
      'data.write': '[x](javascript:window.__xss=1) <img src=x onerror=window.__xss=1>',
    },
  },
});

let t: TestApp;
let nulProbe: () => ReturnType<typeof requestAuthToken>;
const pages: { name: string; body: string }[] = [];

beforeAll(async () => {
  t = await startTestApp({ remoteKeys: createLocalKeyResolver([hostileAp, hostileResource]) });
  // §Agent Token Request → consent page showing the AP's metadata and the resource's.
  const agent = makeAgentToken({ issuer: hostileAp, clock: t.clock, ps: ISSUER });
  t.clock.advance(100);
  const res = await sendSigned(t, {
    method: 'POST',
    path: '/person',
    key: agent.key,
    signatureKey: agent.jwt,
    body: { resource: RESOURCE, capabilities: ['interaction'] },
  });
  expect(res.statusCode, res.body).toBe(202);
  const first = await openCode(t, codeOf(res));
  expect(first.page.statusCode).toBe(200);
  pages.push({ name: 'person-token consent (AP metadata, resource metadata)', body: first.page.body });
  expect((await approve(first.browser, first.page)).statusCode).toBe(200);
  const answer = await poll(t, agent, pathOf(res));
  const token = answer.json().person_token as string;
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
  const bound = { agent, personToken: { jti: claims.jti, sub: claims.sub, tenant: claims.tenant } };
  // §Auth Token Request with a justification → consent page with scope descriptions.
  const rt = mintResourceToken(t, hostileResource, bound, { scope: 'data.read data.write' });
  const asked = await requestAuthToken(t, agent, {
    resource_token: rt.jwt,
    justification: fitting(3900),
    capabilities: ['interaction'],
  });
  expect(asked.statusCode, asked.body).toBe(202);
  // §Mission Creation → the mission review page showing the agent's Markdown description.
  const missionAgent = makeAgentToken({ issuer: hostileAp, clock: t.clock, ps: ISSUER });
  t.clock.advance(1000);
  const proposed = await sendSigned(t, {
    method: 'POST',
    path: '/mission',
    key: missionAgent.key,
    signatureKey: missionAgent.jwt,
    body: { description: fitting(3900), resources: [RESOURCE], capabilities: ['interaction'] },
  });
  expect(proposed.statusCode, proposed.body).toBe(202);
  const review = await openCode(t, codeOf(proposed));
  expect(review.page.statusCode).toBe(200);
  pages.push({ name: 'mission review (description)', body: review.page.body });
  nulProbe = () =>
    requestAuthToken(t, agent, {
      resource_token: mintResourceToken(t, hostileResource, bound, { scope: 'data.read' }).jwt,
      justification: '<img src=x o\u0000nerror=window.__xss=1>',
      capabilities: ['interaction'],
    });
  const second = await openCode(t, codeOf(asked));
  expect(second.page.statusCode).toBe(200);
  pages.push({ name: 'auth-token consent (justification, scope_descriptions)', body: second.page.body });
});
afterAll(async () => {
  await t?.close();
});

describe('XSS corpus through the PS consent pages', () => {
  it('each page shows the agent and resource text, escaped, with no executable markup', () => {
    expect(pages).toHaveLength(3);
    for (const page of pages) {
      expect(findExecutableMarkup(page.body, { page: true }), page.name).toBeUndefined();
      // The text is shown (escaped), not dropped: a person can read what the agent sent.
      expect(page.body, page.name).toContain('&lt;script&gt;window.__xss=1&lt;/script&gt;');
    }
    expect(pages[0]!.body).toContain('&lt;img src=x onerror=window.__xss=1&gt;');
    expect(pages[1]!.body).toContain('&lt;svg onload=window.__xss=1&gt;');
  });

  const skip = chromiumSkipReason();
  it.skipIf(skip !== undefined)('Chromium: loading the consent pages never sets window.__xss', async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ javaScriptEnabled: true });
      // No request leaves the page: any fetch (script src, image, frame) is refused and counted.
      let outbound = 0;
      await context.route('**/*', (route) => {
        outbound += 1;
        return route.abort();
      });
      const page = await context.newPage();
      for (const rendered of pages) {
        // Loaded without the server's CSP: the markup itself must be inert, not just blocked.
        await page.setContent(rendered.body, { waitUntil: 'load' });
        // Browser-side code as text: this package is typechecked without the DOM library.
        await page.evaluate(
          "for (const a of document.querySelectorAll('a')) a.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }))",
        );
        expect(await page.evaluate('window.__xss'), rendered.name).toBeUndefined();
        const hrefs = (await page.evaluate(
          "Array.from(document.querySelectorAll('a[href]')).map((a) => a.protocol)",
        )) as string[];
        for (const protocol of hrefs) expect(['javascript:', 'vbscript:', 'data:']).not.toContain(protocol);
      }
      // The probe works: the same vector unescaped does set the flag.
      await page.setContent('<img src="https://x.example/x.png" onerror="window.__xss=1">', {
        waitUntil: 'load',
      });
      expect(await page.evaluate('window.__xss')).toBe(1);
      outbound -= 1;
      // Only the stylesheet link may be requested by the layout; nothing the agent wrote.
      expect(outbound).toBeLessThanOrEqual(pages.length);
    } finally {
      await browser.close();
    }
  });
});

describe('NUL characters are bad input, not a 500 (found by this corpus)', () => {
  it('a JSON body with a \\u0000 in a string → 400 invalid_request, nothing stored', async () => {
    const before = await t.prisma.pendingRequest.count();
    const response = await nulProbe();
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe('invalid_request');
    expect(await t.prisma.pendingRequest.count()).toBe(before);
  });

  it('a form field with %00 → 400, not a 500', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/signin', headers: { host: 'localhost:3001' } });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const cookie = String(page.headers['set-cookie']).split(';')[0]!;
    const response = await t.app.inject({
      method: 'POST',
      url: '/signin',
      headers: {
        host: 'localhost:3001',
        origin: ISSUER,
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: `_csrf=${csrf}&username=alice%00&password=x`,
    });
    expect(response.statusCode).toBe(400);
  });
});
