import type { ReportContext, ReportSection } from '../context.js';
import { count, fixed } from '../format.js';
import { escapeHtml } from '../html.js';
import { coversInput, depthBoxesSvg, depthLegendSvg, drawable, heatSvg, pearsonLegendHtml } from '../overlays.js';
import type { NeuronBox } from '../visual.js';

function note(text: string | undefined, fallback: string): string {
  return `<p class="muted note">${escapeHtml(text ?? fallback)}</p>`;
}

/** The first-ranked neuron of every layer in a selection, with its box (when it has one). */
export function leaders(ctx: ReportContext, which: 'correlation' | 'precision'): NeuronBox[] {
  const list: NeuronBox[] = [];
  for (const l of ctx.summary.layers) {
    const first = (which === 'correlation' ? l.byCorrelation : l.byPrecision)[0];
    const box = first && ctx.visual.boxesByLayer.get(l.layerIndex)?.find((b) => b.channel === first.channel);
    if (box) list.push(box);
  }
  return list;
}

/** The boxes of one selection's first-ranked neurons over the photo, coloured by depth, in a figure. */
function boxesFigure(ctx: ReportContext, which: 'correlation' | 'precision'): string {
  const v = ctx.visual;
  const [h, w] = ctx.summary.run.preprocessing.size;
  const firsts = leaders(ctx, which);
  const silent = firsts.filter((b) => b.activation <= 0).length;
  const whole = drawable(firsts).filter((b) => coversInput(b, w, h));
  const shown = drawable(firsts).filter((b) => !coversInput(b, w, h));
  const label = `boxes of the first neuron of each layer selected by ${which}, coloured by layer depth`;
  const svg = depthBoxesSvg(v.images, shown, v.layerRange, label, 'reference', v.inputRect);
  const extra = [
    whole.length ? `${whole.length} see the whole input (the dashed frame)` : '',
    silent ? `${silent} silent on the clean image` : '',
  ].filter(Boolean);
  const cls = which === 'correlation' ? 'corr' : 'prec';
  return (
    `<figure class="boxes ${cls}">${svg}<figcaption><span class="key ${cls}"></span>` +
    `<strong>First by ${which}</strong> in each layer: ${count(shown.length)} boxes` +
    `${extra.length ? `; ${extra.join(', ')}` : ''}.</figcaption></figure>`
  );
}

/** Share of neurons of a set whose box centre lies where the output's RISE map is in its top quarter. */
export function boxesOnSalientRegion(ctx: ReportContext, which: 'correlation' | 'precision') {
  const maps = ctx.visual.maps;
  if (!maps?.rise) return null;
  const { meta } = maps;
  const values = Array.from(maps.rise.row.map).filter((x) => !Number.isNaN(x));
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const threshold = sorted[Math.floor(0.75 * (sorted.length - 1))]!;
  const boxes = drawable(ctx.visual.boxes).filter((b) => b.set === which || b.set === 'both');
  const inside = boxes.filter((b: NeuronBox) => {
    const cy = Math.floor((b.inputBox.top + b.inputBox.bottom) / 2 / meta.block);
    const cx = Math.floor((b.inputBox.left + b.inputBox.right) / 2 / meta.block);
    const v = maps.rise!.row.map[cy * meta.mapWidth + cx];
    return v !== undefined && v >= threshold;
  });
  return { inside: inside.length, total: boxes.length };
}

function riseFigure(ctx: ReportContext): string {
  const maps = ctx.visual.maps;
  if (!maps?.rise) return '';
  const { meta } = maps;
  const cells = { width: meta.mapWidth, height: meta.mapHeight, block: meta.block };
  const rise = heatSvg(ctx.visual.images, maps.rise.heat, cells, 'RISE saliency of the output', null);
  const pearson = maps.outputPearson
    ? heatSvg(ctx.visual.images, maps.outputPearson.heat, cells, 'Pearson map of the output', null)
    : '';
  return (
    '<div class="figures">' +
    `<figure class="heatfig">${rise}<figcaption><strong>Where the output depends on the image (RISE)</strong>: ` +
    `mean of y over the ${count(meta.masks)} masked copies, weighted by how much of each region a copy keeps; ` +
    `bright = keeping this region keeps y high.</figcaption></figure>` +
    (pearson
      ? `<figure class="heatfig">${pearson}<figcaption><strong>The same as a correlation</strong>: Pearson r between ` +
        `each region's mask value and y (max |r| ${fixed(maps.outputPearson!.heat.peak, 2)}). ${pearsonLegendHtml()}</figcaption></figure>`
      : '') +
    '</div>'
  );
}

/** Where, in the photo, the selected neurons of every layer look, and where the output depends on the image. */
export const where: ReportSection = {
  id: 'where',
  title: 'Where the selected neurons look',
  render(ctx) {
    const v = ctx.visual;
    const parts: string[] = [];
    if (v.boxes.length) {
      parts.push(
        '<p>Each box is the region of the photo that a neuron sees at its most active position on the clean image: ' +
          'the receptive field of that unit, computed exactly from the network graph (kernels, strides, padding) and ' +
          'mapped back through the resize and crop of preprocessing; the photo outside what the network sees is ' +
          "dimmed. Shown here: each layer's first-ranked neuron by each metric; every selected neuron is in its " +
          `layer's section. Hover a box for its layer and channel. ${depthLegendSvg(v.layerRange[0], v.layerRange[1])}</p>`,
        `<div class="figures pair-figures">${boxesFigure(ctx, 'correlation')}${boxesFigure(ctx, 'precision')}</div>`,
      );
      if (v.input.notes?.boxes) parts.push(note(v.input.notes.boxes, ''));
    } else {
      parts.push(note(v.input.notes?.boxes, 'No receptive-field boxes: the report was rendered without the model.'));
    }
    if (v.maps) {
      parts.push(riseFigure(ctx));
      if (v.input.notes?.maps) parts.push(note(v.input.notes.maps, ''));
    } else {
      parts.push(
        note(
          v.input.notes?.maps,
          "No heat maps: run 'neuronscope maps --out <run>' (explain does it unless --masks 0), then the report again.",
        ),
      );
    }
    return parts.join('');
  },
};
