/**
 * A neuron in words: its name (a class label where the layer's channels are the classes), where it sits in the
 * network and what it sees of the input, how both metrics rank it, and whether switching it off alone moves the
 * output. Every card, the neuron table and the atlas links say the same thing from here.
 */
import type { LayerView, ReportContext } from './context.js';
import { count, fixed, general, percent } from './format.js';
import { escapeHtml } from './html.js';
import type { NeuronBox } from './visual.js';

/** A change of the target probability of at least this much (1 percentage point) moves the output. */
export const MOVES_OUTPUT = 0.01;
/** Below this (0.1 percentage point) the output does not move at all. */
const NO_MOVE = 0.001;

/** The class label of a channel, when its layer's channels are the classes. */
export function channelLabel(ctx: ReportContext, layerIndex: number, channel: number): string | null {
  return ctx.visual.input.channelNames?.get(layerIndex)?.[channel] ?? null;
}

/** `channel 965 “burrito”`, or `channel 43`: escaped HTML. */
export function neuronName(ctx: ReportContext, layerIndex: number, channel: number): string {
  const label = channelLabel(ctx, layerIndex, channel);
  return label === null ? `channel ${channel}` : `channel ${channel} <q>${escapeHtml(label)}</q>`;
}

/** Shallow, middle or deep, by the layer's position among the recorded layers. */
export function depthWord(ctx: ReportContext, layerIndex: number): string {
  const [first, last] = ctx.visual.layerRange;
  const t = last > first ? (layerIndex - first) / (last - first) : 0;
  return t < 1 / 3 ? 'shallow' : t <= 2 / 3 ? 'middle' : 'deep';
}

/** `Layer 3 (4th of 26 recorded, shallow): sees 11×11 px of the 224×224 input (0.2%); most active at ...`. */
export function whereWords(ctx: ReportContext, view: LayerView, box: NeuronBox | undefined): string {
  const position = ctx.layers.indexOf(view) + 1;
  const index = view.summary.layerIndex;
  const layer = `Layer ${index} (${ordinal(position)} of ${ctx.layers.length} recorded, ${depthWord(ctx, index)})`;
  if (!box) return `${layer}.`;
  const [H, W] = ctx.summary.run.preprocessing.size;
  const [h, w] = box.field.size;
  const share = Math.min(1, (Math.min(h, H) * Math.min(w, W)) / (H * W));
  const sees =
    box.field.global || share >= 0.999
      ? 'sees the whole input'
      : `sees ${w}×${h} px of the ${W}×${H} input (${percent(share)})`;
  const silent =
    box.activation <= 0 ? '; silent on the clean image' : `; most active at row ${box.unit.y}, column ${box.unit.x}`;
  return `${layer}: ${sees}${silent}.`;
}

/** 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st. */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** `#1 of 64 by correlation (0.431); #12 of 40 eligible by precision (2.3e3)`. */
export function rankWords(ctx: ReportContext, view: LayerView, channel: number): string {
  const s = view.summary;
  const facts = ctx.facts?.get(`${s.layerIndex}:${channel}`);
  const selected = [...s.byCorrelation, ...s.byPrecision].find((n) => n.channel === channel);
  const corrRank = facts?.rankCorrelation ?? rankIn(s.byCorrelation, channel);
  const precRank = facts?.rankPrecision ?? rankIn(s.byPrecision, channel);
  // The summary's values of a selected neuron are the ones its layer's tables show; the full table adds the rest.
  const correlation = selected ? selected.correlation : (facts?.correlation ?? null);
  const precision = selected ? selected.precision : (facts?.precision ?? null);
  const mean = selected ? selected.meanActivation : (facts?.meanActivation ?? null);
  const eligible = facts ? facts.eligible : mean !== null && mean >= ctx.summary.stats.eligibility;
  const byCorrelation =
    corrRank === null
      ? `correlation ${fixed(correlation)}`
      : `<strong>#${corrRank}</strong> of ${count(s.channels)} by correlation (${fixed(correlation)})`;
  const byPrecision = !eligible
    ? `not eligible for precision (mean activation ${general(mean)} &lt; ${general(ctx.summary.stats.eligibility)})`
    : precRank === null
      ? `precision ${general(precision)}`
      : `<strong>#${precRank}</strong> of ${count(s.eligible)} eligible by precision (${general(precision)})`;
  return `${byCorrelation}; ${byPrecision}.`;
}

function rankIn(list: readonly { channel: number }[], channel: number): number | null {
  const i = list.findIndex((n) => n.channel === channel);
  return i < 0 ? null : i + 1;
}

/** A signed change in percentage points: `−2.1 pp`. */
function pointsText(x: number): string {
  const v = -x * 100;
  // Two decimals below one point, so a small change does not round to a whole tenth.
  const digits = Math.abs(v) < 1 ? 2 : 1;
  const text = Math.abs(v).toFixed(digits);
  const zero = Number(text) === 0;
  return `${zero ? '±' : v < 0 ? '−' : '+'}${text}&nbsp;pp`;
}

/** The neuron switched off alone, from the ablation test; null when it was not run (or not for this neuron). */
export function ablationOf(ctx: ReportContext, layerIndex: number, channel: number) {
  const a = ctx.summary.ablation;
  const n = a?.layers.find((l) => l.layerIndex === layerIndex)?.neurons?.find((x) => x.channel === channel);
  return a && n ? { ...n, clean: a.cleanProbability } : null;
}

/** Whether switching the neuron off alone moves the output, in words. */
export function ablationWords(ctx: ReportContext, layerIndex: number, channel: number): string {
  const n = ablationOf(ctx, layerIndex, channel);
  if (!n) {
    return ctx.summary.ablation
      ? 'Not switched off alone in the ablation test (its layer was not tested).'
      : 'Ablation not run (<code>neuronscope ablate</code> says whether switching it off moves the output).';
  }
  const target = escapeHtml(ctx.summary.target.label ?? `class ${ctx.summary.target.index}`);
  const change = `p(${target}) ${percent(n.clean)} → ${percent(n.probability)} (${pointsText(n.drop)})`;
  const verdict = n.top1Changed
    ? '<strong>changes the top-1 class</strong>'
    : Math.abs(n.drop) >= MOVES_OUTPUT
      ? '<strong>moves the output</strong>'
      : Math.abs(n.drop) >= NO_MOVE
        ? 'barely moves the output'
        : 'does not move the output';
  return `Switched off alone: ${change}: it ${verdict}.`;
}

/** The card's sentence on the neuron's deconvnet projection: how large its box is against its receptive field. */
export function projectionWords(ctx: ReportContext, layerIndex: number, channel: number, box: NeuronBox | undefined) {
  const projections = ctx.visual.projections;
  const skipped = projections?.meta.skipped.find((s) => s.layerIndex === layerIndex);
  if (!projections) return '';
  if (skipped) return `No deconvnet projection: ${escapeHtml(skipped.reason)}.`;
  const p = projections.byNeuron.get(`${layerIndex}:${channel}`);
  if (!p) return '';
  const b = p.row.box;
  if (!b) return 'Its deconvnet projection is zero everywhere (nothing reaches the input).';
  const [w, h] = [b.right - b.left + 1, b.bottom - b.top + 1];
  const threshold = `${Number((projections.meta.boxThreshold * 100).toFixed(1))}%`;
  const [H, W] = ctx.summary.run.preprocessing.size;
  const field = box && !box.field.global ? Math.min(box.field.size[0], H) * Math.min(box.field.size[1], W) : H * W;
  return (
    `Deconvnet projection: at least ${threshold} of its peak within ${w}×${h} px ` +
    `(${percent((w * h) / field)} of ${box && !box.field.global ? 'its receptive field' : 'the input'}).`
  );
}
