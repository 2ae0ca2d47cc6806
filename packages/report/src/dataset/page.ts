/**
 * The pages about a dataset (the sweep report and the atlas): the per-image report's stylesheet, policy and script,
 * the images embedded once (as SVG `<image>` definitions that every crop refers to), and a small shared vocabulary.
 */
import { escapeHtml } from '../html.js';
import type { Thumbnail } from '../images.js';
import { CONTENT_SECURITY_POLICY } from '../page.js';
import { SCRIPT } from '../script.js';
import { CSS } from '../style.js';

/** One image of a sweep, as the dataset pages show it. */
export interface DatasetImage {
  /** Position in the sweep's image order: its anchor is `img-<index>`. */
  readonly index: number;
  readonly name: string;
  /** The label's name (or index) and the prediction's, when known. */
  readonly label: string | null;
  readonly prediction: string | null;
  readonly probability: number | null;
  /** Label and prediction agree (null without a label). */
  readonly correct: boolean | null;
  /** The image file, relative to the page (null when it cannot be linked). */
  readonly href: string | null;
  readonly picture: Thumbnail;
}

/** The SVG definitions id of an image's picture. */
export const pictureId = (index: number) => `pic-${index}`;

/** The pictures once, for every crop and thumbnail of the page to refer to (`<use href="#pic-N">`). */
export function pictureDefs(images: readonly DatasetImage[]): string {
  const pixelated = (p: Thumbnail) => (Math.max(p.width, p.height) < 160 ? ' style="image-rendering:pixelated"' : '');
  const defs = images
    .map(
      (im) =>
        `<image id="${pictureId(im.index)}" href="${im.picture.dataUri}" x="0" y="0" width="${im.picture.originalWidth}" ` +
        `height="${im.picture.originalHeight}" preserveAspectRatio="none"${pixelated(im.picture)}/>`,
    )
    .join('');
  return `<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>${defs}</defs></svg>`;
}

/** A whole image as a small square SVG (letterboxed), referring to its definition. */
export function thumbnailSvg(im: DatasetImage): string {
  const { originalWidth: W, originalHeight: H } = im.picture;
  const side = Math.max(W, H);
  return (
    `<svg class="thumb" viewBox="${((W - side) / 2).toFixed(1)} ${((H - side) / 2).toFixed(1)} ${side} ${side}" ` +
    `role="img" aria-label="${escapeHtml(im.name)}"><use href="#${pictureId(im.index)}"/></svg>`
  );
}

/** Extra rules of the dataset pages. */
const DATASET_CSS = `
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(52px,1fr));gap:4px}
.thumbs a{display:block;border:1px solid var(--line);border-radius:3px;overflow:hidden;background:var(--soft)}
.thumbs a.wrong{border:2px solid #D55E00}
svg.thumb{display:block;width:100%;aspect-ratio:1/1;height:auto}
.strip{display:grid;grid-template-columns:repeat(auto-fill,minmax(96px,1fr));gap:6px;margin:.4rem 0}
.strip figure{margin:0}
.strip a{display:block;aspect-ratio:1/1;border:3px solid var(--line);border-radius:3px;overflow:hidden;background:var(--soft)}
.strip svg{display:block;width:100%;height:100%}
.strip figcaption{font-size:.72rem;line-height:1.3;margin-top:2px;overflow-wrap:anywhere}
article.entry{border-top:1px solid var(--line);padding:.5rem 0 .75rem;scroll-margin-top:8px}
article.entry:target,article.entry:focus{outline:3px solid var(--fg);outline-offset:2px}
article.entry h4{border:0;padding:0;margin:.2rem 0;font-size:.95rem}
article.entry p{margin:.2rem 0;font-size:.85rem}
.image-entry{display:flex;flex-wrap:wrap;gap:10px 16px;align-items:flex-start;border-top:1px solid var(--line);padding:.5rem 0;scroll-margin-top:8px}
.image-entry:target{outline:3px solid var(--fg);outline-offset:2px}
.image-entry svg.thumb{width:120px}
.image-entry>div{flex:1 1 260px;min-width:0;font-size:.85rem}
.image-entry ul{margin:.2rem 0;padding-left:1.1rem}
`;

/** A dataset page: head (the per-image report's style, policy and script), heading, contents, body. */
export function datasetPage(parts: {
  title: string;
  heading: string;
  subtitle: string;
  toc: readonly [string, string][];
  defs: string;
  body: string;
}): string {
  const toc = parts.toc.map(([id, text]) => `<li><a href="#${id}">${escapeHtml(text)}</a></li>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<title>${escapeHtml(parts.title)}</title>
<style>${CSS}${DATASET_CSS}</style>
</head>
<body>
${parts.defs}
<main>
<h1>${escapeHtml(parts.heading)} <span class="muted">${escapeHtml(parts.subtitle)}</span></h1>
<nav class="toc" aria-label="Contents"><ol>${toc}</ol></nav>
${parts.body}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** `label “cat”, predicted “dog” (92.1%)`: what is known of an image, escaped. */
export function imageFacts(im: DatasetImage): string {
  const parts: string[] = [];
  if (im.label !== null) parts.push(`label <q>${escapeHtml(im.label)}</q>`);
  if (im.prediction !== null) {
    const p = im.probability === null ? '' : ` (${(im.probability * 100).toFixed(1)}%)`;
    parts.push(
      `${im.correct === false ? '<span class="warn">predicted</span>' : 'predicted'} <q>${escapeHtml(im.prediction)}</q>${p}`,
    );
  }
  return parts.join(', ');
}
