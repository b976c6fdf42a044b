import type { InteractionPrompt } from '@aauth-ref/agent';
import { type Browser, type BrowserContext, launchChromium, type Page } from '@aauth-ref/testkit/browser';
import { expect } from 'vitest';
import type { Account } from './agents.js';

/**
 * A person in headless Chromium at the servers' own pages: opens what an agent hands over, signs in
 * where a server asks, clicks the decision, and signs out of the Person Server afterwards — a live
 * PS session is the PS's channel for relayed interactions (§Relaying Through the Person Server), so
 * a person who is done leaves none behind unless a scenario keeps one on purpose.
 */

export type BrowserDecision = 'Approve' | 'Deny';

export class ChromiumPerson {
  private constructor(
    readonly browser: Browser,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  static async launch(): Promise<ChromiumPerson> {
    const browser = await launchChromium();
    const context = await browser.newContext();
    // Fail a step with Playwright's own message well before the test's timeout.
    context.setDefaultTimeout(10_000);
    return new ChromiumPerson(browser, context, await context.newPage());
  }

  close(): Promise<void> {
    return this.browser.close();
  }

  private path(): string {
    return new URL(this.page.url()).pathname;
  }

  /** When the current page is a server's sign-in page, signs in there (it returns to where it was going). */
  async signInIfAsked(account: Account): Promise<void> {
    if (this.path() !== '/signin') return;
    const origin = new URL(this.page.url()).origin;
    await this.page.getByLabel('Username').fill(account.username);
    await this.page.getByLabel('Password').fill(account.password);
    await Promise.all([
      this.page.waitForURL((u) => u.origin !== origin || u.pathname !== '/signin'),
      this.page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
  }

  /** Opens `path` at `origin`, signed in as `account`. */
  async openSignedIn(url: string, account: Account): Promise<void> {
    await this.page.goto(url);
    await this.signInIfAsked(account);
  }

  /** Signs out at `origin` with the page's own Sign out button, if signed in there. */
  async signOut(origin: string, from = '/dashboard'): Promise<void> {
    await this.page.goto(new URL(from, origin).href);
    const button = this.page.getByRole('button', { name: 'Sign out', exact: true });
    if (this.path() === '/signin' || (await button.count()) === 0) return;
    await Promise.all([this.page.waitForLoadState(), button.click()]);
    await this.page.waitForURL((u) => u.pathname !== from);
  }

  /**
   * Clicks `label` on the current page and waits for the answer to the form's POST; returns its
   * status (the page the person lands on).
   */
  async click(label: string): Promise<number> {
    const button = this.page.getByRole('button', { name: label, exact: true });
    await button.waitFor();
    const [response] = await Promise.all([
      this.page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
      button.click(),
    ]);
    await this.page.waitForLoadState();
    // A 303 after the POST (a callback, a return page) is followed: the status is the landing page's.
    const landed = await response.request().redirectedTo()?.response();
    return (landed ?? response).status();
  }

  /**
   * The person at `{url}?code={code}`: signs in where asked (`account` for the server the flow ends
   * at), expects an interaction page, clicks the decision — `Approve` on the PS's pages, `Allow` on
   * the resource's own consent page — and signs out of the PS (`ps`) afterwards.
   */
  async decide(
    prompt: InteractionPrompt,
    account: Account,
    options: { decision?: BrowserDecision; ps: string },
  ): Promise<{ origin: string; status: number }> {
    const decision = options.decision ?? 'Approve';
    const started = Date.now();
    await this.openSignedIn(`${prompt.url}?code=${encodeURIComponent(prompt.code)}`, account);
    expect(this.path()).toBe('/interaction');
    const origin = new URL(this.page.url()).origin;
    const approve = this.page.getByRole('button', { name: 'Approve', exact: true });
    const label = decision === 'Approve' && (await approve.count()) === 0 ? 'Allow' : decision;
    const status = await this.click(label);
    await this.signOut(options.ps);
    if (process.env.E2E_LOG_LEVEL) {
      console.log(`[person] ${label} at ${origin} → ${status} (${Date.now() - started} ms)`);
    }
    return { origin, status };
  }
}
