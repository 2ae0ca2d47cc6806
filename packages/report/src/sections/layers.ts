import type { LayerSummary } from '@neuronscope/core';
import type { LayerView, ReportContext, ReportSection } from '../context.js';
import { ablationWords, channelLabel, neuronName, projectionWords, rankWords, whereWords } from '../describe.js';
import { count, fixed, general, percent } from '../format.js';
import { escapeHtml, keyValues, table } from '../html.js';
import { contextPatchSvg, depth, depthColor, heatSvg, layerBoxesSvg, mapStrength } from '../overlays.js';
import { projectionSvg } from '../projections.js';
import { type NeuronBox, type NeuronSet, neuronAnchor } from '../visual.js';
import { neuronKey } from '../visual-context.js';
import { spearmanHtml } from './comparison.js';
import { selectedChannels } from './neurons.js';

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

/** The channels of a selection as a short list: numbers, or class labels where the channels are the classes. */
function channelList(ctx: ReportContext, layerIndex: number, neurons: readonly Neuron[]): string {
  if (neurons.length === 0) return '—';
  return neurons
    .map((n) => {
      const label = channelLabel(ctx, layerIndex, n.channel);
      return label === null ? String(n.channel) : escapeHtml(label);
    })
    .join(', ');
}

/** The summary line of a layer: its depth colour, name and shape, the agreement and the two selections. */
function layerSummaryLine(view: LayerView, ctx: ReportContext): string {
  const s = view.summary;
  const color = depthColor(depth(s.layerIndex, ...ctx.visual.layerRange));
  return (
    `<summary><span class="swatch" style="background:${color}"></span><span class="muted">${s.layerIndex}</span> ` +
    `<code>${escapeHtml(s.layer)}</code> <span class="muted">${s.channels}×${s.height}×${s.width} · ` +
    `J ${fixed(s.comparison.jaccard, 2)}</span> <span class="sel"><span class="key corr"></span>` +
    `${channelList(ctx, s.layerIndex, s.byCorrelation)} <span class="key prec"></span>` +
    `${channelList(ctx, s.layerIndex, s.byPrecision)}</span></summary>`
  );
}

/** A layer's facts: shape, eligibility, agreement, and what the full table says. */
function layerFacts(view: LayerView, ctx: ReportContext): string {
  const s = view.summary;
  const c = s.comparison;
  const classes: [string, string][] = ctx.visual.input.channelNames?.has(s.layerIndex)
    ? [
        [
          'Channels',
          'the classes: channel c becomes the logit of class c (the layer reaches the output through ' +
            'channel-preserving ops only), so each is named by its label',
        ],
      ]
    : [];
  return keyValues([
    ['Shape', `${s.channels} channels × ${s.height}×${s.width} units`],
    ...classes,
    [
      'Eligible for precision',
      `${count(s.eligible)} of ${count(s.channels)} (${percent(s.channels ? s.eligible / s.channels : null)})`,
    ],
    ['Selected by both', `${view.shared.size}`],
    ['Overlap / Jaccard', `${fixed(c.overlap)} / ${fixed(c.jaccard)}`],
    ["Spearman's ρ", spearmanHtml(c.spearman, c.spearmanCount)],
    ...neuronStats(view),
  ]);
}

/** A layer, closed: its summary line; opened: its cards and boxes, its facts, its two selection tables. */
function layerSection(view: LayerView, ctx: ReportContext): string {
  const s = view.summary;
  const threshold = ctx.summary.stats.eligibility;
  const note = [...s.byCorrelation, ...s.byPrecision].some((n) => n.meanActivation < threshold)
    ? `<p class="muted note">† mean activation below ${general(threshold)}: not eligible for precision.</p>`
    : '';
  return (
    `<details class="layer" id="${view.anchor}">${layerSummaryLine(view, ctx)}` +
    `${layerVisual(view, ctx)}${layerFacts(view, ctx)}<div class="pair">${selectionTable('correlation', view, threshold)}` +
    `${selectionTable('precision', view, threshold)}</div>${note}</details>`
  );
}

const SET_CLASS: Record<NeuronSet, string> = { correlation: 'corr', precision: 'prec', both: 'both' };
const SET_TAG: Record<NeuronSet, string> = { correlation: 'correlation', precision: 'precision', both: '◆ both' };

/** The heat map of a card and a sentence on it, or a placeholder saying why there is none. */
function cardMap(ctx: ReportContext, layerIndex: number, channel: number, box: NeuronBox | undefined) {
  const v = ctx.visual;
  const map = v.maps?.byNeuron.get(neuronKey(layerIndex, channel));
  if (!map || !v.maps) return { svg: '<div class="placeholder">no map</div>', words: '' };
  if (map.heat.defined === 0) {
    return { svg: '<div class="placeholder">constant over the masks: no map</div>', words: 'No heat map.' };
  }
  const { meta } = v.maps;
  const cells = { width: meta.mapWidth, height: meta.mapHeight, block: meta.block };
  const svg = heatSvg(v.images, map.heat, cells, `heat map of layer ${layerIndex} channel ${channel}`, box ?? null);
  return { svg, words: `Heat map: ${mapStrength(map.heat.peak, v.maps.chance)}.` };
}

/** A card's deconvnet projection, a placeholder saying why there is none, or nothing without `deconv.parquet`. */
function cardProjection(ctx: ReportContext, layerIndex: number, channel: number, color: string): string {
  const projections = ctx.visual.projections;
  if (!projections) return '';
  const p = projections.byNeuron.get(neuronKey(layerIndex, channel));
  if (!p) return '<div class="placeholder">no projection</div>';
  if (!p.row.box) return '<div class="placeholder">projection all zero</div>';
  return projectionSvg(p, color, `deconvnet projection of layer ${layerIndex} channel ${channel}`);
}

/** A neuron's card: the photo around its field, its projection, its heat map, and what it is in words. */
function card(ctx: ReportContext, view: LayerView, channel: number, set: NeuronSet, box: NeuronBox | undefined) {
  const v = ctx.visual;
  const layerIndex = view.summary.layerIndex;
  const color = depthColor(depth(layerIndex, ...v.layerRange));
  let patch = '<div class="placeholder">no box</div>';
  if (box && box.activation > 0) patch = contextPatchSvg(v.images, box, color, 0.2);
  else if (box) patch = '<div class="placeholder">silent on the clean image</div>';
  const projection = cardProjection(ctx, layerIndex, channel, color);
  const map = cardMap(ctx, layerIndex, channel, box);
  const atlas = v.input.atlas;
  const anchor = neuronAnchor(layerIndex, channel);
  const examples = atlas?.neurons.has(`${layerIndex}:${channel}`)
    ? `<p class="atlas-link"><a href="${escapeHtml(atlas.href)}#${anchor}">Dataset examples →</a> ` +
      `<span class="muted">(its top images among ${count(atlas.images)})</span></p>`
    : '';
  return (
    `<article class="card ${SET_CLASS[set]}" id="${anchor}" tabindex="-1">` +
    `<div class="card-images${projection ? ' three' : ''}">${patch}${projection}${map.svg}</div>` +
    `<h4>${neuronName(ctx, layerIndex, channel)} <span class="tag ${SET_CLASS[set]}">${SET_TAG[set]}</span></h4>` +
    `<p>${whereWords(ctx, view, box)} ${rankWords(ctx, view, channel)} ${ablationWords(ctx, layerIndex, channel)} ` +
    `${projectionWords(ctx, layerIndex, channel, box)} ${map.words}</p>${examples}</article>`
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
  const cards = channels.map((c) => card(ctx, view, c.channel, c.set, boxOf.get(c.channel))).join('');
  parts.push(`<div class="cards">${cards}</div>`);
  if (boxes.length) {
    const label = `boxes of the selected neurons of layer ${s.layerIndex}`;
    parts.push(
      `<figure class="layer-boxes">${layerBoxesSvg(v.images, boxes, label)}<figcaption>Receptive fields of the ` +
        'selected neurons at their most active unit, labelled by channel: <span class="key corr"></span>correlation ' +
        '(solid), <span class="key prec"></span>precision (dashed), <span class="key both"></span>both.</figcaption></figure>',
    );
  }
  return `<div class="layer-visual">${parts.join('')}</div>`;
}

/** One closed sub-section per recorded layer: its cards, boxes and selections. */
export const layers: ReportSection = {
  id: 'layers',
  title: 'Layer by layer',
  render(ctx) {
    const legend =
      '<p class="legend">One line per layer (the swatch is its depth), with the channels it selected by ' +
      '<span class="key corr"></span>correlation and <span class="key prec"></span>precision; open one for its ' +
      'neurons’ cards. <button type="button" data-details="details.layer" data-open="1" hidden>Open all</button> ' +
      '<button type="button" data-details="details.layer" data-open="0" hidden>Close all</button></p>';
    return legend + ctx.layers.map((view) => layerSection(view, ctx)).join('');
  },
};
