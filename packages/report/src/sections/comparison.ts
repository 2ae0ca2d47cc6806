import type { LayerView, ReportSection } from '../context.js';
import { count, fixed } from '../format.js';
import { escapeHtml, keyValues, table } from '../html.js';
import type { Chart } from '../visual-context.js';

/** `0.123 (n = 40)`: a Spearman value with the number of channels behind it. */
export function spearmanHtml(rho: number | null, n: number): string {
  return `${fixed(rho)} <span class="muted">(n = ${count(n)})</span>`;
}

/** A Jaccard value with a bar, so the layers can be compared at a glance. */
function jaccardCell(j: number): string {
  const width = Math.min(100, Math.max(0, j * 100)).toFixed(1);
  return `<td class="num">${fixed(j)}</td><td class="bar-cell"><div class="bar both"><span style="width:${width}%"></span></div></td>`;
}

function layerRow(l: LayerView): string {
  const s = l.summary;
  const c = s.comparison;
  return (
    `<tr><td class="num">${s.layerIndex}</td><td><a href="#${l.anchor}"><code>${escapeHtml(s.layer)}</code></a></td>` +
    `<td class="num">${s.channels}×${s.height}×${s.width}</td><td class="num">${count(s.eligible)}</td>` +
    `<td class="num">${s.byCorrelation.length}</td><td class="num">${s.byPrecision.length}</td>` +
    `<td class="num">${l.shared.size}</td><td class="num">${fixed(c.overlap)}</td>${jaccardCell(c.jaccard)}` +
    `<td class="num">${spearmanHtml(c.spearman, c.spearmanCount)}</td></tr>`
  );
}

/** The chart of a comparison figure, or a note when it is missing. */
function chartFigure(chart: Chart | null, caption: string, missing: string): string {
  if (!chart) return `<figure class="chartfig missing"><p class="muted note">${escapeHtml(missing)}</p></figure>`;
  return `<figure class="chartfig" id="chart-${chart.name}">${chart.svg}<figcaption>${caption}</figcaption></figure>`;
}

/** The two selections compared: totals, the overlap per layer and every channel's two scores; the numbers per layer folded. */
export const comparison: ReportSection = {
  id: 'comparison',
  title: 'Correlation versus precision',
  render(ctx) {
    const { summary, layers } = ctx;
    const t = summary.total;
    const v = ctx.visual;
    const shared = layers.reduce((n, l) => n + l.shared.size, 0);
    const totals = keyValues([
      [
        'Selected',
        `<span class="key corr"></span>${t.selectedByCorrelation} by correlation, <span class="key prec"></span>` +
          `${t.selectedByPrecision} by precision, <span class="key both"></span>${shared} by both`,
      ],
      [
        'Agreement',
        `overlap |A∩B| / (|A|+|B|) ${fixed(t.overlap)} <span class="muted">(0.5 = same sets)</span>, Jaccard ` +
          `${fixed(t.jaccard)}, Spearman's ρ ${spearmanHtml(t.spearman, t.spearmanCount)}`,
      ],
    ]);
    const k = summary.stats.topK;
    const excluded =
      v.scatterExcluded > 0
        ? ` ${count(v.scatterExcluded)} channels without a defined correlation or a finite precision are left out.`
        : '';
    const figures = [
      chartFigure(
        v.charts.overlap,
        '<strong>Overlap per layer</strong>: the neurons selected in each layer, split into those chosen by ' +
          'correlation only, by both, and by precision only; J is the Jaccard index of the two sets.',
        '',
      ),
      chartFigure(
        v.charts.scatter,
        `<strong>Every channel</strong>: correlation with the output against precision (log scale); the top-${k} of ` +
          'each layer by correlation (blue circles), by precision (orange squares) and by both (green diamonds). ' +
          'Precisions of different layers differ in scale, so layers form bands. ' +
          (v.scatterDense ? 'The unselected channels are a grey density (darker = more channels). ' : '') +
          `Hover a point for its layer, channel and values.${excluded}`,
        'No scatter: the report was rendered without neurons.parquet.',
      ),
    ];
    const head = [
      '<th class="num">#</th>',
      '<th>layer</th>',
      '<th class="num">C×H×W</th>',
      '<th class="num">eligible</th>',
      '<th class="num corr">by corr.</th>',
      '<th class="num prec">by prec.</th>',
      '<th class="num both">both</th>',
      '<th class="num">overlap</th>',
      '<th class="num" colspan="2">Jaccard</th>',
      '<th class="num">Spearman ρ</th>',
    ];
    return (
      `${totals}<div class="chart-grid">${figures.join('')}</div>` +
      `<details class="inline" id="per-layer"><summary>Per layer, in numbers</summary>${table(head, layers.map(layerRow), 'layers-table')}</details>`
    );
  },
};
