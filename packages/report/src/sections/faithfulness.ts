import type { ReportContext, ReportSection } from '../context.js';
import { type CurveScore, faithfulnessScores } from '../faithfulness.js';
import { count, fixed } from '../format.js';
import { escapeHtml } from '../html.js';

/** `0.070 (random maps 0.22–0.42, mean 0.28)`. */
function areaText(s: CurveScore): string {
  return (
    `<strong>${fixed(s.map)}</strong> <span class="muted">(${count(s.random.length)} random maps: ` +
    `${fixed(s.randomMin)}–${fixed(s.randomMax)}, mean ${fixed(s.randomMean)})</span>`
  );
}

/** One sentence on whether the map is better than chance for this image, from both curves. */
export function faithfulnessVerdict(ctx: ReportContext): string | null {
  const f = ctx.visual.input.faithfulness;
  const scores = f ? faithfulnessScores(f.meta) : null;
  if (!scores) return null;
  const { deletion: d, insertion: i } = scores;
  const both = d.beatsRandom && i.beatsRandom;
  const neither = !d.beatsRandom && !i.beatsRandom;
  const verdict = both
    ? 'better than every random map on both curves: it points at what the model uses'
    : neither
      ? 'no better than random maps on either curve: do not read it as what the model uses'
      : `better than every random map on the ${d.beatsRandom ? 'deletion' : 'insertion'} curve only: read it with care`;
  return (
    `The heat map of the output is ${verdict} (area under the deletion curve ${fixed(d.map)} against ` +
    `${fixed(d.randomMin)}–${fixed(d.randomMax)} for random maps, lower is better; insertion ${fixed(i.map)} against ` +
    `${fixed(i.randomMin)}–${fixed(i.randomMax)}, higher is better).`
  );
}

/** Deletion and insertion curves of the RISE map against random maps: is the map better than chance here? */
export const faithfulness: ReportSection = {
  id: 'faithfulness',
  title: 'Is the heat map faithful?',
  render(ctx) {
    const v = ctx.visual;
    const f = v.input.faithfulness;
    const scores = f ? faithfulnessScores(f.meta) : null;
    if (!f || !scores || !v.charts.faithfulness) {
      const note =
        v.input.notes?.faithfulness ??
        "No deletion and insertion curves: run 'neuronscope maps --out <run>' (it measures them with the heat maps).";
      return `<p class="muted note">${escapeHtml(note)}</p>`;
    }
    const verdict = faithfulnessVerdict(ctx);
    return (
      `<p>${verdict}</p>` +
      `<div class="faith"><figure class="chartfig" id="chart-faithfulness">${v.charts.faithfulness.svg}<figcaption>` +
      `The map’s cells are ranked from most to least salient. <strong>Deletion</strong> replaces the top fraction of ` +
      `the image by ${escapeHtml(f.meta.deletionBaseline)}; <strong>insertion</strong> starts from ` +
      `${escapeHtml(f.meta.insertionBaseline)} and puts the top fraction of the image back. ${count(f.meta.steps + 1)} ` +
      `points per curve, one copy each through the network. Grey: the same for ${count(f.meta.randomMaps)} random ` +
      'maps as smooth as the RISE map (the chance level for this image).</figcaption></figure>' +
      `<dl class="kv"><dt>Deletion area</dt><dd>${areaText(scores.deletion)}</dd>` +
      `<dt>Insertion area</dt><dd>${areaText(scores.insertion)}</dd></dl></div>`
    );
  },
};
