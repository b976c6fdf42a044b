import { ServerError, TemporarilyUnavailable } from '@aauth-ref/core';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from './database-unavailable.js';
import { registerErrorHandlers } from './error-handler.js';

/** Shapes seen from Prisma 7.10 + `@prisma/adapter-pg` and `pg` with PostgreSQL stopped (issue #10). */
function prismaError(code: string, kind: string): Error {
  const adapter = Object.assign(new Error(kind), { name: 'DriverAdapterError', cause: { kind } });
  return Object.assign(new Error("Can't reach database server at 127.0.0.1:5432"), {
    name: 'PrismaClientKnownRequestError',
    code,
    clientVersion: '7.10.0',
    meta: { modelName: 'Note', driverAdapterError: adapter },
  });
}
function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), {
    code,
    errno: -111,
    syscall: 'connect',
  });
}
function sqlError(code: string): Error {
  return Object.assign(new Error('terminating connection due to administrator command'), {
    code,
    severity: 'FATAL',
  });
}

describe('isDatabaseUnavailable', () => {
  it.each([
    ['Prisma P1001 (DatabaseNotReachable)', prismaError('P1001', 'DatabaseNotReachable')],
    ['Prisma P1017 (ConnectionClosed)', prismaError('P1017', 'ConnectionClosed')],
    ['Prisma P2024 (pool timeout)', Object.assign(new Error('Timed out'), { code: 'P2024' })],
    ['an unknown Prisma code with an adapter kind', prismaError('P9999', 'SocketTimeout')],
    [
      'PrismaClientInitializationError',
      Object.assign(new Error('init'), { name: 'PrismaClientInitializationError' }),
    ],
    ['pg ECONNREFUSED', socketError('ECONNREFUSED')],
    ['pg ECONNRESET', socketError('ECONNRESET')],
    ['57P01 admin_shutdown', sqlError('57P01')],
    ['57P03 cannot_connect_now', sqlError('57P03')],
    ['08006 connection_failure', sqlError('08006')],
    ['53300 too_many_connections', sqlError('53300')],
    ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
    ['pg: timeout exceeded when trying to connect', new Error('timeout exceeded when trying to connect')],
    ['wrapped as a cause', new Error('store failed', { cause: socketError('ECONNREFUSED') })],
    ['in an AggregateError', new AggregateError([socketError('ECONNREFUSED')], 'connect failed')],
  ])('%s → unavailable', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a plain Error', new Error('boom')],
    ['a message that only mentions ECONNREFUSED', new Error('ECONNREFUSED 10.0.0.5:5432 password=hunter2')],
    ['Prisma P2002 unique violation', prismaError('P2002', 'UniqueConstraintViolation')],
    ['23505 unique_violation', sqlError('23505')],
    ['a string', 'ECONNREFUSED'],
    ['undefined', undefined],
  ])('%s → not unavailable', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });

  it('survives a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(isDatabaseUnavailable(a)).toBe(false);
  });
});

describe('error handler: the database away is 503 temporarily_unavailable with Retry-After', () => {
  async function answer(thrown: unknown) {
    const app = Fastify({ logger: false });
    registerErrorHandlers(app);
    app.get('/', async () => {
      throw thrown;
    });
    const res = await app.inject({ method: 'GET', url: '/' });
    await app.close();
    return res;
  }

  it.each([
    ['a Prisma P1001', prismaError('P1001', 'DatabaseNotReachable')],
    ['a pg socket error', socketError('ECONNREFUSED')],
    ['a server_error wrapping one', new ServerError('lookup failed', { cause: sqlError('57P01') })],
  ])('%s → 503, Retry-After, fixed detail, no library message', async (_name, thrown) => {
    const res = await answer(thrown);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toEqual({
      status: 503,
      error: 'temporarily_unavailable',
      detail: new TemporarilyUnavailable().detail,
    });
    expect(res.body).not.toMatch(/5432|Prisma|ECONN|administrator/);
  });

  it('any other failure stays 500 server_error', async () => {
    const res = await answer(prismaError('P2002', 'UniqueConstraintViolation'));
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toBe('server_error');
    expect(res.headers['retry-after']).toBeUndefined();
  });
});
