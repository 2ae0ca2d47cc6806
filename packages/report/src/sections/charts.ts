import { outputName, type ReportSection } from '../context.js';
import { count, percent } from '../format.js';
import { escapeHtml } from '../html.js';
import type { Chart } from '../visual-context.js';

function figure(chart: Chart | null, caption: string, missing: string): string {
  if (!chart) return `<figure class="chartfig missing"><p class="muted note">${escapeHtml(missing)}</p></figure>`;
  return `<figure class="chartfig" id="chart-${chart.name}">${chart.svg}<figcaption>${caption}</figcaption></figure>`;
}

/** The charts: every channel's two scores, the selections per layer, the output over the copies, stability. */
export const charts: ReportSection = {
  id: 'charts',
  title: 'Charts',
  render(ctx) {
    const { summary } = ctx;
    const v = ctx.visual;
    const k = summary.stats.topK;
    const n = summary.samplesUsed ?? summary.run.perturbation.samples;
    const excluded =
      v.scatterExcluded > 0
        ? ` ${count(v.scatterExcluded)} channels without a defined correlation or a finite precision are left out.`
        : '';
    const notes = v.input.notes ?? {};
    return `<div class="chart-grid">${[
      figure(
        v.charts.scatter,
        `<strong>Every channel</strong>: correlation with the output against precision (log scale); the top-${k} of ` +
          `each layer by correlation (blue circles), by precision (orange squares) and by both (green diamonds). ` +
          'Precisions of different layers differ in scale, so layers form bands. ' +
          (v.scatterDense
            ? 'With this many channels the unselected ones are shown as a grey density (darker = more channels). '
            : '') +
          `Hover a point for its layer, channel and values.${excluded}`,
        'No scatter: the report was rendered without neurons.parquet.',
      ),
      figure(
        v.charts.overlap,
        '<strong>Overlap per layer</strong>: the neurons selected in each layer, split into those chosen by ' +
          'correlation only, by both, and by precision only; J is the Jaccard index of the two sets.',
        '',
      ),
      figure(
        v.charts.counts,
        '<strong>Channels per layer</strong>, and how many of them are active enough (mean activation ≥ ' +
          `${escapeHtml(String(summary.stats.eligibility))}) to be eligible for precision.`,
        '',
      ),
      figure(
        v.charts.output,
        `<strong>The output over the copies</strong>: y (${outputName(summary)} of the target) on each of the ` +
          `${count(n)} copies; ${percent(summary.copiesKeepingTarget)} keep the target as their top-1 class ` +
          '(dark), the others change it (pink). The dashed line is the clean image.',
        notes.outputs ?? 'No output distribution: the report was rendered without outputs.parquet.',
      ),
      figure(
        v.charts.stability,
        `<strong>Stability of the top-${k} sets as N grows</strong>: the sets recomputed from the first n copies ` +
          `(what a run with N = n draws, since copy i does not depend on N) compared with the sets from all ${count(n)}, ` +
          'by the Jaccard index averaged over layers. Computed from activations.parquet and outputs.parquet without ' +
          "inference, with channel-level proxies of the metrics: |r| between the channel's spatial-mean activation " +
          'and y (correlation), and 1 / variance of that mean among eligible channels (precision). A curve that ' +
          'levels off near 1 means more copies would not change the selection.',
        notes.stability ?? 'No stability curve: the report was rendered without activations.parquet.',
      ),
    ].join('')}</div>`;
  },
};
