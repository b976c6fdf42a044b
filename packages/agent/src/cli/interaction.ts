import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline/promises';
import { renderUnicodeCompact } from 'uqr';
import type { ClarificationAnswer, ClarificationPrompt, InteractionPrompt } from '../deferred.js';

/** §Relaying Through the Person Server: the user-facing URL is `{url}?code={code}`. */
export function interactionLink(prompt: InteractionPrompt): string {
  return `${prompt.url}?code=${encodeURIComponent(prompt.code)}`;
}

/** The link as a QR code of Unicode half blocks (two modules per character row), for a terminal. */
export function renderQrCode(link: string): string {
  return renderUnicodeCompact(link, { border: 1 });
}

/**
 * Opens a URL in the person's browser with the OS opener (`open` on macOS, `start` on Windows,
 * `xdg-open` elsewhere), detached. Only ever called for `--open`. Resolves false when no opener ran.
 */
export function openInBrowser(url: string): Promise<boolean> {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  return new Promise((resolve) => {
    const child = spawn(command, args as string[], { detached: true, stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

/** Reads one line from the terminal. */
export async function askOnTerminal(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/**
 * §Agent Response to Clarification from the person at the terminal: the answer is posted as a
 * `clarification_response`; an empty line cancels the request.
 */
export async function answerClarification(
  prompt: ClarificationPrompt,
  ask: (question: string) => Promise<string>,
  err: (text: string) => void,
): Promise<ClarificationAnswer> {
  err(`\nThe person asks: ${prompt.clarification}\n`);
  if (prompt.options && prompt.options.length > 0) err(`  options: ${prompt.options.join(' | ')}\n`);
  if (prompt.timeout !== undefined) err(`  (answer within ${prompt.timeout}s)\n`);
  const answer = (await ask('Answer (empty line cancels): ')).trim();
  return answer === ''
    ? { action: 'cancel' }
    : { action: 'clarification_response', clarification_response: answer };
}
