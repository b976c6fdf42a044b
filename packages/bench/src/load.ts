import autocannon from 'autocannon';
import type { ScenarioRun } from './report.js';

/**
 * `seconds` of `POST path` at `connections` (pipelining 1), every request built — and signed, with a
 * fresh `created` — by `next` as autocannon sends it. The generator's own CPU share is reported so a
 * run limited by the generator rather than the server shows.
 */
export async function runSignedPostLoad(options: {
  readonly port: number;
  readonly path: string;
  readonly seconds: number;
  readonly connections: number;
  readonly next: () => { body: string; headers: Record<string, string> };
}): Promise<ScenarioRun> {
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${options.port}`,
        connections: options.connections,
        pipelining: 1,
        duration: options.seconds,
        requests: [
          {
            method: 'POST',
            path: options.path,
            setupRequest: (req) => ({ ...req, method: 'POST', ...options.next() }),
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
      if (status >= 200 && status < 300) latencies.push(responseTime);
    });
  });
  const elapsedUs = Number(process.hrtime.bigint() - started) / 1000;
  const used = process.cpuUsage(cpuBefore);
  return { result, latencies, generatorCpu: (used.user + used.system) / elapsedUs };
}
