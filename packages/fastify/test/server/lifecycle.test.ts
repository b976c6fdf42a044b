import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { ConfigError, createLoggerOptions, reportStartupFailure, runServer } from '../../src/index.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { lines, stream };
}

const CONFIG = { HOST: '127.0.0.1', PORT: 0, ISSUER: 'http://localhost:3001', AAUTH_DEV: true };

function get(address: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${address}${path}`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('runServer', () => {
  it('listens, warns loudly in dev mode, and shuts down gracefully: in-flight finishes, new refused, onClose, exit 0', async () => {
    const { lines, stream } = capture();
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let started!: () => void;
    const inFlight = new Promise<void>((r) => {
      started = r;
    });
    const dbClosed = vi.fn(async () => undefined);
    const exit = vi.fn();
    const server = await runServer({
      name: 'person-server',
      config: CONFIG,
      signals: [],
      exit,
      handleProcessErrors: false,
      onClose: dbClosed,
      build: async () => {
        const app = Fastify({ logger: createLoggerOptions('info', { stream }) });
        app.get('/slow', async () => {
          started();
          await released;
          return { done: true };
        });
        return app;
      },
    });
    expect(server.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const log = lines.join('');
    expect(log).toContain(
      'DEVELOPMENT MODE: http identifiers and loopback egress are accepted — never expose this',
    );
    expect(log).toContain('"event":"server.dev_mode"');
    expect(log).toContain('"event":"server.started"');

    const slow = get(server.address, '/slow');
    await inFlight;
    const stopping = server.shutdown('SIGTERM');
    // A second signal joins the same shutdown.
    expect(server.shutdown('SIGINT')).toBe(stopping);
    await new Promise((r) => setTimeout(r, 50));
    await expect(get(server.address, '/slow')).rejects.toThrow(/ECONNREFUSED/);
    expect(dbClosed).not.toHaveBeenCalled();
    release();
    await expect(slow).resolves.toEqual({ status: 200, body: '{"done":true}' });
    await stopping;
    expect(dbClosed).toHaveBeenCalledTimes(1);
    expect(exit).toHaveBeenCalledWith(0);
    expect(lines.join('')).toContain('"event":"server.stopped"');
  });

  it('forces exit 1 when shutdown outlasts the grace period', async () => {
    const { lines, stream } = capture();
    const exit = vi.fn();
    let started!: () => void;
    const inFlight = new Promise<void>((r) => {
      started = r;
    });
    const server = await runServer({
      name: 'auth-server',
      config: { ...CONFIG, AAUTH_DEV: false },
      signals: [],
      exit,
      graceMs: 100,
      handleProcessErrors: false,
      build: async () => {
        const app = Fastify({ logger: createLoggerOptions('info', { stream }) });
        app.get('/hang', async () => {
          started();
          return new Promise(() => undefined);
        });
        return app;
      },
    });
    expect(lines.join('')).not.toContain('DEVELOPMENT MODE');
    get(server.address, '/hang').catch(() => undefined);
    await inFlight;
    await server.shutdown('SIGTERM');
    expect(exit).toHaveBeenCalledWith(1);
    expect(lines.join('')).toContain('"event":"server.forced_exit"');
    // Let the hung socket go so the test process ends cleanly.
    server.app.server.closeAllConnections();
  });

  it('installs signal and error handlers and removes them on shutdown', async () => {
    const before = process.listenerCount('SIGTERM');
    const beforeErrors = process.listenerCount('unhandledRejection');
    const exit = vi.fn();
    const server = await runServer({
      name: 'resource-server',
      config: CONFIG,
      exit,
      build: async () => Fastify({ logger: false }),
    });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    expect(process.listenerCount('unhandledRejection')).toBe(beforeErrors + 1);
    await server.shutdown();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(process.listenerCount('unhandledRejection')).toBe(beforeErrors);
    expect(exit).toHaveBeenCalledWith(0);
  });

  it('exits 1 when closing fails', async () => {
    const exit = vi.fn();
    const server = await runServer({
      name: 'x',
      config: CONFIG,
      signals: [],
      exit,
      handleProcessErrors: false,
      onClose: async () => {
        throw new Error('database gone');
      },
      build: async () => Fastify({ logger: false }),
    });
    await server.shutdown();
    expect(exit).toHaveBeenCalledWith(1);
  });
});

describe('reportStartupFailure', () => {
  it('prints a ConfigError as its message alone, anything else with its stack', () => {
    const out: string[] = [];
    const previous = process.exitCode;
    reportStartupFailure(new ConfigError('Invalid configuration for x', ['PORT: bad']), (t) => out.push(t));
    expect(out[0]).toBe('Invalid configuration for x:\n  - PORT: bad\n');
    reportStartupFailure(new Error('boom'), (t) => out.push(t));
    expect(out[1]).toMatch(/^Start-up failed: Error: boom\n\s+at /);
    expect(process.exitCode).toBe(1);
    process.exitCode = previous;
  });
});
