import type { AggregateResult, ComparisonRow } from './aggregate.js';
import type { ImageRow } from './parts.js';
import type { SweepManifest } from './plan.js';

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const num = (x: number | null | undefined, digits = 3) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
/**
 * The metrics' colours: the per-image report's Okabe-Ito pair (packages/report/src/charts.ts), so that blue means
 * correlation and orange precision in both reports.
 */
const COLOURS = { correlation: '#0072B2', precision: '#E69F00' } as const;
const ci = (v: { mean: number; low: number; high: number }) =>
  `${num(v.mean)} <span class="ci">[${num(v.low)}, ${num(v.high)}]</span>`;

/** A forest plot of one layer: the two means with their intervals on an AUROC axis from 0.3 to 1. */
function forest(r: ComparisonRow): string {
  const w = 220;
  const x = (v: number) => Math.max(0, Math.min(w, ((v - 0.3) / 0.7) * w));
  const bar = (v: { mean: number; low: number; high: number }, y: number, colour: string) =>
    Number.isFinite(v.mean)
      ? `<line x1="${x(v.low)}" x2="${x(v.high)}" y1="${y}" y2="${y}" stroke="${colour}" stroke-width="2"/>` +
        `<circle cx="${x(v.mean)}" cy="${y}" r="3.5" fill="${colour}"/>`
      : '';
  const base = Number.isFinite(r.baseline)
    ? `<line x1="${x(r.baseline)}" x2="${x(r.baseline)}" y1="2" y2="22" stroke="#999" stroke-dasharray="2,2"/>`
    : '';
  return `<svg width="${w}" height="24" role="img" aria-label="intervals"><line x1="${x(0.5)}" x2="${x(0.5)}" y1="0" y2="24" stroke="#ddd"/>${base}${bar(r.correlation, 8, COLOURS.correlation)}${bar(r.precision, 16, COLOURS.precision)}</svg>`;
}

/** `sweep/report.html`: the dataset-level answers of a sweep, self-contained. */
export function renderSweepReport(manifest: SweepManifest, a: AggregateResult, rows: ImageRow[]): string {
  const s = manifest.settings;
  const c = a.counts;
  const failed = rows.filter((r) => r.status !== 'ok');
  const all = a.rows.at(-1);
  const verdict =
    all && Number.isFinite(all.difference.mean)
      ? all.difference.low > 0
        ? 'precision-selected neurons are <b>more</b> class-selective than correlation-selected ones (the interval of the difference lies above 0)'
        : all.difference.high < 0
          ? 'precision-selected neurons are <b>less</b> class-selective than correlation-selected ones (the interval of the difference lies below 0)'
          : 'the data do not tell the two apart (the interval of the difference contains 0)'
      : 'not enough analysed images to answer';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>neuronscope sweep</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}.ci{color:#777;font-size:12px}
.key span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}code{background:#f3f3f3;padding:0 3px}
</style></head><body>
<h1>Sweep: ${c.images} images</h1>
<p>Model <code>${esc(s.model.path)}</code> (sha256 ${esc(s.model.sha256.slice(0, 12))}); ${esc(s.perturbation.family)} perturbation,
N = ${s.perturbation.samples}, seed ${s.perturbation.seed}; top-${s.stats.topK} per layer, eligibility ${s.stats.eligibility};
target: ${esc(s.target.mode === 'class' ? `class ${s.target.class}` : s.target.mode)}; ${s.layers.length} layers.</p>
<p>Analysed ${c.ok}, errors ${c.error}, failed ${c.failed}.${c.labelled ? ` Top-1 accuracy on the ${c.labelled} labelled images: ${num((100 * c.correct) / c.labelled, 1)}%.` : ''}</p>
<h2>Are precision-selected neurons more class-selective than correlation-selected ones?</h2>
<p>Over all layers, ${verdict}.</p>
<p>Class selectivity of a neuron for a class: the AUROC of its mean activation on the clean image, images of the class
(by label, else by prediction) against all others. For each image, the mean selectivity for its target class of the
neurons selected by each metric; below, the mean over images with a 95% bootstrap interval, the paired difference
(precision − correlation), and the mean over all of the layer's neurons (baseline).</p>
<p class="key"><span style="background:${COLOURS.correlation}"></span>correlation<span style="background:${COLOURS.precision}"></span>precision<span style="border-left:1px dashed #999"></span>baseline (AUROC axis 0.3 – 1, grey line at 0.5)</p>
<table><tr><th>layer</th><th>images</th><th>correlation</th><th>precision</th><th>difference</th><th>precision higher</th><th>baseline</th><th></th></tr>
${a.rows
  .map(
    (r) =>
      `<tr><td>${esc(r.layerIndex >= 0 ? `${r.layerIndex} ${r.layer}` : r.layer)}</td><td>${r.images}</td><td>${ci(r.correlation)}</td><td>${ci(r.precision)}</td><td>${ci(r.difference)}</td><td>${num(100 * r.precisionHigher, 0)}%</td><td>${num(r.baseline)}</td><td>${forest(r)}</td></tr>`,
  )
  .join('\n')}
</table>
<h2>Most frequently selected neurons per target class</h2>
<table><tr><th>class</th><th>images</th><th>by correlation (layer:channel rate)</th><th>by precision</th></tr>
${a.classes
  .map(
    (k) =>
      `<tr><td>${esc(k.name ?? k.class)}</td><td>${k.images}</td><td>${k.topCorrelation.map((n) => `${esc(n.layer)}:${n.channel} ${num(n.rate, 2)}`).join(', ')}</td><td>${k.topPrecision.map((n) => `${esc(n.layer)}:${n.channel} ${num(n.rate, 2)}`).join(', ')}</td></tr>`,
  )
  .join('\n')}
</table>
<h2>Most class-selective neurons</h2>
<table><tr><th>layer</th><th>channel</th><th>class</th><th>AUROC</th></tr>
${a.topSelective.map((n) => `<tr><td>${esc(n.layer)}</td><td>${n.channel}</td><td>${esc(n.name ?? n.class)}</td><td>${num(n.auroc)}</td></tr>`).join('\n')}
</table>
${
  failed.length
    ? `<h2>Images not analysed (${failed.length})</h2><table><tr><th>image</th><th>status</th><th>error</th></tr>
${failed
  .slice(0, 200)
  .map((r) => `<tr><td>${esc(r.image)}</td><td>${r.status}</td><td style="text-align:left">${esc(r.error)}</td></tr>`)
  .join('\n')}</table>`
    : ''
}
<p>Tables: <code>neurons.parquet</code>, <code>images.parquet</code>, <code>aggregate.parquet</code>, <code>selection.parquet</code>, <code>selectivity.parquet</code> beside this file.</p>
</body></html>
`;
}
