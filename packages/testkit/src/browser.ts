import { existsSync } from 'node:fs';
import { type Browser, chromium, type LaunchOptions } from 'playwright-core';

/**
 * Real-browser tests: the system Chromium (Debian `chromium`) driven by `playwright-core`, which
 * downloads no browser of its own. A machine without Chromium skips these tests with a stated
 * reason rather than failing (`it.skipIf(chromiumSkipReason() !== undefined)`).
 */

export type { Browser, BrowserContext, Locator, Page } from 'playwright-core';

/** Where Debian installs Chromium; `CHROMIUM_PATH` points elsewhere on other machines. */
export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH || DEFAULT_CHROMIUM_PATH;
}

/** Why real-browser tests cannot run here, or `undefined` when they can. */
export function chromiumSkipReason(): string | undefined {
  const path = chromiumPath();
  if (existsSync(path)) return undefined;
  return `no Chromium at ${path} (install it with \`apt-get install chromium\` or set CHROMIUM_PATH)`;
}

/**
 * Flags for a quiet, hermetic headless run: no sandbox (CI runs as root), no GPU, and none of the
 * background traffic (updates, sync, QUIC probes) that would reach beyond loopback.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

/**
 * Launches headless Chromium. Playwright gives every `launch` a fresh temporary profile
 * (`--user-data-dir`) and removes it on `close()`, so no state leaks between runs.
 */
export function launchChromium(options: Omit<LaunchOptions, 'executablePath'> = {}): Promise<Browser> {
  return chromium.launch({
    headless: true,
    timeout: 30_000,
    ...options,
    executablePath: chromiumPath(),
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
  });
}
