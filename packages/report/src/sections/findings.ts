import {
  classHtml,
  type LayerView,
  outputName,
  type ReportContext,
  type ReportSection,
  targetHtml,
  targetProbability,
} from '../context.js';
import { channelLabel } from '../describe.js';
import { count, fixed, general, percent } from '../format.js';
import { escapeHtml } from '../html.js';
import { drawable } from '../overlays.js';
import type { NeuronBox } from '../visual.js';
import { faithfulnessVerdict } from './faithfulness.js';

/** How many layer names a sentence lists before "and N more". */
const MAX_NAMES = 3;

function layerLinks(layers: readonly LayerView[]): string {
  const links = layers
    .slice(0, MAX_NAMES)
    .map((l) => `<a href="#${l.anchor}"><code>${escapeHtml(l.summary.layer)}</code></a>`);
  const more = layers.length - MAX_NAMES;
  const names = more > 0 ? [...links, `${more} more`] : links;
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** Plain words for a rank correlation, by the usual rule-of-thumb bands. */
function describeSpearman(rho: number): string {
  const a = Math.abs(rho);
  if (a < 0.1) return 'the two rankings are essentially unrelated';
  const strength = a < 0.3 ? 'weakly' : a < 0.5 ? 'moderately' : 'strongly';
  return rho > 0
    ? `${strength} related: channels that track the output also tend to be the stable ones`
    : `${strength} opposed: channels that track the output tend to be the less stable ones`;
}

function prediction(ctx: ReportContext): string {
  const s = ctx.summary;
  const p = percent(targetProbability(s));
  if (s.target.source === 'top1') return `The network's top-1 class is ${targetHtml(s)}, with probability ${p}.`;
  const top1 = s.predictions[0];
  const net = top1 ? ` (the network's top-1 is ${classHtml(top1.index, top1.label)})` : '';
  return `The explanation is about ${targetHtml(s)}, chosen by the user${net}; its probability is ${p}.`;
}

function copies(ctx: ReportContext): string {
  const s = ctx.summary;
  const o = s.outputOverCopies;
  return (
    `Over the ${count(s.samplesUsed ?? s.run.perturbation.samples)} <code>${escapeHtml(s.run.perturbation.family)}</code> copies, ` +
    `${percent(s.copiesKeepingTarget)} keep the target as their top-1 class; y (${outputName(s)}) is ${general(o.clean)} ` +
    `on the clean image and ${general(o.mean)} ± ${general(o.std)} over the copies (from ${general(o.min)} to ${general(o.max)}).`
  );
}

function overlap(ctx: ReportContext): string {
  const { total } = ctx.summary;
  const shared = ctx.layers.reduce((n, l) => n + l.shared.size, 0);
  return (
    `Across the ${ctx.layers.length} recorded layers, correlation selects ${total.selectedByCorrelation} neurons and ` +
    `precision ${total.selectedByPrecision}; ${shared} are selected by both: overlap ${fixed(total.overlap)} ` +
    `(0.5 would mean the same sets, 0 nothing in common), Jaccard ${fixed(total.jaccard)}.`
  );
}

/** Which layers agree most and least, among layers where both metrics selected something. */
function agreement(layers: readonly LayerView[]): string | null {
  const both = layers.filter((l) => l.summary.byCorrelation.length && l.summary.byPrecision.length);
  if (both.length < 2) return null;
  const jaccard = (l: LayerView) => l.summary.comparison.jaccard;
  const hi = Math.max(...both.map(jaccard));
  const lo = Math.min(...both.map(jaccard));
  if (hi === lo) return `The two sets agree equally in every layer (Jaccard ${fixed(hi)}).`;
  const at = (v: number) => layerLinks(both.filter((l) => jaccard(l) === v));
  return `The sets agree most in ${at(hi)} (Jaccard ${fixed(hi)}) and least in ${at(lo)} (Jaccard ${fixed(lo)}).`;
}

function spearman(layers: readonly LayerView[]): string {
  const rhos = layers.map((l) => l.summary.comparison.spearman).filter((r): r is number => r !== null);
  if (rhos.length === 0) return "Spearman's ρ between the two scores is not defined in any layer.";
  const mean = rhos.reduce((a, b) => a + b, 0) / rhos.length;
  const range = rhos.length > 1 ? ` (from ${fixed(Math.min(...rhos))} to ${fixed(Math.max(...rhos))})` : '';
  return (
    `Spearman's ρ between correlation and precision, over the channels that have both, averages ${fixed(mean)} ` +
    `across ${rhos.length} layer${rhos.length === 1 ? '' : 's'}${range}: ${describeSpearman(mean)}.`
  );
}

function eligibility(ctx: ReportContext): string {
  const eligible = ctx.layers.reduce((n, l) => n + l.summary.eligible, 0);
  const channels = ctx.layers.reduce((n, l) => n + l.summary.channels, 0);
  const none = ctx.layers.filter((l) => l.summary.eligible === 0);
  const text =
    `${count(eligible)} of ${count(channels)} channels (${percent(channels ? eligible / channels : null)}) have a mean ` +
    `activation of at least ${general(ctx.summary.stats.eligibility)} and so are eligible for precision.`;
  if (none.length === 0) return text;
  const which = none.length === 1 ? 'layer' : 'layers';
  return `${text} In ${none.length} ${which} (${layerLinks(none)}) none is, so precision selects nothing there.`;
}

/** Pearson correlation of two maps over the cells where both are defined (null when it is not). */
export function mapAgreement(a: Float32Array, b: Float32Array): number | null {
  let n = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!) || Number.isNaN(b[i]!)) continue;
    n++;
    sa += a[i]!;
    sb += b[i]!;
  }
  if (n < 3) return null;
  const ma = sa / n;
  const mb = sb / n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]!) || Number.isNaN(b[i]!)) continue;
    cov += (a[i]! - ma) * (b[i]! - mb);
    va += (a[i]! - ma) ** 2;
    vb += (b[i]! - mb) ** 2;
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : null;
}

const average = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

function fields(ctx: ReportContext): string | null {
  const boxes = ctx.visual.boxes.filter((b) => !b.field.global);
  if (boxes.length === 0) return null;
  const first = boxes.reduce((a, b) => (b.layerIndex < a.layerIndex ? b : a));
  const last = boxes.reduce((a, b) => (b.layerIndex > a.layerIndex ? b : a));
  const [h, w] = ctx.summary.run.preprocessing.size;
  const size = (b: typeof first) => `${b.field.size[1]}×${b.field.size[0]}`;
  return (
    `A selected neuron sees ${size(first)} pixels of the ${w}×${h} model input in layer ${first.layerIndex} and ` +
    `${size(last)} in layer ${last.layerIndex}; <a href="#depth">the patches above</a> ` +
    'show where, on the photo, each is most active.'
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

/** What the class layer's selections are, by name: the classes that track the output, and the stable ones. */
function classLayer(ctx: ReportContext): string | null {
  const names = ctx.visual.input.channelNames;
  if (!names || names.size === 0) return null;
  const sentences = ctx.layers
    .filter((l) => names.has(l.summary.layerIndex))
    .map((l) => {
      const s = l.summary;
      const list = (ns: readonly { channel: number }[]) =>
        ns
          .map((n) => `<q>${escapeHtml(channelLabel(ctx, s.layerIndex, n.channel) ?? String(n.channel))}</q>`)
          .join(', ');
      return (
        `In <a href="#${l.anchor}"><code>${escapeHtml(s.layer)}</code></a>, whose channels are the classes, ` +
        `correlation picks ${list(s.byCorrelation) || 'nothing'} and precision ${list(s.byPrecision) || 'nothing'}.`
      );
    });
  return sentences.join(' ') || null;
}

function salient(ctx: ReportContext): string | null {
  const c = boxesOnSalientRegion(ctx, 'correlation');
  const p = boxesOnSalientRegion(ctx, 'precision');
  if (!c || !p || c.total + p.total === 0) return null;
  return (
    `Where the output depends most on the image (the top quarter of the RISE map) lie the most active units of ` +
    `${c.inside} of ${c.total} correlation-selected neurons (${percent(c.total ? c.inside / c.total : null)}) and ` +
    `${p.inside} of ${p.total} precision-selected ones (${percent(p.total ? p.inside / p.total : null)}); a quarter ` +
    'would land there by chance.'
  );
}

function mapsAgreement(ctx: ReportContext): string | null {
  const maps = ctx.visual.maps;
  const output = maps?.outputPearson?.row.map;
  if (!maps || !output) return null;
  const bySet = { correlation: [] as number[], precision: [] as number[] };
  const all = [...maps.byNeuron.values()];
  for (const m of all) {
    const r = mapAgreement(m.row.map, output);
    if (r === null) continue;
    if (m.row.set !== 'precision') bySet.correlation.push(r);
    if (m.row.set !== 'correlation') bySet.precision.push(r);
  }
  const pairs: number[] = [];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length && pairs.length < 20000; j++) {
      const r = mapAgreement(all[i]!.row.map, all[j]!.row.map);
      if (r !== null) pairs.push(Math.abs(r));
    }
  }
  const c = average(bySet.correlation);
  const p = average(bySet.precision);
  const between = average(pairs);
  if (c === null && p === null) return null;
  const above = all.filter((m) => m.heat.peak >= maps.chance).length;
  return (
    `From ${count(maps.meta.masks)} masked copies: the heat maps of the correlation-selected neurons agree with the ` +
    `output's map by r = ${fixed(c)} on average, those of the precision-selected by r = ${fixed(p)}` +
    (between === null ? '' : `; two neurons' maps agree by |r| = ${fixed(between)} on average`) +
    `. ${above} of ${all.length} maps rise above chance (max |r| ≥ ${fixed(maps.chance, 2)}).`
  );
}

function stability(ctx: ReportContext): string | null {
  const points = ctx.visual.input.stability ?? [];
  const last = points[points.length - 1];
  const half = points.length >= 2 ? points[points.length - 2] : undefined;
  if (!last || !half) return null;
  const k = ctx.summary.stats.topK;
  return (
    `With only the first ${count(half.copies)} of the ${count(last.copies)} copies, the top-${k} sets would keep a ` +
    `mean Jaccard of ${fixed(half.correlation)} (correlation) and ${fixed(half.precision)} (precision) with the sets ` +
    'from all copies (channel-level proxies; see the stability chart): ' +
    ((half.correlation ?? 0) >= 0.8 && (half.precision ?? 0) >= 0.8
      ? 'the selections have settled.'
      : 'more copies could still change the selections.')
  );
}

/** The numbers in plain sentences: what was explained, how stable it was, how much the two metrics agree. */
export const findings: ReportSection = {
  id: 'findings',
  title: 'Findings',
  render(ctx) {
    const sentences = [
      prediction(ctx),
      copies(ctx),
      overlap(ctx),
      agreement(ctx.layers),
      spearman(ctx.layers),
      eligibility(ctx),
      classLayer(ctx),
      fields(ctx),
      faithfulnessVerdict(ctx),
      salient(ctx),
      mapsAgreement(ctx),
      stability(ctx),
    ];
    if (ctx.summary.copiesKeepingTarget < 0.5) {
      sentences.push(
        '<strong>Caution:</strong> fewer than half of the copies keep the target class, so the perturbation changes ' +
          'the prediction more often than not; the scores describe the network near this image more than this prediction.',
      );
    }
    return `<ul class="findings">${sentences
      .filter((s) => s !== null)
      .map((s) => `<li>${s}</li>`)
      .join('')}</ul>`;
  },
};
