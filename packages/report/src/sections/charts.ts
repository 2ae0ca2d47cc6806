import { outputName, type ReportSection } from '../context.js';
import { count, percent } from '../format.js';
import { escapeHtml } from '../html.js';
import type { Chart } from '../visual-context.js';

function figure(chart: Chart | null, caption: string, missing: string): string {
  if (!chart) return `<figure class="chartfig missing"><p class="muted note">${escapeHtml(missing)}</p></figure>`;
  return `<figure class="chartfig" id="chart-${chart.name}">${chart.svg}<figcaption>${caption}</figcaption></figure>`;
}

/** The charts not in the overview: channels per layer, the output over the copies, the stability of the selections. */
export const charts: ReportSection = {
  id: 'charts',
  title: 'More charts',
  collapsed: true,
  teaser: () => 'the output over the copies, the stability of the selections as N grows, channels per layer',
  render(ctx) {
    const { summary } = ctx;
    const v = ctx.visual;
    const k = summary.stats.topK;
    const n = summary.samplesUsed ?? summary.run.perturbation.samples;
    const notes = v.input.notes ?? {};
    return `<div class="chart-grid">${[
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
