import type { FastifyInstance } from 'fastify';

/**
 * The pages' one stylesheet, served from a route so the CSP can say `style-src 'self'` with no
 * inline styles. Plain, readable, high contrast, with visible focus.
 */
export const PAGE_CSS = `*,*::before,*::after{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;color:#1a1a1a;background:#fafafa}
body{margin:0}
.skip{position:absolute;left:-10000px}
.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}
header.site{background:#1f3a5f;color:#fff;padding:.75rem 1.5rem}
header.site a{color:#fff}
nav[aria-label=Main]{display:flex;gap:1rem;align-items:center;justify-content:flex-end;max-width:42rem;margin:.5rem auto 0;padding:0 1.5rem}
nav[aria-label=Main] form{display:inline;margin:0}
nav[aria-label=Main] button{padding:.3rem .8rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem}
dt{font-weight:600}
dd{margin:0}
.markdown>:first-child{margin-top:0}
.markdown>:last-child{margin-bottom:0}
main{max-width:42rem;margin:2rem auto;padding:0 1.5rem}
h1{font-size:1.6rem;line-height:1.25}
a{color:#0b57d0}
:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
label{display:block;font-weight:600;margin-top:1rem}
.hint{color:#555;font-size:.9rem;margin:.25rem 0}
input[type=text],input[type=email],input[type=password],input:not([type]),textarea,select{display:block;width:100%;padding:.5rem;font:inherit;border:1px solid #767676;border-radius:4px;background:#fff}
fieldset{border:1px solid #ccc;border-radius:4px;margin:1rem 0}
.actions{display:flex;gap:.75rem;margin-top:1.5rem;flex-wrap:wrap}
button{font:inherit;padding:.55rem 1.1rem;border-radius:4px;border:1px solid #1f3a5f;background:#1f3a5f;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1f3a5f}
button.danger{background:#a61b1b;border-color:#a61b1b}
.error-summary{border:2px solid #a61b1b;padding:.75rem 1rem;border-radius:4px;background:#fff5f5}
.markdown{overflow-wrap:anywhere}
.markdown pre{overflow-x:auto;background:#f0f0f0;padding:.75rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ddd}
`;

export const DEFAULT_STYLESHEET_PATH = '/assets/aauth.css';

/** Serves `PAGE_CSS` at `path`. */
export function registerPageAssets(app: FastifyInstance, path = DEFAULT_STYLESHEET_PATH): void {
  app.get(path, async (_request, reply) =>
    reply
      .header('cache-control', 'public, max-age=3600')
      .header('x-content-type-options', 'nosniff')
      .type('text/css; charset=utf-8')
      .send(PAGE_CSS),
  );
}
