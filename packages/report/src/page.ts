import type { ReportContext, ReportSection } from './context.js';
import { escapeHtml, fileName } from './html.js';
import { overlayDefs } from './overlays.js';
import { CSS } from './style.js';

/**
 * The page policy: nothing may be fetched or run, whatever text slipped into the page; images only as
 * `data:` URIs, styles only inline.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

/** The whole document: head, title, contents, then every section in order, each wrapped with its id and heading. */
export function renderPage(ctx: ReportContext, sections: readonly ReportSection[]): string {
  const { summary } = ctx;
  const target = summary.target.label ?? `class ${summary.target.index}`;
  const image = fileName(summary.run.image.path);
  const model = fileName(summary.run.model.path);
  const toc = sections.map((s) => `<li><a href="#${s.id}">${escapeHtml(s.title)}</a></li>`).join('');
  const body = sections
    .map((s) => `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2>\n${s.render(ctx)}\n</section>`)
    .join('\n');
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
<nav class="toc" aria-label="Contents"><ol>${toc}</ol></nav>
${body}
</main>
</body>
</html>
`;
}
