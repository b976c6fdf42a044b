/**
 * The site blocks of a Caddyfile as written in infra/compose: `host {` … `reverse_proxy upstream` …
 * `}` at the top level. Enough to check that each public name reaches the right server port.
 */
export interface CaddySite {
  readonly host: string;
  readonly tlsInternal: boolean;
  readonly upstreams: readonly string[];
}

export function parseCaddySites(text: string): CaddySite[] {
  const sites: CaddySite[] = [];
  let current: { host: string; tlsInternal: boolean; upstreams: string[] } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const open = /^([a-z0-9.-]+)\s*\{$/.exec(line);
    if (open && current === undefined && raw.startsWith(open[1] ?? '')) {
      current = { host: open[1] ?? '', tlsInternal: false, upstreams: [] };
      continue;
    }
    if (current === undefined) continue;
    if (line === '}' && !raw.startsWith('\t') && !raw.startsWith(' ')) {
      sites.push(current);
      current = undefined;
      continue;
    }
    if (line === 'tls internal') current.tlsInternal = true;
    const proxy = /^reverse_proxy\s+(.+)$/.exec(line);
    if (proxy) current.upstreams.push(...(proxy[1] ?? '').split(/\s+/));
  }
  return sites;
}
