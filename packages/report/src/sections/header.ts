import { classHtml, type ReportContext, type ReportSection, targetHtml, targetProbability } from '../context.js';
import { count, percent } from '../format.js';
import { escapeHtml, fileName, keyValues } from '../html.js';
import type { EmbeddedImage } from '../images.js';

/** Length of the sha256 prefix shown to identify a file. */
const SHA_PREFIX = 12;

function figure(image: EmbeddedImage, alt: string, caption: string): string {
  return `<figure><img src="${image.dataUri}" width="${image.width}" height="${image.height}" alt="${escapeHtml(alt)}"><figcaption>${caption}</figcaption></figure>`;
}

function fileHtml(path: string | null, sha256: string): string {
  return `<code>${escapeHtml(fileName(path))}</code> <span class="muted">sha256 ${escapeHtml(sha256.slice(0, SHA_PREFIX))}…</span>`;
}

/** The input image, what the network sees of it, the model and the prediction being explained. */
export const header: ReportSection = {
  id: 'header',
  title: 'Input and prediction',
  render(ctx) {
    const { summary, image, modelInput } = ctx;
    const { run } = summary;
    const name = fileName(run.image.path);
    const [h, w] = run.preprocessing.size;
    const crop =
      run.preprocessing.resizeShorter === null
        ? `resized to ${w}×${h}`
        : `shorter side resized to ${run.preprocessing.resizeShorter} px, centre crop ${w}×${h}`;
    const figures = [
      figure(image, `input image ${name}`, `Input image, ${run.image.width}×${run.image.height} px`),
      figure(modelInput, `model input crop of ${name}`, `What the network sees: ${crop}`),
    ].join('');
    const top1 = summary.predictions[0];
    const prediction = [`${targetHtml(summary)}, probability ${percent(targetProbability(summary))}`];
    if (summary.target.source === 'user') {
      prediction.push(
        top1
          ? `<br><span class="muted">chosen by the user; the network's top-1 is ${classHtml(top1.index, top1.label)} (${percent(top1.probability)})</span>`
          : '<br><span class="muted">chosen by the user</span>',
      );
    }
    const pert = run.perturbation;
    const maps = ctx.visual.maps;
    const settings = [
      `N = ${count(summary.samplesUsed ?? pert.samples)} <code>${escapeHtml(pert.family)}</code> copies, seed ${pert.seed}`,
      `top ${summary.stats.topK} per layer over ${run.layers.length} layer${run.layers.length === 1 ? '' : 's'}`,
      `y = <code>${run.output}</code>`,
      maps ? `heat maps from M = ${count(maps.meta.masks)} masks` : 'no heat maps',
    ].join(' · ');
    const rows: [string, string][] = [
      ['Explained class', prediction.join('')],
      ['Settings', `${settings} <a href="#settings">(all)</a>`],
      ['Model', fileHtml(run.model.path, run.model.sha256)],
      ['Image', fileHtml(run.image.path, run.image.sha256)],
      ['Labels', run.labels ? fileHtml(run.labels.path, run.labels.sha256) : 'none (class indices only)'],
      ['Tool', escapeHtml(summary.tool)],
    ];
    if (summary.stopping) rows.splice(2, 0, ['Early stopping', stoppingHtml(summary.stopping, summary.stats.topK)]);
    return `<div class="figures">${figures}</div>${keyValues(rows)}`;
  },
};

/** `--samples auto`: where it stopped, the agreement counting ties, and every layer's ties with the k-th. */
function stoppingHtml(s: NonNullable<ReportContext['summary']['stopping']>, k: number): string {
  const list = (channels: readonly number[]) => (channels.length ? channels.join(', ') : '—');
  const tied = s.layers.filter((l) => l.correlation.ties.length + l.precision.ties.length > 0);
  const rows = tied
    .map(
      (l) =>
        `<tr><td>${escapeHtml(l.layer)}</td><td>${list(l.correlation.ties)}</td><td>${list(l.precision.ties)}</td></tr>`,
    )
    .join('');
  const head =
    `${s.stable ? 'stopped' : 'not stable at the maximum'} after ${count(s.samples)} copies; half-sample agreement ` +
    `${s.agreement.toFixed(2)} counting ties (${s.strictAgreement.toFixed(2)} without); ${tied.length} of ` +
    `${s.layers.length} layers have channels tied with their ${k}th (scores within ${s.z} standard errors)`;
  return tied.length
    ? `${head}<details><summary>ties per layer</summary><table><tr><th>layer</th><th>correlation</th>` +
        `<th>precision</th></tr>${rows}</table></details>`
    : head;
}
