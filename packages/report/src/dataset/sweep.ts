/**
 * The sweep report (`sweep/report.html`): the dataset-level answers in the per-image report's style and colours. The
 * paper's question as a forest plot (class selectivity of the neurons each metric selects, per layer, with 95%
 * intervals, and their difference), the neurons each metric selects for a class more than for the others (classes
 * with the minimum support), the most class-selective neurons (at most a few per layer), and every image as a
 * thumbnail linking to its results. Neurons link to the atlas when there is one.
 */
import type { TopLevelSpec } from 'vega-lite';
import { COLORS, renderChart } from '../charts.js';
import { count, fixed, percent } from '../format.js';
import { escapeHtml, table } from '../html.js';
import { neuronAnchor } from '../visual.js';
import { type DatasetImage, datasetPage, imageFacts, pictureDefs, thumbnailSvg } from './page.js';

type Interval = { readonly mean: number; readonly low: number; readonly high: number };

/** One row of the comparison (a layer, or all layers with `layerIndex` -1). */
export interface SweepComparisonRow {
  readonly layer: string;
  readonly layerIndex: number;
  readonly images: number;
  readonly correlation: Interval;
  readonly precision: Interval;
  readonly baseline: number;
  readonly difference: Interval;
  readonly precisionHigher: number;
}

/** A neuron in a class's list. */
export interface SweepClassNeuron {
  readonly layer: string;
  readonly layerIndex: number;
  readonly channel: number;
  readonly rate: number;
  readonly others: number;
}

export interface SweepClass {
  readonly class: number;
  readonly name: string | null;
  readonly images: number;
  readonly supported: boolean;
  readonly topCorrelation: readonly SweepClassNeuron[];
  readonly topPrecision: readonly SweepClassNeuron[];
}

export interface SweepSelective {
  readonly layer: string;
  readonly layerIndex: number;
  readonly channel: number;
  readonly class: number;
  readonly name: string | null;
  readonly auroc: number;
  readonly positives: number;
}

/** An analysed image with its results. */
export interface SweepImage extends DatasetImage {
  readonly target: string | null;
  readonly targetProbability: number | null;
  readonly copiesKeepingTarget: number | null;
  /** The neurons selected for it in the deepest layers (by layer, deepest first). */
  readonly selected: readonly {
    readonly layer: string;
    readonly layerIndex: number;
    readonly correlation: readonly number[];
    readonly precision: readonly number[];
  }[];
}

/** Everything the sweep report shows. */
export interface SweepPageInput {
  readonly model: { readonly name: string; readonly sha256: string };
  /** One line of settings, as plain text. */
  readonly settings: string;
  readonly counts: {
    readonly images: number;
    readonly ok: number;
    readonly error: number;
    readonly failed: number;
    readonly labelled: number;
    readonly correct: number;
  };
  readonly rows: readonly SweepComparisonRow[];
  readonly classes: readonly SweepClass[];
  readonly topSelective: readonly SweepSelective[];
  readonly minSupport: number;
  /** Thumbnails of the analysed images, in image order (at most a few hundred: see `shownImages`). */
  readonly images: readonly SweepImage[];
  readonly failed: readonly { readonly name: string; readonly status: string; readonly error: string | null }[];
  /** The atlas of the sweep, relative to the report, and the neurons it has entries for. */
  readonly atlas: { readonly href: string; readonly neurons: ReadonlySet<string> } | null;
  /** Class labels of the layers whose channels are the classes, by layer index. */
  readonly channelNames: ReadonlyMap<number, readonly string[]>;
}

const ci = (v: Interval) => `${fixed(v.mean)} <span class="muted">[${fixed(v.low)}, ${fixed(v.high)}]</span>`;
const rowLabel = (r: SweepComparisonRow) => (r.layerIndex >= 0 ? `L${r.layerIndex}` : 'all layers');

/** A neuron as a short name (layer:channel, or its class label), a link to its atlas entry when there is one. */
function neuronLink(input: SweepPageInput, layerIndex: number, channel: number, layer: string): string {
  const label = input.channelNames.get(layerIndex)?.[channel];
  const text = `${layerIndex}:${channel}${label ? ` <q>${escapeHtml(label)}</q>` : ''}`;
  const title = escapeHtml(`layer ${layerIndex} ${layer}, channel ${channel}`);
  if (input.atlas?.neurons.has(`${layerIndex}:${channel}`)) {
    return `<a href="${escapeHtml(input.atlas.href)}#${neuronAnchor(layerIndex, channel)}" title="${title}">${text}</a>`;
  }
  return `<span title="${title}">${text}</span>`;
}

/** The verdict on the paper's question, from the interval of the difference over all layers. */
function verdict(rows: readonly SweepComparisonRow[]): string {
  const all = rows.at(-1);
  if (!all || !Number.isFinite(all.difference.mean)) return 'not enough analysed images to answer';
  if (all.difference.low > 0)
    return 'precision-selected neurons are <b>more</b> class-selective than correlation-selected ones (the interval of the difference lies above 0)';
  if (all.difference.high < 0)
    return 'precision-selected neurons are <b>less</b> class-selective than correlation-selected ones (the interval of the difference lies below 0)';
  return 'the data do not tell the two apart (the interval of the difference contains 0)';
}

type Finite = (v: Interval) => boolean;
const finite: Finite = (v) => Number.isFinite(v.mean) && Number.isFinite(v.low) && Number.isFinite(v.high);

/** The forest plot's data: each metric's interval per row, the baselines, the differences, the AUROC axis. */
function forestData(rows: readonly SweepComparisonRow[]) {
  const metrics = rows.flatMap((r) =>
    (['correlation', 'precision'] as const)
      .filter((m) => finite(r[m]))
      .map((m) => ({
        row: rowLabel(r),
        metric: m,
        ...r[m],
        tip: `${rowLabel(r)} ${r.layer}, by ${m}: ${fixed(r[m].mean)} [${fixed(r[m].low)}, ${fixed(r[m].high)}]; all neurons ${fixed(r.baseline)}`,
      })),
  );
  const baselines = rows
    .filter((r) => Number.isFinite(r.baseline))
    .map((r) => ({
      row: rowLabel(r),
      baseline: r.baseline,
      tip: `${rowLabel(r)}: all of the layer's neurons ${fixed(r.baseline)}`,
    }));
  const differences = rows
    .filter((r) => finite(r.difference))
    .map((r) => ({
      row: rowLabel(r),
      ...r.difference,
      sign: r.difference.low > 0 ? 'precision higher' : r.difference.high < 0 ? 'correlation higher' : 'no difference',
      tip: `${rowLabel(r)}: precision − correlation ${fixed(r.difference.mean)} [${fixed(r.difference.low)}, ${fixed(r.difference.high)}]`,
    }));
  // The axis spans the intervals, the baselines and 0.5 (no preference), in steps of 0.05: the data fill it.
  const values = [...metrics.flatMap((m) => [m.low, m.high]), ...baselines.map((b) => b.baseline), 0.5];
  const domain = [Math.floor(Math.min(...values) * 20) / 20, Math.ceil(Math.max(...values) * 20) / 20];
  return { metrics, baselines, differences, domain };
}

/** The left panel: each metric's mean selectivity with its interval, the layer's baseline tick, the 0.5 line. */
function selectivityPanel(data: ReturnType<typeof forestData>, y: object, height: number) {
  const x = (field: string, extra: object = {}) => ({
    field,
    type: 'quantitative' as const,
    scale: { domain: data.domain, zero: false },
    ...extra,
  });
  const color = {
    field: 'metric',
    type: 'nominal' as const,
    title: 'selected by',
    scale: { domain: ['correlation', 'precision'], range: [COLORS.correlation, COLORS.precision] },
  };
  const yOffset = { field: 'metric', sort: ['correlation', 'precision'] };
  return {
    width: 300,
    height,
    layer: [
      {
        data: { values: [{ x: 0.5 }] },
        mark: { type: 'rule', color: '#b8bec7', strokeDash: [3, 3] },
        encoding: { x: x('x') },
      },
      {
        data: { values: data.baselines },
        mark: { type: 'tick', color: '#6b7280', thickness: 2, size: 14 },
        encoding: { y, x: x('baseline'), description: { field: 'tip' } },
      },
      {
        data: { values: data.metrics },
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          y,
          yOffset,
          x: x('low', { title: 'class selectivity (AUROC for the image’s class)' }),
          x2: { field: 'high' },
          color,
        },
      },
      {
        data: { values: data.metrics },
        mark: { type: 'point', filled: true, size: 46 },
        encoding: {
          y,
          yOffset,
          x: x('mean'),
          color,
          shape: {
            field: 'metric',
            type: 'nominal',
            scale: { domain: ['correlation', 'precision'], range: ['circle', 'square'] },
            title: 'selected by',
          },
          description: { field: 'tip' },
        },
      },
    ],
  };
}

/** The right panel: the paired difference precision − correlation with its interval, coloured when it excludes 0. */
function differencePanel(data: ReturnType<typeof forestData>, y: object, height: number) {
  const rowAxis = { ...y, axis: null };
  return {
    width: 200,
    height,
    layer: [
      {
        data: { values: [{ x: 0 }] },
        mark: { type: 'rule', color: '#6b7280' },
        encoding: { x: { field: 'x', type: 'quantitative' } },
      },
      {
        data: { values: data.differences },
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          y: rowAxis,
          x: { field: 'low', type: 'quantitative', title: 'precision − correlation' },
          x2: { field: 'high' },
          color: {
            field: 'sign',
            type: 'nominal',
            title: 'difference',
            scale: {
              domain: ['precision higher', 'no difference', 'correlation higher'],
              range: [COLORS.precision, '#9aa1ab', COLORS.correlation],
            },
          },
        },
      },
      {
        data: { values: data.differences },
        mark: { type: 'point', filled: true, size: 40, color: COLORS.ink },
        encoding: { y: rowAxis, x: { field: 'mean', type: 'quantitative' }, description: { field: 'tip' } },
      },
    ],
  };
}

/** The forest plot: per layer, each metric's mean selectivity with its interval, the baseline; and the difference. */
export function forestSpec(rows: readonly SweepComparisonRow[]): TopLevelSpec {
  const data = forestData(rows);
  const y = {
    field: 'row',
    type: 'ordinal' as const,
    sort: rows.map(rowLabel),
    title: null,
    axis: { labelLimit: 120 },
  };
  const height = 26 * rows.length;
  return {
    hconcat: [selectivityPanel(data, y, height), differencePanel(data, y, height)],
    resolve: { scale: { color: 'independent', shape: 'independent' } },
  } as TopLevelSpec;
}

/** The comparison table, folded under the chart. */
function comparisonTable(rows: readonly SweepComparisonRow[]): string {
  const head = [
    'layer',
    'images',
    'by correlation',
    'by precision',
    'precision − correlation',
    'precision higher',
    'all neurons',
  ].map(
    (h, i) =>
      `<th class="${i === 0 ? '' : 'num'}${h === 'by correlation' ? ' corr' : h === 'by precision' ? ' prec' : ''}">${h}</th>`,
  );
  const body = rows.map(
    (r) =>
      `<tr><td>${r.layerIndex >= 0 ? `${r.layerIndex} <code>${escapeHtml(r.layer)}</code>` : escapeHtml(r.layer)}</td>` +
      `<td class="num">${count(r.images)}</td><td class="num">${ci(r.correlation)}</td><td class="num">${ci(r.precision)}</td>` +
      `<td class="num">${ci(r.difference)}</td><td class="num">${percent(r.precisionHigher)}</td><td class="num">${fixed(r.baseline)}</td></tr>`,
  );
  return table(head, body, 'comparison');
}

/** A class's list of neurons for one metric. */
function classList(input: SweepPageInput, list: readonly SweepClassNeuron[]): string {
  if (list.length === 0) return '<span class="muted">none more often than for other classes</span>';
  return list
    .map(
      (n) =>
        `${neuronLink(input, n.layerIndex, n.channel, n.layer)} <span class="muted">${percent(n.rate)} vs ${percent(n.others)}</span>`,
    )
    .join(', ');
}

function classesHtml(input: SweepPageInput): string {
  const supported = input.classes.filter((c) => c.supported);
  const small = input.classes.filter((c) => !c.supported);
  const head = ['class', 'images', 'by correlation', 'by precision'].map(
    (h, i) =>
      `<th class="${i === 1 ? 'num' : ''}${h === 'by correlation' ? ' corr' : h === 'by precision' ? ' prec' : ''}">${h}</th>`,
  );
  const row = (c: SweepClass) =>
    `<tr><td>${escapeHtml(c.name ?? String(c.class))}</td><td class="num">${count(c.images)}</td>` +
    `<td class="wrap">${classList(input, c.topCorrelation)}</td><td class="wrap">${classList(input, c.topPrecision)}</td></tr>`;
  const intro =
    `<p>For each target class with at least ${count(input.minSupport)} images, the neurons each metric selects for its ` +
    'images more often than for the other images: the rate among the class’s images, then among the others. A ' +
    'neuron selected for every image (a first-layer channel, say) is not specific to any class and is not listed.</p>';
  const rest = small.length
    ? `<details class="inline"><summary>${count(small.length)} classes with fewer than ${count(input.minSupport)} images (too few to rank)</summary>${table(head, small.map(row), 'classes')}</details>`
    : '';
  return `${intro}${supported.length ? table(head, supported.map(row), 'classes') : `<p class="muted">No class has ${count(input.minSupport)} images.</p>`}${rest}`;
}

function selectiveHtml(input: SweepPageInput): string {
  if (input.topSelective.length === 0) {
    return `<p class="muted">No class has at least ${count(input.minSupport)} images and ${count(input.minSupport)} others: no selectivity is ranked.</p>`;
  }
  const head = ['neuron', 'class', 'AUROC', 'images of the class'].map(
    (h, i) => `<th class="${i >= 2 ? 'num' : ''}">${h}</th>`,
  );
  const rows = input.topSelective.map(
    (n) =>
      `<tr><td>${neuronLink(input, n.layerIndex, n.channel, n.layer)}</td><td>${escapeHtml(n.name ?? String(n.class))}</td>` +
      `<td class="num">${fixed(n.auroc)}</td><td class="num">${count(n.positives)}</td></tr>`,
  );
  return (
    `<p>The AUROC of a neuron’s clean activation for the images of a class against all others (0.5: no preference, 1: ` +
    `a perfect detector), for classes with at least ${count(input.minSupport)} images and ${count(input.minSupport)} others; ` +
    'each neuron once, at most three per layer.</p>' +
    table(head, rows, 'selective')
  );
}

/** The thumbnails, then each image's results (folded). */
function imagesHtml(input: SweepPageInput): string {
  const thumbs = input.images
    .map(
      (im) =>
        `<a href="#img-${im.index}"${im.correct === false ? ' class="wrong"' : ''} title="${escapeHtml(`${im.name}: ${im.label ?? ''} → ${im.prediction ?? ''}`)}">${thumbnailSvg(im)}</a>`,
    )
    .join('');
  const entries = input.images
    .map((im) => {
      const selected = im.selected
        .map((l) => {
          const list = (cs: readonly number[]) =>
            cs.map((c) => neuronLink(input, l.layerIndex, c, l.layer)).join(', ') || '—';
          return `<li>layer ${l.layerIndex}: <span class="key corr"></span>${list(l.correlation)} <span class="key prec"></span>${list(l.precision)}</li>`;
        })
        .join('');
      const file = im.href ? ` · <a href="${escapeHtml(im.href)}">open the file</a>` : '';
      return (
        `<div class="image-entry" id="img-${im.index}">${thumbnailSvg(im)}<div><strong>${escapeHtml(im.name)}</strong>${file}<br>` +
        `${imageFacts(im)}<br>explained: <q>${escapeHtml(im.target ?? '—')}</q>, p ${percent(im.targetProbability)}, ` +
        `${percent(im.copiesKeepingTarget)} of the copies keep it<ul>${selected}</ul></div></div>`
      );
    })
    .join('');
  const note =
    input.images.length < input.counts.ok
      ? ` (the first ${count(input.images.length)} of ${count(input.counts.ok)})`
      : '';
  return (
    `<p>Every analysed image${note}; a red frame marks a wrong prediction. Click one for its results: label, prediction, ` +
    'the class explained and the neurons selected in the deepest layers (linked to the atlas when there is one). ' +
    '<code>neuronscope explain --image &lt;file&gt;</code> gives an image its full report.</p>' +
    `<div class="thumbs">${thumbs}</div><details class="inline" id="image-results"><summary>Results of each image</summary>${entries}</details>`
  );
}

/** Renders the sweep report; deterministic. */
export async function renderSweepPage(input: SweepPageInput): Promise<string> {
  const c = input.counts;
  const chart = await renderChart(forestSpec(input.rows), 'class selectivity of the selected neurons per layer');
  const accuracy = c.labelled
    ? ` Top-1 accuracy on the ${count(c.labelled)} labelled images: ${((100 * c.correct) / c.labelled).toFixed(1)}%.`
    : '';
  const atlas = input.atlas
    ? `<p>The <a href="${escapeHtml(input.atlas.href)}">atlas</a> shows what each selected neuron responds to: its top images, cropped.</p>`
    : '<p class="muted note">No atlas yet: <code>neuronscope atlas --out &lt;this sweep&gt;</code> shows each selected neuron’s top images.</p>';
  const failed = input.failed.length
    ? `<section id="failed"><h2>Images not analysed (${count(input.failed.length)})</h2>${table(
        ['<th>image</th>', '<th>status</th>', '<th>error</th>'],
        input.failed
          .slice(0, 200)
          .map(
            (f) =>
              `<tr><td>${escapeHtml(f.name)}</td><td>${escapeHtml(f.status)}</td><td class="wrap">${escapeHtml(f.error ?? '')}</td></tr>`,
          ),
      )}</section>`
    : '';
  const body =
    `<section id="summary"><h2>The sweep</h2><p>Model <code>${escapeHtml(input.model.name)}</code> <span class="muted">sha256 ` +
    `${escapeHtml(input.model.sha256.slice(0, 12))}…</span>; ${escapeHtml(input.settings)}.</p>` +
    `<p>Analysed ${count(c.ok)}, errors ${count(c.error)}, failed ${count(c.failed)}.${accuracy}</p>${atlas}</section>` +
    `<section id="question"><h2>Are precision-selected neurons more class-selective?</h2><p>Over all layers, ${verdict(input.rows)}.</p>` +
    `<figure class="chartfig" id="chart-forest">${chart}<figcaption>Per image, the mean class selectivity (AUROC of the ` +
    'clean activation for the image’s class against all other images) of the neurons each metric selected; the dot ' +
    'is the mean over images, the bar its 95% bootstrap interval, the grey tick the mean over all of the layer’s ' +
    'neurons (what a random choice gives). Right: the paired difference, precision − correlation; coloured when its ' +
    'interval excludes 0.</figcaption></figure><details class="inline"><summary>In numbers</summary>' +
    `${comparisonTable(input.rows)}</details></section>` +
    `<section id="classes"><h2>Neurons selected for a class</h2>${classesHtml(input)}</section>` +
    `<section id="selective"><h2>Most class-selective neurons</h2>${selectiveHtml(input)}</section>` +
    `<section id="images"><h2>Images</h2>${imagesHtml(input)}</section>${failed}` +
    '<p class="muted note">Tables: <code>neurons.parquet</code>, <code>images.parquet</code>, <code>aggregate.parquet</code>, ' +
    '<code>selection.parquet</code>, <code>selectivity.parquet</code> beside this file.</p>';
  return datasetPage({
    title: `sweep · ${input.model.name} · neuronscope`,
    heading: `Sweep: ${count(c.images)} images`,
    subtitle: input.model.name,
    toc: [
      ['summary', 'The sweep'],
      ['question', 'Precision versus correlation'],
      ['classes', 'Neurons per class'],
      ['selective', 'Most selective'],
      ['images', 'Images'],
      ...(input.failed.length ? ([['failed', 'Not analysed']] as [string, string][]) : []),
    ],
    defs: pictureDefs(input.images),
    body,
  });
}
