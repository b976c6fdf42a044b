import { Session } from 'node:inspector/promises';

/**
 * A V8 CPU profile of this process over one measured run (the inspector's `Profiler` domain, the same
 * data `node --cpu-prof` writes), summarised as self time per function and per package.
 */

/** The parts of a `Profiler.Profile` the summary reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly hitCount?: number;
  }[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface ProfileEntry {
  readonly name: string;
  /** Share of all samples, 0..1. */
  readonly share: number;
}

export interface ProfileSummary {
  /** Wall time profiled, ms. */
  readonly durationMs: number;
  /** Top functions by self time. */
  readonly functions: readonly ProfileEntry[];
  /** Self time per package (or `(idle)`, `(gc)`, `node:*`, `(native)`). */
  readonly packages: readonly ProfileEntry[];
}

/** Where a frame's code comes from: the workspace package, the npm package, a Node built-in, or V8. */
export function packageOf(url: string, functionName: string): string {
  if (functionName === '(idle)' || functionName === '(garbage collector)' || functionName === '(program)') {
    return functionName === '(garbage collector)' ? '(gc)' : functionName;
  }
  if (url === '') return '(native)';
  if (url.startsWith('wasm://')) return '(wasm: PGlite, Prisma query compiler)';
  if (url.startsWith('node:')) return 'node:internal';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  const workspace = /\/(apps|packages)\/([^/]+)\//.exec(url);
  if (workspace) return `@aauth-ref/${workspace[2]}`;
  return url;
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const workspace = /\/((?:apps|packages)\/.+)$/.exec(url);
  return workspace?.[1] ?? url;
}

/** Self time per function and per package, as shares of all samples, largest first. */
export function summariseProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const hits = new Map<number, number>();
  if (profile.samples && profile.samples.length > 0) {
    for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  } else {
    for (const node of profile.nodes) hits.set(node.id, node.hitCount ?? 0);
  }
  const total = [...hits.values()].reduce((sum, n) => sum + n, 0) || 1;
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const node of profile.nodes) {
    const count = hits.get(node.id) ?? 0;
    if (count === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name =
      url === ''
        ? functionName || '(anonymous)'
        : `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + count);
    const pkg = packageOf(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + count);
  }
  const ranked = (map: Map<string, number>, limit: number): ProfileEntry[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, count]) => ({ name, share: count / total }));
  return {
    durationMs: (profile.endTime - profile.startTime) / 1000,
    functions: ranked(byFunction, top),
    packages: ranked(byPackage, top),
  };
}

/** Starts profiling this process; the returned function stops it and summarises. */
export async function startProfiling(samplingIntervalUs = 250): Promise<() => Promise<ProfileSummary>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    return summariseProfile(profile as unknown as CpuProfile);
  };
}

export function formatProfile(title: string, summary: ProfileSummary, top = 12): string {
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)} %`;
  const lines = [`${title} (CPU profile, self time, ${(summary.durationMs / 1000).toFixed(1)} s):`];
  lines.push('  by package:');
  for (const entry of summary.packages.slice(0, top)) lines.push(`    ${pct(entry.share)}  ${entry.name}`);
  lines.push('  top functions:');
  for (const entry of summary.functions.slice(0, top)) lines.push(`    ${pct(entry.share)}  ${entry.name}`);
  return lines.join('\n');
}
