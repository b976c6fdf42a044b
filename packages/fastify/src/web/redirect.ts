/**
 * Open-redirect guard for `return_to`-style parameters and callback URLs. Safe: a same-site path
 * (`/dashboard?x=1`, not `//host` or `/\host`, which browsers read as another host), or an absolute
 * `http(s)` URL whose origin is exactly one of `allowedOrigins`. Anything with control characters,
 * backslashes or credentials is refused.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
const UNSAFE_CHARACTERS = /[\u0000-\u0020\u007f-\u009f\\]/;

export function isSafeRedirect(url: string, allowedOrigins: readonly string[] = []): boolean {
  if (url.length === 0 || url.length > 2048 || UNSAFE_CHARACTERS.test(url)) return false;
  if (url.startsWith('/')) {
    if (url.startsWith('//')) return false;
    // Resolved against a placeholder host, a path must stay on it.
    try {
      return new URL(url, 'https://same.invalid').host === 'same.invalid';
    } catch {
      return false;
    }
  }
  // Only the plain absolute form: `https:host` and other spellings the URL parser repairs are refused.
  if (!url.startsWith('https://') && !url.startsWith('http://')) return false;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return false;
  if (parsed.username || parsed.password) return false;
  const origins = new Set(
    allowedOrigins.flatMap((o) => {
      try {
        return [new URL(o).origin];
      } catch {
        return [];
      }
    }),
  );
  return origins.has(parsed.origin);
}

/** `url` when it is safe, else `fallback`. */
export function toSafeRedirect(
  url: string | undefined,
  allowedOrigins: readonly string[],
  fallback: string,
): string {
  return url !== undefined && isSafeRedirect(url, allowedOrigins) ? url : fallback;
}
