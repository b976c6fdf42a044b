import type { InteractionPrompt } from '@aauth-ref/agent';
import type { Locator } from '@aauth-ref/testkit/browser';
import { expect } from 'vitest';
import type { Account } from './agents.js';
import type { BrowserDecision, ChromiumPerson } from './chromium-person.js';

/** What the person saw on an interaction page before deciding, as the browser rendered it. */
export interface SeenPage {
  readonly prompt: InteractionPrompt;
  /** The page's `<h1>`. */
  readonly title: string;
  /** The visible text of the page's `<main>` (or `<body>`), as Chromium lays it out. */
  readonly text: string;
  /**
   * The visible text of the R3 section (`aria-labelledby="consent-r3"`: the resource's own words for
   * the access, R3 §R3 Processing), or `undefined` when the page has none.
   */
  readonly r3: string | undefined;
  /** The landing page's status after the decision. */
  readonly status: number;
}

/**
 * Like `ChromiumPerson.decide`, but reads the page before clicking: the person at
 * `{url}?code={code}` signs in where asked, the page's text is kept (what the person was shown), the
 * decision is clicked, and the person signs out of the PS afterwards.
 */
export async function decideAfterReading(
  person: ChromiumPerson,
  prompt: InteractionPrompt,
  account: Account,
  options: { decision?: BrowserDecision; ps: string },
): Promise<SeenPage> {
  const { page } = person;
  await person.openSignedIn(`${prompt.url}?code=${encodeURIComponent(prompt.code)}`, account);
  expect(new URL(page.url()).pathname).toBe('/interaction');
  const h1 = page.locator('h1');
  const title = (await h1.count()) > 0 ? await renderedText(h1.first()) : '';
  const main = page.locator('main');
  const text = await renderedText((await main.count()) > 0 ? main.first() : page.locator('body'));
  const section = page.locator('section[aria-labelledby="consent-r3"]');
  const r3 = (await section.count()) > 0 ? await renderedText(section.first()) : undefined;
  const status = await person.click(options.decision ?? 'Approve');
  await person.signOut(options.ps);
  return { prompt, title, text, r3, status };
}

/**
 * The text of `locator` as laid out for the person (hidden elements left out), whitespace collapsed.
 * A Playwright `Locator`, not a DOM node: `textContent` would include what the page does not show.
 */
export async function renderedText(locator: Locator): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: a Playwright Locator; the rendered text is the point.
  const text = await locator.innerText();
  return text.replace(/\s+/g, ' ').trim();
}
