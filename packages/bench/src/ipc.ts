import type { ChildProcess } from 'node:child_process';

/** Sends `message` to the child and resolves with the first reply of type `answer` that `pick` accepts. */
export function ask<T>(
  child: ChildProcess,
  message: Record<string, unknown>,
  answer: string,
  pick: (reply: Record<string, unknown>) => T | undefined,
): Promise<T> {
  return new Promise<T>((resolve) => {
    const onMessage = (received: unknown) => {
      const reply = (received ?? {}) as Record<string, unknown>;
      if (reply.type !== answer) return;
      const value = pick(reply);
      if (value === undefined) return;
      child.off('message', onMessage);
      resolve(value);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/** Asks the child for a CPU profile summary over `run`. */
export async function profileChild<S>(child: ChildProcess, run: () => Promise<unknown>): Promise<S> {
  await ask(child, { type: 'profile', action: 'start' }, 'profile', (m) => (m.started ? true : undefined));
  await run();
  return ask(child, { type: 'profile', action: 'stop' }, 'profile', (m) => m.summary as S | undefined);
}
