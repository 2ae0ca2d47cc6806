import type { LayerSummary } from '@neuronscope/core';
import type { LayerView, ReportContext, ReportSection } from '../context.js';
import { count, fixed, general, percent } from '../format.js';
import { escapeHtml, keyValues, table } from '../html.js';
import { spearmanHtml } from './comparison.js';

type Neuron = LayerSummary['byCorrelation'][number];
type Metric = 'correlation' | 'precision';

const METRIC_CLASS: Record<Metric, string> = { correlation: 'corr', precision: 'prec' };

function neuronRow(n: Neuron, rank: number, view: LayerView, threshold: number): string {
  const both = view.shared.has(n.channel);
  const mark = both ? ' <span class="mark" title="selected by both metrics">◆ both</span>' : '';
  const precision =
    n.meanActivation < threshold
      ? `<td class="num inel" title="mean activation below ${general(threshold)}: not eligible for precision">${general(n.precision)}&nbsp;†</td>`
      : `<td class="num">${general(n.precision)}</td>`;
  return (
    `<tr${both ? ' class="both"' : ''}><td class="num">${rank}</td><td class="num">${n.channel}${mark}</td>` +
    `<td class="num">${fixed(n.correlation)}</td>${precision}<td class="num">${general(n.meanActivation)}</td></tr>`
  );
}

function selectionTable(metric: Metric, view: LayerView, threshold: number): string {
  const neurons = metric === 'correlation' ? view.summary.byCorrelation : view.summary.byPrecision;
  const cls = METRIC_CLASS[metric];
  const head = ['#', 'channel', 'correlation', 'precision', 'mean act.'].map(
    (h) => `<th class="num${h === metric ? ` ${cls}` : ''}">${h}</th>`,
  );
  const rows = neurons.length
    ? neurons.map((n, i) => neuronRow(n, i + 1, view, threshold))
    : ['<tr><td colspan="5" class="muted">no channel selected</td></tr>'];
  return `<div class="selection ${cls}"><h4>Selected by ${metric}</h4>${table(head, rows, 'neurons')}</div>`;
}

/** What the full neurons table says about the layer's other channels, when it was given. */
function neuronStats(view: LayerView): [string, string][] {
  const st = view.stats;
  if (!st) return [];
  const rows: [string, string][] = [
    [
      'All channels, correlation',
      `defined for ${count(st.withCorrelation)} of ${count(st.channels)}; median ${fixed(st.medianCorrelation)}, max ${fixed(st.maxCorrelation)}`,
    ],
    [
      'Eligible channels, precision',
      `median ${general(st.medianPrecision)}; ${count(st.constantEligible)} constant over the copies (precision ∞)`,
    ],
  ];
  if (st.eligible !== view.summary.eligible) {
    rows.push([
      'Warning',
      `<span class="warn">the neurons table has ${count(st.eligible)} eligible channels, the summary ${count(view.summary.eligible)}: are they from the same run?</span>`,
    ]);
  }
  return rows;
}

function layerSection(view: LayerView, ctx: ReportContext): string {
  const s = view.summary;
  const c = s.comparison;
  const threshold = ctx.summary.stats.eligibility;
  const facts = keyValues([
    ['Shape', `${s.channels} channels × ${s.height}×${s.width} units`],
    [
      'Eligible for precision',
      `${count(s.eligible)} of ${count(s.channels)} (${percent(s.channels ? s.eligible / s.channels : null)})`,
    ],
    ['Selected by both', `${view.shared.size}`],
    ['Overlap / Jaccard', `${fixed(c.overlap)} / ${fixed(c.jaccard)}`],
    ["Spearman's ρ", spearmanHtml(c.spearman, c.spearmanCount)],
    ...neuronStats(view),
  ]);
  const note = [...s.byCorrelation, ...s.byPrecision].some((n) => n.meanActivation < threshold)
    ? `<p class="muted note">† mean activation below ${general(threshold)}: not eligible for precision.</p>`
    : '';
  return (
    `<section class="layer" id="${view.anchor}"><h3><span class="muted">${s.layerIndex}</span> <code>${escapeHtml(s.layer)}</code></h3>` +
    `${facts}<div class="pair">${selectionTable('correlation', view, threshold)}${selectionTable('precision', view, threshold)}</div>${note}</section>`
  );
}

/** One sub-section per recorded layer: its selections side by side, shared channels highlighted. */
export const layers: ReportSection = {
  id: 'layers',
  title: 'Layers',
  render(ctx) {
    const legend =
      '<p class="legend"><span class="key corr"></span>correlation <span class="key prec"></span>precision ' +
      '<span class="key both"></span>selected by both (◆)</p>';
    return legend + ctx.layers.map((view) => layerSection(view, ctx)).join('');
  },
};
