/**
 * A person at the servers' own HTML pages, over plain HTTP: what a browser does when someone signs in
 * and clicks a button on a server-rendered form — follow redirects, keep cookies, post the form's
 * fields (its hidden CSRF token included) with the clicked button's `name=value`. No JavaScript runs
 * on these pages, so this is the whole of what the person's browser contributes; scenarios whose point
 * is the click itself in a real browser use Chromium instead (three-party.test.ts).
 */

export interface Page {
  /** The URL after redirects. */
  readonly url: URL;
  readonly status: number;
  readonly html: string;
}

/** Picks a form by its accessible name and its fields (e.g. the hidden `jti` of a Revoke form). */
export type FormMatcher = (form: {
  readonly label: string | undefined;
  readonly fields: ReadonlyMap<string, string>;
}) => boolean;

function decodeEntities(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match?.[1] === undefined ? undefined : decodeEntities(match[1]);
}

interface ParsedForm {
  readonly action: string;
  readonly label: string | undefined;
  readonly fields: [string, string][];
  readonly buttons: { label: string; name?: string; value?: string }[];
}

function parseForms(html: string): ParsedForm[] {
  const forms: ParsedForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const [, open = '', inner = ''] = match;
    if ((attribute(open, 'method') ?? 'get').toLowerCase() !== 'post') continue;
    const fields: [string, string][] = [];
    for (const input of inner.matchAll(/<input\b[^>]*>/g)) {
      const tag = input[0];
      const name = attribute(tag, 'name');
      if (name === undefined) continue;
      const type = attribute(tag, 'type') ?? 'text';
      if ((type === 'checkbox' || type === 'radio') && !/\schecked\b/.test(tag)) continue;
      fields.push([name, attribute(tag, 'value') ?? '']);
    }
    for (const textarea of inner.matchAll(/<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/g)) {
      const name = attribute(textarea[1] ?? '', 'name');
      // A leading newline right after the start tag is not part of the value (HTML parsing rules).
      if (name !== undefined) fields.push([name, decodeEntities((textarea[2] ?? '').replace(/^\r?\n/, ''))]);
    }
    const buttons = [...inner.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/g)].map((b) => {
      const name = attribute(b[1] ?? '', 'name');
      const value = attribute(b[1] ?? '', 'value');
      return {
        label: decodeEntities((b[2] ?? '').replace(/<[^>]*>/g, '').trim()),
        ...(name === undefined ? {} : { name }),
        ...(value === undefined ? {} : { value }),
      };
    });
    forms.push({
      action: attribute(open, 'action') ?? '',
      label: attribute(open, 'aria-label'),
      fields,
      buttons,
    });
  }
  return forms;
}

/** The labels of the submit buttons of `page`'s POST forms. */
export function buttonsOf(page: Page): string[] {
  return parseForms(page.html).flatMap((f) => f.buttons.map((b) => b.label));
}

/** The links of `page` (`<a href>`), with their text and their URL resolved against the page. */
export function linksOf(page: Page): { label: string; href: URL }[] {
  return [...page.html.matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a>/g)].flatMap((a) => {
    const href = attribute(a[1] ?? '', 'href');
    if (href === undefined) return [];
    const label = decodeEntities(
      (a[2] ?? '')
        .replace(/<[^>]*>/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    );
    return [{ label, href: new URL(href, page.url) }];
  });
}

export class PersonBrowser {
  /** Cookies by name: the servers share a host (127.0.0.1) and name their cookies apart. */
  private readonly cookies = new Map<string, string>();

  private cookieHeader(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private keepCookies(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = /max-age=0\b/i.test(line) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private async request(url: URL, init: { method: string; body?: URLSearchParams }): Promise<Page> {
    let target = url;
    let method = init.method;
    let body = init.body;
    for (let hop = 0; hop < 10; hop++) {
      const headers: Record<string, string> = {};
      const cookie = this.cookieHeader();
      if (cookie !== undefined) headers.cookie = cookie;
      if (body !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers.origin = target.origin;
      }
      const response = await fetch(target, {
        method,
        headers,
        redirect: 'manual',
        ...(body === undefined ? {} : { body: body.toString() }),
      });
      this.keepCookies(response);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel();
        target = new URL(location, target);
        // 303 (and, as browsers do, 301/302 after a POST) continue as a GET.
        if (response.status !== 307 && response.status !== 308) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      return { url: target, status: response.status, html: await response.text() };
    }
    throw new Error(`too many redirects from ${url.href}`);
  }

  /** Opens a page (GET), following redirects. */
  open(url: string | URL): Promise<Page> {
    return this.request(new URL(url), { method: 'GET' });
  }

  /**
   * Submits the POST form of `page` that holds the button labelled `label` (and, with `form`, whose
   * accessible name is `form`, or that `form` accepts): its fields as they are, `fill` overriding or adding named fields (what
   * the person typed), plus the button's own value.
   */
  submit(
    page: Page,
    label: string,
    fill: Readonly<Record<string, string>> = {},
    form?: string | RegExp | FormMatcher,
  ): Promise<Page> {
    const named = (parsed: ParsedForm) => {
      if (form === undefined) return true;
      if (typeof form === 'function') return form({ label: parsed.label, fields: new Map(parsed.fields) });
      if (parsed.label === undefined) return false;
      return typeof form === 'string' ? parsed.label === form : form.test(parsed.label);
    };
    for (const parsed of parseForms(page.html).filter(named)) {
      const button = parsed.buttons.find((b) => b.label === label);
      if (button === undefined) continue;
      const params = new URLSearchParams();
      const typed = new Set(Object.keys(fill));
      for (const [name, value] of parsed.fields) if (!typed.has(name)) params.append(name, value);
      for (const [name, value] of Object.entries(fill)) params.append(name, value);
      if (button.name !== undefined) params.append(button.name, button.value ?? '');
      return this.request(new URL(parsed.action || page.url.href, page.url), {
        method: 'POST',
        body: params,
      });
    }
    const labels = parseForms(page.html).flatMap((f) =>
      f.buttons.map((b) => `${b.label} (${f.label ?? 'form'})`),
    );
    throw new Error(`no form with a "${label}" button on ${page.url.href} (buttons: ${labels.join(', ')})`);
  }

  /**
   * Signs out at `origin` with the page's own Sign out button (a person who is done leaves no live
   * session behind: the PS relays interactions to a person signed in there, §Relaying Through the
   * Person Server).
   */
  async signOut(origin: string, from = '/dashboard'): Promise<void> {
    const page = await this.open(new URL(from, origin));
    if (page.url.pathname === '/signin') return;
    // The PS says "Sign out"; the auth server names who is signed in ("Sign out carol").
    const label = parseForms(page.html)
      .flatMap((f) => f.buttons.map((b) => b.label))
      .find((l) => l === 'Sign out' || l.startsWith('Sign out '));
    if (label !== undefined) await this.submit(page, label);
  }

  /** Opens `url` and, when the server sends the person to its sign-in page, signs in there first. */
  async openSignedIn(url: string | URL, account: { username: string; password: string }): Promise<Page> {
    const page = await this.open(url);
    if (page.url.pathname !== '/signin') return page;
    const after = await this.submit(page, 'Sign in', {
      username: account.username,
      password: account.password,
    });
    if (after.url.pathname === '/signin') throw new Error(`sign-in refused at ${page.url.origin}`);
    return after;
  }
}

/** The visible text of an HTML fragment, whitespace collapsed (for assertions on what a page says). */
export function visibleText(html: string): string {
  return decodeEntities(
    html
      .replace(/<(script|style)\b[\s\S]*?<\/\1>/g, ' ')
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
  );
}
