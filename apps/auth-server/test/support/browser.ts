import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/** A minimal browser over `app.inject`: a cookie jar and the CSRF token of the last page. */
export interface TestBrowser {
  get(url: string): Promise<LightMyRequestResponse>;
  /** Posts a form; the CSRF token of the last page is added unless `csrf: false`. */
  post(
    url: string,
    form: Record<string, string>,
    options?: { csrf?: boolean },
  ): Promise<LightMyRequestResponse>;
  signIn(username: string, password: string): Promise<void>;
}

export function createBrowser(app: FastifyInstance): TestBrowser {
  const jar = new Map<string, string>();
  let csrf = '';

  const remember = (res: LightMyRequestResponse) => {
    const set = res.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '') jar.delete(name);
      else jar.set(name, value);
    }
    const match = /name="_csrf" value="([^"]+)"/.exec(res.body);
    if (match) csrf = match[1]!;
    return res;
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

  const browser: TestBrowser = {
    async get(url) {
      return remember(await app.inject({ method: 'GET', url, headers: { cookie: cookie() } }));
    },
    async post(url, form, options = {}) {
      const body = new URLSearchParams({ ...form, ...(options.csrf === false ? {} : { _csrf: csrf }) });
      return remember(
        await app.inject({
          method: 'POST',
          url,
          headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
          payload: body.toString(),
        }),
      );
    },
    async signIn(username, password) {
      await browser.get('/signin');
      const res = await browser.post('/signin', { username, password, return_to: '/' });
      if (res.statusCode !== 303) throw new Error(`sign-in failed: ${res.statusCode}`);
    },
  };
  return browser;
}
