/**
 * The stages of a Dockerfile as written in infra/docker: `FROM <image> AS <name>` and the
 * instructions under it, continuation lines joined and comments dropped. Enough to check what each
 * stage runs as, its entrypoint and its environment.
 */
export interface DockerStage {
  readonly name: string;
  readonly from: string;
  /** `[keyword, arguments]`, keyword upper-case, in order. */
  readonly instructions: readonly (readonly [string, string])[];
}

export function parseDockerfile(text: string): DockerStage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') {
      continue;
    }
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending !== '') logical.push(pending.trim());
  const stages: { name: string; from: string; instructions: [string, string][] }[] = [];
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      const [, from = '', name = ''] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      stages.push({ name, from, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push([keyword.toUpperCase(), rest]);
  }
  return stages;
}

/** The arguments of each `keyword` instruction of a stage. */
export function instructionsOf(stage: DockerStage, keyword: string): string[] {
  return stage.instructions.filter(([k]) => k === keyword).map(([, args]) => args);
}

/** `ENV A=1 B=2` (the `key=value` form) of a stage, merged in order. */
export function envOf(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of instructionsOf(stage, 'ENV')) {
    for (const pair of args.split(/\s+/)) {
      const at = pair.indexOf('=');
      if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  return env;
}
