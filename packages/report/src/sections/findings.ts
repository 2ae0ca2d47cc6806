import {
  classHtml,
  type LayerView,
  outputName,
  type ReportContext,
  type ReportSection,
  targetHtml,
  targetProbability,
} from '../context.js';
import { count, fixed, general, percent } from '../format.js';
import { escapeHtml } from '../html.js';

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
    `Over the ${count(s.run.perturbation.samples)} <code>${escapeHtml(s.run.perturbation.family)}</code> copies, ` +
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
