import type { AblationLayer } from '@neuronscope/core';
import type { ReportSection } from '../context.js';
import { count, fixed, percent } from '../format.js';
import { escapeHtml, keyValues, table } from '../html.js';

/** A signed probability change in percentage points, 2 decimals: `+12.34 pp`. */
function points(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const v = x * 100;
  const text = Math.abs(v) < 0.005 ? '0.00' : v.toFixed(2);
  return `${v > 0 && text !== '0.00' ? '+' : ''}${text}&nbsp;pp`;
}

function setCells(set: AblationLayer['correlation']): string {
  if (set === null) return '<td class="num">—</td><td class="num">—</td>';
  const flip = set.top1Changed ? ' <span class="muted" title="top-1 changed">↯</span>' : '';
  return `<td class="num">${points(set.drop)}${flip}</td><td class="num">${percent(set.percentile)}</td>`;
}

function layerRow(l: AblationLayer): string {
  const r = l.random;
  return (
    `<tr><td class="num">${l.layerIndex}</td><td><a href="#layer-${l.layerIndex}"><code>${escapeHtml(l.layer)}</code></a></td>` +
    `${setCells(l.correlation)}${setCells(l.precision)}` +
    `<td class="num">${points(r.mean)} <span class="muted">(${points(r.p5)} … ${points(r.p95)})</span></td>` +
    `<td class="num">${percent(r.top1Changed)}</td><td class="num">${l.pool} (${count(l.poolSize)})</td></tr>`
  );
}

/**
 * The ablation test (`neuronscope ablate`): the drop of the target probability when the selected channels of a
 * layer are switched off on the clean image, against random sets of the same size.
 */
export const ablation: ReportSection = {
  id: 'ablation',
  title: 'Ablation test',
  collapsed: true,
  teaser: ({ summary }) => {
    const a = summary.ablation;
    if (!a) return 'not run (<code>neuronscope ablate</code>)';
    const t = a.totals;
    return `switching off the selected sets beats random sets in ${t.correlationAboveP95} of ${t.layers} layers (correlation), ${t.precisionAboveP95} (precision)`;
  },
  render({ summary }) {
    const a = summary.ablation;
    if (!a) {
      return '<p class="muted">Not run for this report. <code>neuronscope ablate --out &lt;run directory&gt;</code> (or <code>explain --ablate</code>) switches off the selected channels of each layer on the clean image, and random channel sets for comparison, and adds the result here.</p>';
    }
    const t = a.totals;
    const fill = a.mode === 'zero' ? 'set to zero' : 'set to their mean activation over the copies';
    const intro = `<p>On the clean image, the ${a.k} channels of a layer selected by each metric were ${fill}, one layer at a time, and the drop of the target's probability recorded; then the same for ${count(a.randomSets)} random ${a.k}-channel sets per layer. A selected set whose drop lies above the random sets' 95th percentile has more influence on the output than chance. ↯ marks an ablation that changed the top-1 class.</p>`;
    const kv = keyValues([
      ['Target probability, unablated', percent(a.cleanProbability)],
      ['Correlation set above random 95th pct.', `${t.correlationAboveP95} of ${t.layers} layers`],
      ['Precision set above random 95th pct.', `${t.precisionAboveP95} of ${t.layers} layers`],
      [
        'Mean percentile among random sets',
        `correlation ${percent(t.meanPercentileCorrelation)}, precision ${percent(t.meanPercentilePrecision)}`,
      ],
      ['Edited graph vs original (max |Δ logit|)', fixed(a.baselineMaxAbsLogitDiff, 7)],
    ]);
    const head = [
      '<th class="num">#</th>',
      '<th>layer</th>',
      '<th class="num corr">corr. drop</th>',
      '<th class="num corr">pct.</th>',
      '<th class="num prec">prec. drop</th>',
      '<th class="num prec">pct.</th>',
      '<th class="num">random: mean (5th … 95th pct.)</th>',
      '<th class="num">random top-1 changed</th>',
      '<th class="num">pool</th>',
    ];
    return `${intro}${kv}${table(head, a.layers.map(layerRow), 'ablation-table')}`;
  },
};
