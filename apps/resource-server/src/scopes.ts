/**
 * The demo's resource scopes (§Scopes) and the notebooks a person holds (§Account Binding). Every
 * scope a resource token carries is one of the configured `scope_descriptions`.
 */

export const NOTES_READ = 'notes.read';
export const NOTES_WRITE = 'notes.write';

/** Scopes the notes API enforces: the configuration must keep describing them. */
export const REQUIRED_SCOPES: readonly string[] = [NOTES_READ, NOTES_WRITE];

/** Default `scope_descriptions` (Markdown, §Resource Metadata). */
export const DEMO_SCOPES: Readonly<Record<string, string>> = Object.freeze({
  [NOTES_READ]: 'Read the notes in your notebooks',
  [NOTES_WRITE]: 'Add notes to your notebooks',
});

/**
 * Every person has the same two notebooks; `account` names one of them (§Account Binding) and its
 * absence means `personal`.
 */
export const NOTEBOOKS: readonly string[] = ['personal', 'work'];
export const DEFAULT_NOTEBOOK = 'personal';

/** Splits a space-separated `scope` value (RFC 6749 §3.3) into its distinct values, in order. */
export function splitScope(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  return [...new Set(scope.split(' ').filter((value) => value.length > 0))];
}

/** Whether `granted` (a `scope` claim) includes every value of `required`. */
export function hasScopes(granted: string | undefined, required: readonly string[]): boolean {
  if (granted === undefined) return required.length === 0;
  // On every authorized request: a few values, so a list beats building a Set.
  const values = granted.split(' ');
  return required.every((scope) => scope.length > 0 && values.includes(scope));
}
