import { outputName, type ReportContext, type ReportSection } from '../context.js';
import { count, general } from '../format.js';
import { escapeHtml, fileName, keyValues } from '../html.js';

/** Length of the sha256 prefix shown to identify a file. */
const SHA_PREFIX = 12;

function fileHtml(path: string | null, sha256: string): string {
  return `<code>${escapeHtml(fileName(path))}</code> <span class="muted">sha256 ${escapeHtml(sha256.slice(0, SHA_PREFIX))}…</span>`;
}

function json(value: unknown): string {
  return `<code>${escapeHtml(JSON.stringify(value) ?? String(value))}</code>`;
}

function list(values: readonly number[]): string {
  return values.map(general).join(', ');
}

/** How the copies were made and read: perturbation, preprocessing, output, layers, selection. */
export const settings: ReportSection = {
  id: 'settings',
  title: 'Files and settings',
  collapsed: true,
  teaser: ({ summary }) =>
    `<code>${escapeHtml(fileName(summary.run.model.path))}</code>, <code>${escapeHtml(summary.run.perturbation.family)}</code> ` +
    `copies, seed ${summary.run.perturbation.seed}, preprocessing <code>${escapeHtml(summary.run.preprocessing.preset)}</code>`,
  render({ summary }) {
    const { run, stats } = summary;
    const { perturbation: pert, preprocessing: pre } = run;
    const params = Object.entries(pert.params);
    const [h, w] = pre.size;
    const geometry =
      pre.resizeShorter === null
        ? `resize to ${w}×${h}`
        : `resize shorter side to ${pre.resizeShorter}, centre crop ${w}×${h}`;
    const layerNames = run.layers
      .map(
        (l) =>
          `<li><code>${escapeHtml(l.layer)}</code> <span class="muted">${escapeHtml(l.op)}, ${l.channels}×${l.height}×${l.width}</span></li>`,
      )
      .join('');
    const rows: [string, string][] = [
      ['Model', fileHtml(run.model.path, run.model.sha256)],
      ['Image', fileHtml(run.image.path, run.image.sha256)],
      ['Labels', run.labels ? fileHtml(run.labels.path, run.labels.sha256) : 'none (class indices only)'],
      ['Tool', escapeHtml(summary.tool)],
      ['Perturbation family', `<code>${escapeHtml(pert.family)}</code>`],
      [
        'Copies N',
        `${count(pert.samples)} (copy 0 included)${noiseScheduleNote(pert.family, pert.params, pert.samples)}`,
      ],
      ['Seed', String(pert.seed)],
      ['Parameters', params.length ? keyValues(params.map(([k, v]) => [k, json(v)])) : 'none'],
      ['Output y', `<code>${run.output}</code>: ${outputName(summary)} of the target class`],
      [
        'Preprocessing',
        `<code>${escapeHtml(pre.preset)}</code>: ${geometry}; divide by ${general(pre.scale)}, subtract [${list(pre.mean)}], divide by [${list(pre.std)}]; ${pre.layout}${pre.grayscale ? ', greyscale' : ', colour'}`,
      ],
      [
        'Layers recorded',
        `<details><summary>${run.layers.length}</summary><ol class="names">${layerNames}</ol></details>`,
      ],
      ['Selection', `top ${stats.topK} channels per layer by each metric`],
      ['Eligible for precision', `channels with mean activation ≥ ${general(stats.eligibility)}`],
    ];
    if (summary.stopping) rows.splice(6, 0, ['Early stopping', stoppingHtml(summary.stopping, stats.topK)]);
    return keyValues(rows);
  },
};

/**
 * The `paper` family's copy i has noise scale i·σ unless `maxScale` fixes the range, so N changes the question, not
 * only the sample size: said where N is shown.
 */
function noiseScheduleNote(family: string, params: Record<string, unknown>, samples: number): string {
  if (family !== 'paper') return '';
  const sigma = typeof params.sigma === 'number' ? params.sigma : 0.1;
  const note =
    typeof params.maxScale === 'number'
      ? `the noisiest copy's noise has std maxScale·σ = ${general(params.maxScale * sigma)} whatever N: N only samples that range more densely`
      : `the noisiest copy's noise has std (N − 1)·σ = ${general((samples - 1) * sigma)}: in the paper's schedule a larger N adds noisier copies and changes the question (<code>--param maxScale=s</code> fixes the range)`;
  return `<div class="muted">${note}</div>`;
}

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
