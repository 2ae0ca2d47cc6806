import type { ReportContext, ReportSection } from './context.js';
import { escapeHtml, fileName } from './html.js';
import { overlayDefs } from './overlays.js';
import { SCRIPT, scriptHash } from './script.js';
import { CSS } from './style.js';

/**
 * The page policy: nothing may be fetched, whatever text slipped into the page; images only as `data:` URIs,
 * styles only inline, and no script but the page's own (allowed by its hash, so an injected one would not run).
 */
export const CONTENT_SECURITY_POLICY = `default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src ${scriptHash()}`;

/** A section: an overview section open with its heading; a detail section closed, its heading as the summary. */
function sectionHtml(s: ReportSection, ctx: ReportContext): string {
  const title = escapeHtml(s.title);
  if (!s.collapsed) return `<section id="${s.id}"><h2>${title}</h2>\n${s.render(ctx)}\n</section>`;
  const teaser = s.teaser ? ` <span class="teaser">${s.teaser(ctx)}</span>` : '';
  return (
    `<section id="${s.id}" class="detail"><details><summary><h2>${title}</h2>${teaser}</summary>\n` +
    `${s.render(ctx)}\n</details></section>`
  );
}

/** The whole document: head, title, contents, then every section in order (overview first, then the details). */
export function renderPage(ctx: ReportContext, sections: readonly ReportSection[]): string {
  const { summary } = ctx;
  const target = summary.target.label ?? `class ${summary.target.index}`;
  const image = fileName(summary.run.image.path);
  const model = fileName(summary.run.model.path);
  const link = (s: ReportSection) => `<li><a href="#${s.id}">${escapeHtml(s.title)}</a></li>`;
  const toc =
    `<ol>${sections
      .filter((s) => !s.collapsed)
      .map(link)
      .join('')}</ol>` +
    `<ol class="more">${sections
      .filter((s) => s.collapsed)
      .map(link)
      .join('')}</ol>`;
  const body = sections.map((s) => sectionHtml(s, ctx)).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<title>${escapeHtml(`${target} · ${image} · neuronscope`)}</title>
<style>${CSS}</style>
</head>
<body>
${overlayDefs(ctx.visual.images)}
<main>
<h1>Why “${escapeHtml(target)}”? <span class="muted">${escapeHtml(image)} · ${escapeHtml(model)}</span></h1>
<nav class="toc" aria-label="Contents">${toc}</nav>
${body}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
