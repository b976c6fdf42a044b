/**
 * Whether an error means the database cannot be reached right now — PostgreSQL stopped, restarting,
 * out of connections, or a connection cut mid-query — as opposed to a bug or bad data. Such a failure
 * is answered `503 temporarily_unavailable` with `Retry-After` (issue #10: never a `500` while the
 * database is away; the client retries and the server recovers on its own).
 *
 * Recognised by shape, not by class (this package does not depend on Prisma or pg): Prisma's
 * connection error codes and its driver-adapter error kinds (`@prisma/adapter-pg`), PostgreSQL
 * SQLSTATE classes for connection exceptions and shutdown, Node's socket error codes, and the
 * messages `pg` throws without a code when a connection ends.
 */

/** Prisma: P1001 can't reach, P1002 timed out, P1008 operation timed out, P1017 connection closed, P2024 pool timeout. */
const PRISMA_CODES: ReadonlySet<string> = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);

/** `@prisma/adapter-pg` DriverAdapterError causes. */
const ADAPTER_KINDS: ReadonlySet<string> = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);

const SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections. */
const SQLSTATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '53300']);

const PG_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Cannot use a pool after calling end on the pool',
];

function matches(value: Record<string, unknown>): boolean {
  const { code, kind, name, message } = value;
  if (typeof code === 'string') {
    if (PRISMA_CODES.has(code) || SOCKET_CODES.has(code) || SQLSTATES.has(code)) return true;
    // SQLSTATE class 08: connection exception.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (typeof kind === 'string') {
    if (ADAPTER_KINDS.has(kind)) return true;
    if (kind === 'postgres' && typeof value.code === 'string' && SQLSTATES.has(value.code)) return true;
  }
  if (name === 'PrismaClientInitializationError') return true;
  if (typeof message === 'string' && PG_MESSAGES.some((text) => message.startsWith(text))) return true;
  return false;
}

export function isDatabaseUnavailable(error: unknown): boolean {
  const queue: unknown[] = [error];
  const seen = new Set<unknown>();
  while (queue.length > 0 && seen.size < 16) {
    const current = queue.shift();
    if (typeof current !== 'object' || current === null || seen.has(current)) continue;
    seen.add(current);
    const value = current as Record<string, unknown>;
    if (matches(value)) return true;
    queue.push(value.cause);
    // Prisma keeps the adapter's error under `meta.driverAdapterError`, its kind under `.cause`.
    const meta = value.meta;
    if (typeof meta === 'object' && meta !== null)
      queue.push((meta as Record<string, unknown>).driverAdapterError);
    if (Array.isArray(value.errors)) queue.push(...value.errors);
  }
  return false;
}
