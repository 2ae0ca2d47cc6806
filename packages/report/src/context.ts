import type { LayerSummary, Summary } from '@neuronscope/core';
import { escapeHtml } from './html.js';
import type { EmbeddedImage } from './images.js';
import type { LayerNeuronStats, NeuronFacts } from './neurons.js';
import type { VisualContext } from './visual-context.js';

/** A layer's summary with what several sections derive from it. */
export interface LayerView {
  readonly summary: LayerSummary;
  /** HTML id of the layer's section. */
  readonly anchor: string;
  /** Channels selected by both metrics. */
  readonly shared: ReadonlySet<number>;
  /** Statistics from the full neurons table, when one was given and holds this layer. */
  readonly stats: LayerNeuronStats | null;
}

/** Everything a section may read. Built once per render; sections never do I/O. */
export interface ReportContext {
  readonly summary: Summary;
  readonly image: EmbeddedImage;
  /** The crop the network sees (drawn for display). */
  readonly modelInput: EmbeddedImage;
  readonly layers: readonly LayerView[];
  /** Boxes, heat maps, patches and charts. */
  readonly visual: VisualContext;
  /** Every channel's ranks and values by `layerIndex:channel`, when the neurons table was given. */
  readonly facts: ReadonlyMap<string, NeuronFacts> | null;
}

/** One view of the report: a new view is one file exporting a section, and one line in the registry. */
export interface ReportSection {
  /** HTML id of the section; unique, stable (links and tests use it). */
  readonly id: string;
  /** Heading shown above the section and in the contents. */
  readonly title: string;
  /** The section's body as HTML; every string from the model or the user in it must be escaped. */
  render(ctx: ReportContext): string;
  /**
   * A detail section: shown closed (`<details>`) below the overview, its heading and {@link teaser} in the summary
   * line. Overview sections are always open.
   */
  readonly collapsed?: boolean;
  /** One line of HTML beside a collapsed section's heading: what opening it shows. */
  teaser?(ctx: ReportContext): string;
}

export function layerView(summary: LayerSummary, stats: LayerNeuronStats | null): LayerView {
  const byPrecision = new Set(summary.byPrecision.map((n) => n.channel));
  const shared = new Set(summary.byCorrelation.map((n) => n.channel).filter((c) => byPrecision.has(c)));
  return { summary, anchor: `layer-${summary.layerIndex}`, shared, stats };
}

/** The target as escaped HTML: `“label” (class 285)`, or `class 285` without labels. */
export function targetHtml(summary: Summary): string {
  return classHtml(summary.target.index, summary.target.label);
}

export function classHtml(index: number, label: string | null): string {
  return label === null ? `class ${index}` : `“${escapeHtml(label)}” (class ${index})`;
}

/** The target's probability on the clean image: from the top-5, or the clean output when y is a probability. */
export function targetProbability(summary: Summary): number | null {
  const top = summary.predictions.find((p) => p.index === summary.target.index);
  if (top) return top.probability;
  return summary.run.output === 'prob' ? summary.outputOverCopies.clean : null;
}

/** Words for the output y. */
export function outputName(summary: Summary): string {
  return { prob: 'softmax probability', logit: 'logit', logprob: 'log-probability' }[summary.run.output];
}
