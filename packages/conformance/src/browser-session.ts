import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/** A person's browser on `app.inject`: keeps cookies, reads the CSRF field of the last page. */
export class BrowserSession {
  readonly cookies = new Map<string, string>();
  lastBody = '';
  private readonly host: string;

  constructor(
    private readonly app: () => FastifyInstance,
    private readonly issuer: string,
  ) {
    this.host = new URL(issuer).host;
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(response: LightMyRequestResponse): LightMyRequestResponse {
    const set = response.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const pair = line.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    this.lastBody = response.body;
    return response;
  }

  async get(url: string): Promise<LightMyRequestResponse> {
    return this.keep(
      await this.app().inject({
        method: 'GET',
        url,
        headers: { host: this.host, cookie: this.cookieHeader() },
      }),
    );
  }

  csrf(): string {
    const match = /name="_csrf" value="([^"]+)"/.exec(this.lastBody);
    if (!match) throw new Error('no CSRF field on the last page');
    return match[1]!;
  }

  async post(url: string, fields: Record<string, string>): Promise<LightMyRequestResponse> {
    return this.keep(
      await this.app().inject({
        method: 'POST',
        url,
        headers: {
          host: this.host,
          origin: this.issuer,
          cookie: this.cookieHeader(),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: new URLSearchParams(fields).toString(),
      }),
    );
  }

  async signIn(username: string, password: string): Promise<void> {
    await this.get('/signin');
    const res = await this.post('/signin', {
      _csrf: this.csrf(),
      username,
      password,
      return_to: '/dashboard',
    });
    if (res.statusCode >= 400) throw new Error(`sign-in failed: ${res.statusCode}`);
  }

  /** Opens an interaction code and approves what it shows (consent with its step, if any). */
  async approveCode(code: string): Promise<LightMyRequestResponse> {
    const page = await this.get(`/interaction?code=${encodeURIComponent(code)}`);
    const request = /name="request" value="([^"]+)"/.exec(page.body)?.[1];
    if (!request) throw new Error(`no request on the interaction page (${page.statusCode})`);
    const step = /name="step" value="([^"]+)"/.exec(page.body)?.[1];
    return this.post('/interaction', {
      _csrf: this.csrf(),
      request,
      decision: 'approve',
      ...(step ? { step } : {}),
    });
  }
}
