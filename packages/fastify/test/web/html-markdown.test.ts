import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  escapeHtml,
  html,
  isAllowedMarkdownLink,
  MARKDOWN_MAX_LENGTH,
  renderMarkdown,
  renderPage,
  textField,
  trustedHtml,
} from '../../src/index.js';

describe('html template', () => {
  it('escapes every interpolation that is not SafeHtml', () => {
    const name = '<script>alert("x")</script>&\'`';
    expect(html`<p title="${name}">${name}</p>`.toString()).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;&#96;</p>',
    );
  });

  it('keeps SafeHtml, renders arrays item by item, and drops null/undefined/false', () => {
    const items = ['a<b', 'c'];
    expect(
      html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>${null}${undefined}${false}${0}`.toString(),
    ).toBe('<ul><li>a&lt;b</li><li>c</li></ul>0');
    expect(html`${trustedHtml('<b>ok</b>')}`.toString()).toBe('<b>ok</b>');
  });

  it('never lets a string produce markup (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const out = html`<p>${s}</p>`.toString();
        expect(out.slice(3, -4)).not.toMatch(/[<>"'`]/);
        expect(out.slice(3, -4)).toBe(escapeHtml(s));
      }),
    );
  });

  it('renders an accessible page: lang, main, one h1, labelled fields', () => {
    const page = renderPage({
      title: 'Sign in <now>',
      siteName: 'Person Server',
      body: textField({
        name: 'username',
        label: 'Email address',
        type: 'email',
        hint: 'The one you registered',
        required: true,
      }),
      lang: 'en" onload="x',
    }).toString();
    expect(page).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(page).toContain('<title>Sign in &lt;now&gt; — Person Server</title>');
    expect(page.match(/<h1>/g)).toHaveLength(1);
    expect(page).toContain('<main id="main">');
    expect(page).toContain('<label for="field-username">Email address</label>');
    expect(page).toContain(
      '<input id="field-username" name="username" type="email" required aria-describedby="field-username-hint">',
    );
    expect(page).toContain('<link rel="stylesheet" href="/assets/aauth.css">');
    expect(page).not.toMatch(/<script|style=/);
  });

  it('never echoes a password value', () => {
    expect(
      textField({ name: 'password', label: 'Password', type: 'password', value: 'hunter2' }).toString(),
    ).not.toContain('hunter2');
  });
});

/** Inert: no element but the allowed ones, no attribute but href/title/rel/class/start, every href https. */
function expectInert(out: string, devMode = false) {
  const tags = [...out.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>/g)];
  const allowed = new Set([
    'div',
    'p',
    'a',
    'em',
    'strong',
    'code',
    'pre',
    'ul',
    'ol',
    'li',
    'blockquote',
    'h1',
    'h2',
    'h3',
    'h4',
    'h5',
    'h6',
    'hr',
    'br',
    's',
    'table',
    'thead',
    'tbody',
    'tr',
    'th',
    'td',
  ]);
  for (const [, tag, attrs] of tags) {
    expect(allowed.has(tag!.toLowerCase()), `tag ${tag}`).toBe(true);
    for (const [, name, value] of attrs!.matchAll(/\s([a-zA-Z-]+)(?:="([^"]*)")?/g)) {
      expect(['href', 'title', 'rel', 'class', 'start', 'style'].includes(name!), `attribute ${name}`).toBe(
        true,
      );
      if (name === 'style') expect(value).toMatch(/^text-align:(left|right|center)$/);
      if (name === 'href') expect(value).toMatch(devMode ? /^https?:\/\// : /^https:\/\//);
      if (name === 'rel') expect(value).toBe('noopener noreferrer nofollow');
    }
  }
  expect(out).not.toMatch(/<(script|img|iframe|svg|object|embed|style|form|input|math|base|link|meta)\b/i);
  expect(out).not.toMatch(/href="(?:javascript|vbscript|data):/i);
}

const XSS_CORPUS = [
  '<script>alert(1)</script>',
  '<SCRIPT SRC=https://evil.example/x.js></SCRIPT>',
  '<img src=x onerror=alert(1)>',
  '<svg/onload=alert(1)>',
  '<iframe src="javascript:alert(1)"></iframe>',
  '<a href="javascript:alert(1)">x</a>',
  '[click](javascript:alert(1))',
  '[click](JaVaScRiPt:alert(1))',
  '[click](javascript&#58;alert(1))',
  '[click](&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:alert(1))',
  '[click](%6Aavascript:alert(1))',
  '[click]( javascript:alert(1))',
  '[click](java\nscript:alert(1))',
  '[click](vbscript:msgbox(1))',
  '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '![x](data:image/svg+xml,<svg onload=alert(1)>)',
  '![x](https://tracker.example/pixel.gif)',
  '![x" onerror="alert(1)](https://a.example/i.png)',
  '<javascript:alert(1)>',
  '<data:text/html,<script>alert(1)</script>>',
  '[x](https://a.example/" onmouseover="alert(1))',
  '[x](https://a.example "title\\" onmouseover=\\"alert(1)")',
  '[x][ref]\n\n[ref]: javascript:alert(1)',
  '**<b onclick=alert(1)>bold</b>**',
  '`<script>`',
  '```html\n<script>alert(1)</script>\n```',
  '> <img src=x onerror=alert(1)>\n> - [a](javascript:x)',
  '<div style="background:url(javascript:alert(1))">x</div>',
  '&lt;script&gt;alert(1)&lt;/script&gt;',
  '&#60;script&#62;alert(1)&#60;/script&#62;',
  '[a](//evil.example/path)',
  '[a](/dashboard/revoke)',
  '[a](http://evil.example)',
  '[a](mailto:x@evil.example)',
  '[a](https://user:pass@evil.example)',
  '[[a](javascript:x)](https://ok.example)',
  '<!-- <script>alert(1)</script> -->',
  '<?php echo 1 ?>',
  '<style>body{display:none}</style>',
  '<base href="https://evil.example/">',
  '<meta http-equiv="refresh" content="0;url=https://evil.example">',
  '<form action="https://evil.example"><input name=x></form>',
  `${'>'.repeat(500)} deep`,
  `${'['.repeat(2000)}x${']'.repeat(2000)}(javascript:alert(1))`,
  `${'*'.repeat(5000)}`,
];

describe('renderMarkdown', () => {
  it.each(XSS_CORPUS.map((v) => [v]))('renders %j inert', (vector) => {
    expectInert(renderMarkdown(vector).toString());
  });

  it('keeps https links with rel="noopener noreferrer nofollow" and turns images into links', () => {
    expect(renderMarkdown('[docs](https://docs.example/a?b=1&c=2)').toString()).toBe(
      '<div class="markdown"><p><a href="https://docs.example/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">docs</a></p>\n</div>',
    );
    expect(renderMarkdown('![chart](https://img.example/c.png)').toString()).toBe(
      '<div class="markdown"><p><a href="https://img.example/c.png" rel="noopener noreferrer nofollow">chart</a></p>\n</div>',
    );
    expect(renderMarkdown('![x" onerror="y](javascript:z)').toString()).not.toContain('onerror="');
  });

  it('refuses http links in strict mode and accepts them in dev mode', () => {
    expect(renderMarkdown('[a](http://localhost:3003/x)').toString()).not.toContain('<a ');
    const dev = renderMarkdown('[a](http://localhost:3003/x)', { devMode: true }).toString();
    expect(dev).toContain('<a href="http://localhost:3003/x" rel="noopener noreferrer nofollow">a</a>');
    expectInert(dev, true);
    expect(isAllowedMarkdownLink('javascript:alert(1)', true)).toBe(false);
  });

  it('does not autolink bare URLs (linkify off)', () => {
    expect(renderMarkdown('see https://a.example').toString()).not.toContain('<a ');
  });

  it('cuts input beyond the length cap and says so', () => {
    const out = renderMarkdown('a'.repeat(MARKDOWN_MAX_LENGTH + 10)).toString();
    expect(out).toContain('[The text was too long and has been cut.]');
    expect(out.match(/a/g)!.length).toBeLessThan(MARKDOWN_MAX_LENGTH + 10);
    expect(renderMarkdown('abc', { maxLength: 2 }).toString()).toContain('<p>ab</p>');
  });

  it('renders arbitrary input inert (property)', () => {
    const pieces = fc.constantFrom(
      '<',
      '>',
      '"',
      "'",
      '[',
      ']',
      '(',
      ')',
      '!',
      '`',
      '*',
      'javascript:',
      'data:',
      'https://a.example',
      '&#',
      ';',
      'x',
      ' ',
      '\n',
      'onerror=',
      '<img ',
      '<script>',
      '\\',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 60 }), (parts) => {
        expectInert(renderMarkdown(parts.join('')).toString());
      }),
      { numRuns: 300 },
    );
  });
});
