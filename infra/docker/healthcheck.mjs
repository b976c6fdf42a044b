// Container HEALTHCHECK: healthy when /readyz answers 200 (database reachable, migrations applied).
// Node's own fetch, so the slim image needs no curl.
const port = process.env.PORT;
try {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2500) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
