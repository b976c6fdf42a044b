import MarkdownIt from 'markdown-it';
import { html, type SafeHtml, trustedHtml } from './html.js';

/**
 * Markdown from agents (mission descriptions, clarification questions, justifications) rendered for
 * a person. markdown-it with raw HTML off (it is escaped, never passed through) and no linkify; links
 * only to absolute `https:` URLs (`http:` too in development mode), marked
 * `rel="noopener noreferrer nofollow"`; images are never loaded — an image becomes a link to its URL
 * (or its alt text when the URL is refused), so an agent cannot make the person's browser fetch
 * anything by showing a page. Input longer than `maxLength` is cut and marked as cut.
 */

export const MARKDOWN_MAX_LENGTH = 20_000;
/** Bounds the parser's block/inline nesting so a hostile input cannot blow up work or output. */
const MAX_NESTING = 20;

export interface MarkdownOptions {
  readonly devMode?: boolean;
  readonly maxLength?: number;
}

const REL = 'noopener noreferrer nofollow';

/** The link rule, exported so forms that accept URLs from agents apply the same one. */
export function isAllowedMarkdownLink(url: string, devMode = false): boolean {
  // Browsers strip tabs/newlines inside URLs and treat backslashes as slashes: refuse such text outright.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
  if (/[\u0000-\u0020\u007f-\u009f\\]/.test(url)) return false;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username || parsed.password) return false;
  return parsed.protocol === 'https:' || (devMode && parsed.protocol === 'http:');
}

type Renderer = InstanceType<typeof MarkdownIt>;

function createRenderer(devMode: boolean): Renderer {
  const md = new MarkdownIt('default', {
    html: false,
    linkify: false,
    typographer: false,
    maxNesting: MAX_NESTING,
  });
  md.validateLink = (url) => isAllowedMarkdownLink(url, devMode);
  // A refused link target leaves the parser with `href=""`; render such a link as its text alone.
  md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
    const token = tokens[idx]!;
    if (!isAllowedMarkdownLink(String(token.attrGet('href') ?? ''), devMode)) {
      const close = tokens.findIndex((t, i) => i > idx && t.type === 'link_close');
      if (close > 0) tokens[close]!.meta = { dropped: true };
      return '';
    }
    token.attrSet('rel', REL);
    return self.renderToken(tokens, idx, options);
  };
  md.renderer.rules.link_close = (tokens, idx, options, _env, self) =>
    tokens[idx]!.meta?.dropped ? '' : self.renderToken(tokens, idx, options);
  md.renderer.rules.image = (tokens, idx) => {
    const token = tokens[idx]!;
    const src = String(token.attrGet('src') ?? '');
    const alt = token.children
      ? md.renderer.renderInlineAsText(token.children, md.options, {})
      : token.content;
    const text = alt.length > 0 ? alt : src;
    // The parser already normalized src and emptied it when refused; checked again because this
    // renderer builds its own markup.
    if (!isAllowedMarkdownLink(src, devMode)) return html`${text}`.toString();
    return html`<a href="${src}" rel="${REL}">${text}</a>`.toString();
  };
  return md;
}

let strictRenderer: Renderer | undefined;
let devRenderer: Renderer | undefined;

function rendererFor(devMode: boolean): Renderer {
  if (devMode) {
    devRenderer ??= createRenderer(true);
    return devRenderer;
  }
  strictRenderer ??= createRenderer(false);
  return strictRenderer;
}

export function renderMarkdown(text: string, options: MarkdownOptions = {}): SafeHtml {
  const max = options.maxLength ?? MARKDOWN_MAX_LENGTH;
  const cut = text.length > max;
  const source = cut ? text.slice(0, max) : text;
  const rendered = rendererFor(options.devMode === true).render(source);
  return trustedHtml(
    `<div class="markdown">${rendered}${cut ? '<p><em>[The text was too long and has been cut.]</em></p>' : ''}</div>`,
  );
}
