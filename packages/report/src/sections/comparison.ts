import type { LayerView, ReportSection } from '../context.js';
import { count, fixed } from '../format.js';
import { escapeHtml, keyValues, table } from '../html.js';

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

/** The two selections compared over all layers, then layer by layer. */
export const comparison: ReportSection = {
  id: 'comparison',
  title: 'Correlation versus precision',
  render({ summary, layers }) {
    const t = summary.total;
    const shared = layers.reduce((n, l) => n + l.shared.size, 0);
    const totals = keyValues([
      ['Selected by correlation', `<span class="key corr"></span>${t.selectedByCorrelation}`],
      ['Selected by precision', `<span class="key prec"></span>${t.selectedByPrecision}`],
      ['Selected by both', `<span class="key both"></span>${shared}`],
      ['Overlap |A∩B| / (|A|+|B|)', `${fixed(t.overlap)} <span class="muted">(0.5 = same sets)</span>`],
      ['Jaccard |A∩B| / |A∪B|', fixed(t.jaccard)],
      ["Spearman's ρ, all layers", spearmanHtml(t.spearman, t.spearmanCount)],
    ]);
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
    return `${totals}<h3>Per layer</h3>${table(head, layers.map(layerRow), 'layers-table')}`;
  },
};
