import type { ReportContext, ReportSection } from '../context.js';
import { channelLabel } from '../describe.js';
import { count } from '../format.js';
import { escapeHtml } from '../html.js';
import {
  contextPatchSvg,
  coversInput,
  depth,
  depthBoxesSvg,
  depthColor,
  depthLegendSvg,
  drawable,
} from '../overlays.js';
import { type NeuronBox, neuronAnchor } from '../visual.js';

type Metric = 'correlation' | 'precision';
const CLS: Record<Metric, string> = { correlation: 'corr', precision: 'prec' };

/** The first-ranked neuron of every layer in a selection, with its box (when it has one). */
export function leaders(ctx: ReportContext, which: Metric): NeuronBox[] {
  const list: NeuronBox[] = [];
  for (const l of ctx.summary.layers) {
    const first = (which === 'correlation' ? l.byCorrelation : l.byPrecision)[0];
    const box = first && ctx.visual.overview.boxesByLayer.get(l.layerIndex)?.find((b) => b.channel === first.channel);
    if (box) list.push(box);
  }
  return list;
}

/** Every neuron a metric selected, layer by layer in rank order, with its box when it has one. */
function selection(
  ctx: ReportContext,
  which: Metric,
): { layerIndex: number; channel: number; rank: number; box?: NeuronBox }[] {
  return ctx.summary.layers.flatMap((l) =>
    (which === 'correlation' ? l.byCorrelation : l.byPrecision).map((n, i) => {
      const box = ctx.visual.overview.boxesByLayer.get(l.layerIndex)?.find((b) => b.channel === n.channel);
      return { layerIndex: l.layerIndex, channel: n.channel, rank: i + 1, ...(box ? { box } : {}) };
    }),
  );
}

/** One tile of the mosaic: the photo around the neuron's field, framed in its layer's depth colour, a link to its card. */
function tile(ctx: ReportContext, n: ReturnType<typeof selection>[number], which: Metric): string {
  const color = depthColor(depth(n.layerIndex, ...ctx.visual.layerRange));
  const label = channelLabel(ctx, n.layerIndex, n.channel);
  const title = escapeHtml(
    `layer ${n.layerIndex}, channel ${n.channel}${label === null ? '' : ` “${label}”`}: #${n.rank} by ${which}`,
  );
  const inner =
    n.box && n.box.activation > 0
      ? contextPatchSvg(ctx.visual.images, n.box, color, 0.12)
      : '<span class="silent" aria-hidden="true">·</span>';
  return (
    `<a class="tile" href="#${neuronAnchor(n.layerIndex, n.channel)}" style="border-color:${color}" title="${title}" ` +
    `aria-label="${title}">${inner}</a>`
  );
}

/** The photo with each layer's first box and the mosaic of every selected neuron's patch, for one metric. */
function metricRow(ctx: ReportContext, which: Metric): string {
  const v = ctx.visual;
  const [h, w] = ctx.summary.run.preprocessing.size;
  const firsts = drawable(leaders(ctx, which)).filter((b) => !coversInput(b, w, h));
  const label = `boxes of the first neuron of each layer selected by ${which}, coloured by layer depth`;
  const boxes = depthBoxesSvg(v.images, firsts, v.layerRange, label, 'reference', v.inputRect);
  const neurons = selection(ctx, which);
  const silent = neurons.filter((n) => !n.box || n.box.activation <= 0).length;
  const cls = CLS[which];
  return (
    `<div class="depth-row ${cls}"><figure class="depth-boxes">${boxes}<figcaption><span class="key ${cls}"></span>` +
    `<strong>By ${which}</strong>: each layer's first neuron (${count(firsts.length)} boxes smaller than the input).</figcaption></figure>` +
    `<div class="mosaic-wrap"><p class="mosaic-caption">All ${count(neurons.length)} neurons ${which} selected, shallow to deep` +
    `${silent ? ` (${count(silent)} ${v.overview.kind === 'deconv' ? 'without a deconvnet box' : 'silent on the clean image'}: a dot)` : ''}; click one for its card.</p>` +
    `<div class="mosaic" role="list">${neurons.map((n) => tile(ctx, n, which)).join('')}</div></div></div>`
  );
}

/**
 * The paper's figure: the patches of the neurons each metric selects, coloured by layer depth, side by side, so
 * where each metric looks (and how that moves with depth) is one picture.
 */
export const depthFigure: ReportSection = {
  id: 'depth',
  title: 'What the selected neurons see, shallow to deep',
  render(ctx) {
    const v = ctx.visual;
    const deconv = v.overview.kind === 'deconv';
    const why = deconv ? v.input.notes?.deconv : v.input.notes?.boxes;
    if (v.overview.boxes.length === 0) {
      const fallback = deconv
        ? 'No deconvnet boxes: no selected neuron has a projection.'
        : 'No receptive-field boxes: the report was rendered without the model.';
      return `<p class="muted note">${escapeHtml(why ?? fallback)}</p>`;
    }
    const note = why ? `<p class="muted note">${escapeHtml(why)}</p>` : '';
    const threshold = v.projections ? `${Math.round(v.projections.meta.boxThreshold * 100)}%` : '';
    const boxes = deconv
      ? 'deconvnet box (where its projection onto the input, from its most active unit on the clean image, is at ' +
        `least ${threshold} of its peak; Zeiler &amp; Fergus, as the paper), framed in the colour of its layer’s depth. ` +
        '<code>--boxes receptive-field</code> draws the receptive fields instead.'
      : 'receptive field at its most active position on the clean image (the field itself outlined), framed in the ' +
        'colour of its layer’s depth. Boxes are computed exactly from the network graph and mapped back through ' +
        'preprocessing; <code>--boxes deconv</code> draws the deconvnet’s instead.';
    return (
      `<p>Each patch is the photo around a selected neuron’s ${boxes} ${depthLegendSvg(v.layerRange[0], v.layerRange[1])}</p>` +
      `${metricRow(ctx, 'correlation')}${metricRow(ctx, 'precision')}${note}`
    );
  },
};
