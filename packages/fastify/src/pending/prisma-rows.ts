import type { PendingCore, PendingCoreStore } from './engine.js';

/**
 * The engine's half of a pending store over a Prisma `pendingRequest` delegate. Each server's table
 * has the same columns for it (`id`, `interaction_code`, `status`, `code_consumed_at`,
 * `last_polled_at`, `terminal_at`, `callback_url`) and names the person who holds the interaction its
 * own way (`holderColumn`). Every transition is a conditional update, so it happens once.
 */

/** The part of a generated Prisma delegate these operations call. */
export interface PendingRowDelegate<Row> {
  findUnique(args: { where: { id: string } | { interactionCode: string } }): PromiseLike<Row | null>;
  updateMany(args: {
    where: Readonly<Record<string, unknown>>;
    data: Readonly<Record<string, unknown>>;
  }): PromiseLike<{ count: number }>;
}

export function createPendingRowStore<Row, R extends PendingCore>(
  delegate: PendingRowDelegate<Row>,
  toRecord: (row: Row) => R,
  holderColumn: string,
): PendingCoreStore<R> {
  return {
    async find(id) {
      const row = await delegate.findUnique({ where: { id } });
      return row ? toRecord(row) : undefined;
    },
    async findByCode(normalizedCode) {
      const row = await delegate.findUnique({ where: { interactionCode: normalizedCode } });
      return row ? toRecord(row) : undefined;
    },
    async markPolled(id, at) {
      await delegate.updateMany({ where: { id }, data: { lastPolledAt: at } });
    },
    async finish(id, at, status) {
      const { count } = await delegate.updateMany({
        where: { id, terminalAt: null },
        data: { terminalAt: at, ...(status === undefined ? {} : { status }) },
      });
      return count === 1;
    },
    async consumeCode(id, holderId, at, callbackUrl) {
      const { count } = await delegate.updateMany({
        where: { id, status: 'pending', codeConsumedAt: null, terminalAt: null },
        data: { status: 'interacting', codeConsumedAt: at, [holderColumn]: holderId, callbackUrl },
      });
      return count === 1;
    },
  };
}
