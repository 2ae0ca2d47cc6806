import type { LayerView, ReportContext, ReportSection } from '../context.js';
import { ablationOf, neuronName } from '../describe.js';
import { count, fixed, general } from '../format.js';
import { escapeHtml } from '../html.js';
import { type NeuronSet, neuronAnchor } from '../visual.js';
import { neuronKey } from '../visual-context.js';

/** A selected neuron of a layer and the set it belongs to. */
export interface SelectedChannel {
  readonly channel: number;
  readonly set: NeuronSet;
}

/** The layer's selected channels in display order (correlation's ranks, then precision-only ones), with their set. */
export function selectedChannels(view: LayerView): SelectedChannel[] {
  const s = view.summary;
  const byPrecision = new Set(s.byPrecision.map((n) => n.channel));
  const list: SelectedChannel[] = s.byCorrelation.map((n) => ({
    channel: n.channel,
    set: byPrecision.has(n.channel) ? 'both' : 'correlation',
  }));
  for (const n of s.byPrecision) if (!view.shared.has(n.channel)) list.push({ channel: n.channel, set: 'precision' });
  return list;
}

const SET_TAG: Record<NeuronSet, string> = {
  correlation: '<span class="tag corr">correlation</span>',
  precision: '<span class="tag prec">precision</span>',
  both: '<span class="tag both">◆ both</span>',
};
const SET_FILTER: Record<NeuronSet, string> = {
  correlation: 'correlation',
  precision: 'precision',
  both: 'correlation precision both',
};

/** A numeric cell with its sort value (`data-v`; empty when missing, so it sorts last). */
function cell(value: number | null | undefined, text: string): string {
  const v = value === null || value === undefined || !Number.isFinite(value) ? '' : String(value);
  return `<td class="num" data-v="${v}">${text}</td>`;
}

function row(ctx: ReportContext, view: LayerView, n: SelectedChannel): string {
  const s = view.summary;
  const facts = ctx.facts?.get(`${s.layerIndex}:${n.channel}`);
  const selected = [...s.byCorrelation, ...s.byPrecision].find((x) => x.channel === n.channel)!;
  const rankC = facts?.rankCorrelation ?? s.byCorrelation.findIndex((x) => x.channel === n.channel) + 1;
  const rankP = facts?.rankPrecision ?? s.byPrecision.findIndex((x) => x.channel === n.channel) + 1;
  const box = ctx.visual.boxesByLayer.get(s.layerIndex)?.find((b) => b.channel === n.channel);
  const map = ctx.visual.maps?.byNeuron.get(neuronKey(s.layerIndex, n.channel));
  const alone = ablationOf(ctx, s.layerIndex, n.channel);
  const anchor = neuronAnchor(s.layerIndex, n.channel);
  const field = box ? Math.max(...box.field.size) : null;
  return (
    `<tr data-layer="${s.layerIndex}" data-sets="${SET_FILTER[n.set]}" data-href="${anchor}">` +
    `<td class="num" data-v="${s.layerIndex}">${s.layerIndex}</td>` +
    `<td data-v="${n.channel}"><a href="#${anchor}">${neuronName(ctx, s.layerIndex, n.channel)}</a></td>` +
    `<td data-v="${n.set}">${SET_TAG[n.set]}</td>` +
    cell(rankC || null, rankC ? `#${rankC}` : '—') +
    cell(selected.correlation, fixed(selected.correlation)) +
    cell(rankP || null, rankP ? `#${rankP}` : '—') +
    cell(selected.precision, general(selected.precision)) +
    cell(field, field === null ? '—' : box!.field.global ? 'all' : `${field}`) +
    cell(map?.heat.peak, map && map.heat.defined > 0 ? fixed(map.heat.peak, 2) : '—') +
    cell(alone ? alone.drop * 100 : null, alone ? `${(alone.drop * 100).toFixed(1)}` : '—') +
    '</tr>'
  );
}

/** The sortable column headers: a button each (the script sorts; without it they are plain headings). */
function head(): string {
  const columns: [string, string, string][] = [
    ['layer', 'num', 'layer index'],
    ['neuron', '', 'channel, and its class where the layer’s channels are the classes'],
    ['selected by', '', 'the metric(s) that selected it'],
    ['# corr.', 'num corr', 'rank by correlation in its layer'],
    ['correlation', 'num corr', 'mean |r| of its units with the output'],
    ['# prec.', 'num prec', 'rank by precision among the layer’s eligible channels'],
    ['precision', 'num prec', '1 / mean unit variance'],
    ['field px', 'num', 'receptive field side in model-input pixels'],
    ['map |r|', 'num', 'peak |r| of its heat map'],
    ['alone, drop pp', 'num', 'drop of the target probability when switched off alone (percentage points)'],
  ];
  return `<thead><tr>${columns
    .map(([label, cls, title]) => `<th class="${cls}" title="${title}"><button type="button">${label}</button></th>`)
    .join('')}</tr></thead>`;
}

/** Every selected neuron in one table: filter by layer and metric, sort by any column, open a neuron's card. */
export const neurons: ReportSection = {
  id: 'neurons',
  title: 'Every selected neuron',
  render(ctx) {
    const rows = ctx.layers.flatMap((view) => selectedChannels(view).map((n) => row(ctx, view, n)));
    const layerOptions = ctx.layers
      .map(
        (l) =>
          `<option value="${l.summary.layerIndex}">${l.summary.layerIndex} · ${escapeHtml(l.summary.layer)}</option>`,
      )
      .join('');
    const controls =
      '<div class="controls" id="neuron-controls" hidden>' +
      `<label>Layer <select id="filter-layer"><option value="">all layers</option>${layerOptions}</select></label>` +
      '<label>Selected by <select id="filter-set"><option value="">either metric</option>' +
      '<option value="correlation">correlation</option><option value="precision">precision</option>' +
      '<option value="both">both</option></select></label>' +
      '<span id="filter-count" class="muted" aria-live="polite"></span></div>';
    return (
      `<p>${count(rows.length)} neurons, layer by layer. Click a row (or its name) to open the neuron’s card with its ` +
      'patch, heat map and what it is in words; sort by a column heading.</p>' +
      `${controls}<div class="scroll tall"><table id="neuron-table" class="neurons">${head()}<tbody>${rows.join('')}</tbody></table></div>`
    );
  },
};
