/**
 * Fault injection (issue #10, item 3): PostgreSQL stopped for 30 s under load. Not in the default
 * suite: `pnpm --filter @aauth-ref/conformance fault:pg-stop` (`PG_STOP_SECONDS` changes the hold).
 *
 * A cluster of its own (`initdb` in a temp folder, free port — never the shared server on 5432), the
 * three servers as processes on it, four agents driving the three-party mix, `/readyz` watched every
 * 250 ms. Before the stop: a PS consent left pending, and a held invocation at the resource
 * (§Deferred Delivery: `DELETE` with the person token, 202) whose auth token the agent already has.
 * Then `pg_ctl stop -m fast`, hold, start. Checked: during the outage every answer is a success or
 * `503` with `Retry-After` (never another 5xx, never a hang past the bound), `/readyz` false during
 * and true after without a restart, the pending consent and the held invocation complete afterwards,
 * the held `DELETE` runs once.
 */
import { openDatabase } from '@aauth-ref/db';
import {
  approveAtPs,
  createFlowAgent,
  jsonOf,
  pendingOf,
  pollUntilDone,
  resourceTokenOf,
  send,
  waitRetryAfter,
} from '../src/faults/flow.js';
import {
  countBy,
  isSuccess,
  mixCycle,
  percentile,
  prepareLoadAgents,
  Recorder,
  runOperation,
  type Sample,
} from '../src/faults/load.js';
import { runFaultScenario, say, sleep } from '../src/faults/scenario.js';
import { isReady, loadavg } from '../src/faults/stack.js';

const HOLD_MS = Number(process.env.PG_STOP_SECONDS ?? '30') * 1000;
/** A request without an answer within this bound counts as a hang. */
const HANG_MS = 15_000;
const WORKERS = 4;

await runFaultScenario('pg-stop', async ({ cluster, databases, stack, ap }) => {
  const { ps, rs } = stack;
  const targets = { ps: ps.issuer, rs: rs.issuer };
  say('servers ready; preparing agents (consents given by alice)');
  const agents = await prepareLoadAgents(ap, targets, WORKERS + 1);
  const heldAgent = agents.pop()!;

  // Before the stop (1): a person-token consent left pending at the PS.
  const waiting = createFlowAgent(ap, ps.issuer);
  const pendingConsent = pendingOf(
    await send(`${ps.issuer}/person`, waiting, {
      method: 'POST',
      body: { resource: rs.issuer, capabilities: ['interaction'] },
    }),
    ps.issuer,
  );
  // Before the stop (2): a held DELETE at the resource and the auth token it waits for.
  const notes = `${rs.issuer}/api/notes`;
  const created = await send(notes, heldAgent.agent, {
    method: 'POST',
    token: heldAgent.writeToken,
    body: { text: 'held across the outage' },
  });
  const noteId = String((jsonOf(created).note as { id: string }).id);
  const held = await send(`${notes}/${noteId}`, heldAgent.agent, {
    method: 'DELETE',
    token: heldAgent.personToken,
  });
  if (held.status !== 202) throw new Error(`DELETE was not held: ${held.status} ${held.body}`);
  const heldUrl = new URL(held.headers.get('location')!, rs.issuer).href;
  // §Per-Call Proposals: the held call's resource token proposes this one call; alice approves it.
  const heldPending = pendingOf(
    await send(`${ps.issuer}/token`, heldAgent.agent, {
      method: 'POST',
      body: { resource_token: resourceTokenOf(held), capabilities: ['interaction'] },
    }),
    ps.issuer,
  );
  if ((await approveAtPs(ps.issuer, heldPending.code!)) !== 200) throw new Error('per-call consent refused');
  const heldToken = String(jsonOf((await pollUntilDone(heldPending.url, heldAgent.agent)).final).auth_token);

  // Readiness watch and load.
  const readiness: { at: number; server: string; ready: boolean }[] = [];
  let running = true;
  const watch = (async () => {
    while (running) {
      const at = Date.now();
      const servers = stack?.all ?? [];
      const states = await Promise.all(servers.map((server) => isReady(server)));
      for (const [i, server] of servers.entries())
        readiness.push({ at, server: server.app, ready: states[i]! });
      await sleep(250);
    }
  })();
  const recorder = new Recorder();
  const workers = agents.map(async (load) => {
    const ops = mixCycle();
    while (running) {
      const before = recorder.samples.length;
      await runOperation(ops.next().value!, load, targets, recorder, HANG_MS);
      // A refused step (503 during the outage) backs off briefly instead of spinning.
      if (recorder.samples.slice(before).some((s) => !isSuccess(s))) await sleep(250);
    }
  });

  await sleep(10_000);
  const stoppedAt = Date.now();
  say('pg_ctl stop -m fast');
  await cluster.stop();
  const stopDone = Date.now();
  // During the outage: the held invocation presented with its auth token.
  await sleep(HOLD_MS / 2);
  const heldDuring = await send(heldUrl, heldAgent.agent, { token: heldToken, timeoutMs: HANG_MS }).catch(
    (err: Error) => ({ status: 0, headers: new Headers(), body: err.message }),
  );
  await sleep(stoppedAt + HOLD_MS - Date.now());
  say('pg_ctl start');
  await cluster.start();
  const startedAt = Date.now();
  // Until every server is ready again, then 15 s more of load.
  let allReadyAt: number | undefined;
  while (allReadyAt === undefined && Date.now() - startedAt < 120_000) {
    await sleep(250);
    const states = await Promise.all(stack.all.map((server) => isReady(server)));
    if (states.every(Boolean)) allReadyAt = Date.now();
  }
  await sleep(15_000);
  running = false;
  await Promise.all([watch, ...workers]);

  // After: the pending consent and the held invocation complete.
  const approved = await approveAtPs(ps.issuer, pendingConsent.code!);
  const consentPoll = await pollUntilDone(pendingConsent.url, waiting);
  const heldAfter = await send(heldUrl, heldAgent.agent, { token: heldToken });
  await waitRetryAfter(heldAfter);
  const heldAgain = await send(heldUrl, heldAgent.agent, { token: heldToken });
  const rsDb = await openDatabase({ url: databases['resource-server'], poolSize: 1 });
  const heldRows = await rsDb.exec<{ status: string; result: unknown; auth_jti: string | null }>(
    'SELECT status, result, auth_jti FROM pending_request WHERE kind = $1',
    ['invocation'],
  );
  const noteRows = await rsDb.exec<{ n: number }>('SELECT count(*)::int AS n FROM note WHERE id = $1', [
    noteId,
  ]);
  await rsDb.close();

  // Report.
  const phase = (s: Sample) => (s.at < stoppedAt ? 'before' : s.at < startedAt ? 'during' : 'after');
  const byPhase = (name: string) => recorder.samples.filter((s) => phase(s) === name);
  const describe = (samples: readonly Sample[]) =>
    countBy(samples, (s) =>
      s.status === 0
        ? `no answer (${s.failure})`
        : `${s.server} ${s.status}${s.error ? ` ${s.error}` : ''}${s.status === 503 ? (s.retryAfter ? ` Retry-After: ${s.retryAfter}` : ' NO Retry-After') : ''}`,
    );
  const violations: string[] = [];
  for (const s of recorder.samples) {
    if (s.status === 0)
      violations.push(`${phase(s)} ${s.op}: no answer (${s.failure}) after ${Math.round(s.ms)} ms`);
    else if (
      s.status >= 500 &&
      (s.status !== 503 || s.retryAfter === null || s.error !== 'temporarily_unavailable')
    )
      violations.push(
        `${phase(s)} ${s.op} ${s.server}: ${s.status} ${s.error ?? ''} Retry-After=${s.retryAfter}`,
      );
    else if (
      phase(s) !== 'during' &&
      !isSuccess(s) &&
      s.at - startedAt > 0 &&
      allReadyAt !== undefined &&
      s.at > allReadyAt
    )
      violations.push(`after recovery ${s.op} ${s.server}: ${s.status} ${s.error ?? ''}`);
  }
  const during = byPhase('during');
  const maxDuringMs = Math.max(0, ...during.map((s) => s.ms));
  const readyDuring = readiness.filter((r) => r.at > stopDone + 1_000 && r.at < startedAt);
  if (readyDuring.some((r) => r.ready)) violations.push('/readyz answered 200 during the outage');
  if (allReadyAt === undefined)
    violations.push('/readyz not 200 on every server within 120 s of the restart');
  const firstSuccess = Object.fromEntries(
    ['person-token', 'auth-token', 'resource-read', 'resource-write'].map((op) => {
      const first = recorder.samples.find((s) => s.op === op && s.at >= startedAt && isSuccess(s));
      return [op, first ? first.at + first.ms - startedAt : undefined];
    }),
  );
  if (heldDuring.status !== 503)
    violations.push(`held invocation polled during the outage: ${heldDuring.status}`);
  if (approved !== 200 || consentPoll.final.status !== 200)
    violations.push(`pending consent after recovery: approve ${approved}, poll ${consentPoll.final.status}`);
  if (heldAfter.status !== 200 || heldAgain.status !== 200 || heldAfter.body !== heldAgain.body)
    violations.push(
      `held invocation after recovery: ${heldAfter.status} ${heldAfter.body} / ${heldAgain.status}`,
    );
  if (heldRows.length !== 1 || noteRows[0]?.n !== 0)
    violations.push(`held rows ${JSON.stringify(heldRows)}, note rows ${JSON.stringify(noteRows)}`);

  const result = {
    hold_seconds: HOLD_MS / 1000,
    stop_took_ms: stopDone - stoppedAt,
    load_average: loadavg().map((x) => Math.round(x * 100) / 100),
    requests: { before: byPhase('before').length, during: during.length, after: byPhase('after').length },
    statuses_before: describe(byPhase('before')),
    statuses_during: describe(during),
    statuses_after: describe(byPhase('after')),
    slowest_answer_during_ms: Math.round(maxDuringMs),
    p99_during_ms: Math.round(
      percentile(
        during.map((s) => s.ms).sort((a, b) => a - b),
        99,
      ),
    ),
    readyz_false_during: readyDuring.length > 0 && readyDuring.every((r) => !r.ready),
    readyz_all_true_after_start_ms: allReadyAt === undefined ? null : allReadyAt - startedAt,
    first_success_after_start_ms: firstSuccess,
    held_invocation: {
      during: `${heldDuring.status} ${jsonOf(heldDuring as never).error ?? ''}`,
      after: `${heldAfter.status} ${heldAfter.body}`,
      again: `${heldAgain.status} ${heldAgain.body}`,
      rows: heldRows.map((r) => ({
        status: r.status,
        has_result: r.result !== null,
        auth_jti_set: r.auth_jti !== null,
      })),
      note_rows_left: noteRows[0]?.n,
    },
    pending_consent: {
      approve: approved,
      poll: consentPoll.final.status,
      has_person_token: typeof jsonOf(consentPoll.final).person_token === 'string',
    },
    violations,
  };
  return { result, failed: violations.length > 0 };
});
