import type { LayerSummary } from '@neuronscope/core';
import type { LayerView, ReportContext, ReportSection } from '../context.js';
import { count, fixed, general, percent } from '../format.js';
import { escapeHtml, keyValues, table } from '../html.js';
import { heatSvg, layerBoxesSvg, mapStrength, patchSvg } from '../overlays.js';
import type { NeuronBox, NeuronSet } from '../visual.js';
import { neuronKey } from '../visual-context.js';
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
    `${facts}${layerVisual(view, ctx)}<div class="pair">${selectionTable('correlation', view, threshold)}${selectionTable('precision', view, threshold)}</div>${note}</section>`
  );
}

const SET_CLASS: Record<NeuronSet, string> = { correlation: 'corr', precision: 'prec', both: 'both' };
const SET_TAG: Record<NeuronSet, string> = { correlation: 'correlation', precision: 'precision', both: '◆ both' };

/** The layer's selected channels in display order, with the set each belongs to. */
function selectedChannels(view: LayerView): { channel: number; set: NeuronSet }[] {
  const s = view.summary;
  const byPrecision = new Set(s.byPrecision.map((n) => n.channel));
  const list = s.byCorrelation.map((n) => ({
    channel: n.channel,
    set: (byPrecision.has(n.channel) ? 'both' : 'correlation') as NeuronSet,
  }));
  for (const n of s.byPrecision) if (!view.shared.has(n.channel)) list.push({ channel: n.channel, set: 'precision' });
  return list;
}

/** A neuron's card: the patch under its box, its heat map with the box, and a caption. */
function card(ctx: ReportContext, layerIndex: number, channel: number, set: NeuronSet, box: NeuronBox | undefined) {
  const v = ctx.visual;
  const map = v.maps?.byNeuron.get(neuronKey(layerIndex, channel));
  const facts: string[] = [];
  let patch = '<div class="placeholder">no box</div>';
  if (box && box.activation > 0) {
    patch = patchSvg(v.images, box);
    const [h, w] = box.field.size;
    facts.push(box.field.global ? 'sees the whole input' : `field ${w}×${h} px at (${box.unit.y}, ${box.unit.x})`);
  } else if (box) {
    patch = '<div class="placeholder">silent on the clean image</div>';
  }
  let heat = '<div class="placeholder">no map</div>';
  if (map && v.maps) {
    const { meta } = v.maps;
    if (map.heat.defined === 0) {
      heat = '<div class="placeholder">constant over the masks: no map</div>';
      facts.push('no map');
    } else {
      const cells = { width: meta.mapWidth, height: meta.mapHeight, block: meta.block };
      heat = heatSvg(v.images, map.heat, cells, `heat map of layer ${layerIndex} channel ${channel}`, box ?? null);
      facts.push(mapStrength(map.heat.peak, v.maps.chance));
    }
  }
  return (
    `<figure class="card ${SET_CLASS[set]}"><div class="card-images">${patch}${heat}</div>` +
    `<figcaption><strong>channel ${channel}</strong> <span class="tag ${SET_CLASS[set]}">${SET_TAG[set]}</span><br>` +
    `<span class="muted">${facts.join(' · ')}</span></figcaption></figure>`
  );
}

/** The layer's boxes on the photo and one card per selected neuron. */
function layerVisual(view: LayerView, ctx: ReportContext): string {
  const v = ctx.visual;
  const s = view.summary;
  const channels = selectedChannels(view);
  if (channels.length === 0) return '';
  const boxes = v.boxesByLayer.get(s.layerIndex) ?? [];
  const boxOf = new Map(boxes.map((b) => [b.channel, b]));
  const parts: string[] = [];
  if (boxes.length) {
    const label = `boxes of the selected neurons of layer ${s.layerIndex}`;
    parts.push(
      `<figure class="layer-boxes">${layerBoxesSvg(v.images, boxes, label)}<figcaption>Receptive fields of the ` +
        'selected neurons at their most active unit, labelled by channel: <span class="key corr"></span>correlation ' +
        '(solid), <span class="key prec"></span>precision (dashed), <span class="key both"></span>both.</figcaption></figure>',
    );
  }
  const cards = channels.map((c) => card(ctx, s.layerIndex, c.channel, c.set, boxOf.get(c.channel))).join('');
  parts.push(`<div class="cards">${cards}</div>`);
  return `<div class="layer-visual">${parts.join('')}</div>`;
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
