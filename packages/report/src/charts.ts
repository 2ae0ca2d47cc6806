/**
 * The report's charts: Vega-Lite specifications rendered to SVG text in Node by Vega's own SVG renderer, so the
 * page carries finished vector graphics and runs no script. Hover text needs no script either: every mark's
 * description (built here from escaped-by-Vega data) becomes an SVG `<title>`, which browsers show as a tooltip.
 */
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import * as vl from 'vega-lite';
import { fixed, general } from './format.js';
import type { StabilityPoint } from './visual.js';

/** Okabe-Ito colours: safe for the common colour-vision deficiencies; the same as the page's CSS. */
export const COLORS = {
  correlation: '#0072B2',
  precision: '#E69F00',
  both: '#009E73',
  none: '#A7ADB5',
  other: '#CC79A7',
  ink: '#1b1d21',
} as const;

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';

const CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: null },
  axis: {
    labelFontSize: 12,
    titleFontSize: 12,
    titleFontWeight: 600,
    titleColor: COLORS.ink,
    labelColor: '#3d424a',
    gridColor: '#e5e7eb',
    domainColor: '#8a9099',
    tickColor: '#8a9099',
  },
  legend: {
    labelFontSize: 12,
    titleFontSize: 12,
    titleFontWeight: 600,
    orient: 'bottom',
    direction: 'horizontal',
    labelLimit: 400,
  },
  title: { fontSize: 13, anchor: 'start' },
} as const;

/** Rounds the numbers in geometry attributes to 2 decimals: the same picture in far fewer bytes. */
function roundGeometry(svg: string): string {
  return svg.replace(/ (transform|d|x|y|x1|x2|y1|y2|width|height|r)="([^"]*)"/g, (_, name: string, value: string) => {
    const rounded = value.replace(/-?\d+\.\d{3,}(?:e-?\d+)?/g, (n) => {
      const v = Math.round(Number(n) * 100) / 100;
      return String(Object.is(v, -0) ? 0 : v);
    });
    return ` ${name}="${rounded}"`;
  });
}

/**
 * Vega's SVG with the mark descriptions turned into `<title>` tooltips (the ARIA attributes they came from
 * dropped, the title is the accessible name), geometry rounded, and the root marked as a chart image with
 * `label` as its accessible name. Vega escapes every attribute value it writes.
 */
export function tidySvg(svg: string, label: string): string {
  let out = svg.replace(
    /<(path|rect|line|text|image|g)\b([^>]*?) aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="[^"]*"([^>]*?)(\/?)>/g,
    (_m, tag: string, before: string, text: string, after: string, selfClosing: string) =>
      selfClosing
        ? `<${tag}${before}${after}><title>${text}</title></${tag}>`
        : `<${tag}${before}${after}><title>${text}</title>`,
  );
  out = roundGeometry(out);
  // Inline in HTML the SVG namespace is implied; stand-alone figure files get it back (figures.ts).
  return out.replace(/^<svg ([^>]*)>/, (_m, attrs: string) => {
    const kept = attrs
      .replace(/ class="marks"/, '')
      .replace(/ ?xmlns(:xlink)?="[^"]*"/g, '')
      .replace(/ ?version="[^"]*"/, '')
      .trim();
    return `<svg ${kept} class="chart" role="img" aria-label="${label.replace(/[&<>"']/g, '')}">`;
  });
}

/** Renders a Vega-Lite spec to SVG text (see {@link tidySvg}); `label` names the chart for screen readers. */
export async function renderChart(spec: TopLevelSpec, label: string): Promise<string> {
  const compiled = vl.compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return tidySvg(await view.toSVG(), label);
  } finally {
    view.finalize();
  }
}

/** One channel in the scatter. */
export interface ScatterPoint {
  layer: string;
  layerIndex: number;
  channel: number;
  correlation: number;
  precision: number;
  eligible: boolean;
  set: 'correlation' | 'precision' | 'both' | 'none';
}

const SET_LABELS = { correlation: 'by correlation', precision: 'by precision', both: 'by both', none: 'not selected' };

/**
 * Above this many channels the unselected ones are drawn as a density (counts in cells of the plot) rather than one
 * point each, which would add ~160 bytes per channel to the page (17 000 channels for MobileNetV2).
 */
export const MAX_POINTS = 5000;

/** Cells of the density: 40 across correlation, 30 along log precision. */
const DENSITY_BINS: [number, number] = [40, 30];

/** Counts of the points in a grid over correlation (linear) and precision (logarithmic). */
function density(points: readonly ScatterPoint[]) {
  const lx = points.map((p) => p.correlation);
  const ly = points.map((p) => Math.log10(p.precision));
  const [x0, x1] = [Math.min(...lx), Math.max(...lx)];
  const [y0, y1] = [Math.min(...ly), Math.max(...ly)];
  const [nx, ny] = DENSITY_BINS;
  const dx = (x1 - x0 || 1) / nx;
  const dy = (y1 - y0 || 1) / ny;
  const counts = new Map<number, number>();
  for (let i = 0; i < points.length; i++) {
    const bx = Math.min(nx - 1, Math.floor((lx[i]! - x0) / dx));
    const by = Math.min(ny - 1, Math.floor((ly[i]! - y0) / dy));
    counts.set(by * nx + bx, (counts.get(by * nx + bx) ?? 0) + 1);
  }
  return [...counts].map(([cell, count]) => {
    const bx = cell % nx;
    const by = Math.floor(cell / nx);
    return {
      x: x0 + bx * dx,
      x2: x0 + (bx + 1) * dx,
      y: 10 ** (y0 + by * dy),
      y2: 10 ** (y0 + (by + 1) * dy),
      count,
      tip: `${count} unselected channel${count === 1 ? '' : 's'} here`,
    };
  });
}

/**
 * Correlation against precision (log scale) for every channel with both defined; selected ones marked by set. Above
 * {@link MAX_POINTS} channels the unselected ones are a grey density.
 */
export function scatterSpec(points: readonly ScatterPoint[]): TopLevelSpec {
  const tip = (p: ScatterPoint) =>
    // Short for the thousands of unselected channels; the selected ones also name their layer's tensor.
    `layer ${p.layerIndex}, channel ${p.channel}: correlation ${fixed(p.correlation)}, precision ${general(p.precision)}` +
    `${p.eligible ? '' : ' (not eligible)'}${p.set === 'none' ? '' : `; ${SET_LABELS[p.set]} (${p.layer})`}`;
  const selected = points.filter((p) => p.set !== 'none');
  const unselected = points.filter((p) => p.set === 'none');
  const dense = points.length > MAX_POINTS;
  const asValues = (list: readonly ScatterPoint[]) =>
    list.map((p) => ({ x: p.correlation, y: p.precision, set: SET_LABELS[p.set], tip: tip(p) }));
  const color = {
    field: 'set',
    type: 'nominal' as const,
    title: 'Selected',
    scale: {
      domain: Object.values(SET_LABELS),
      range: [COLORS.correlation, COLORS.precision, COLORS.both, COLORS.none],
    },
  };
  const shape = {
    field: 'set',
    type: 'nominal' as const,
    title: 'Selected',
    scale: { domain: Object.values(SET_LABELS), range: ['circle', 'square', 'diamond', 'circle'] },
  };
  const x = { field: 'x', type: 'quantitative' as const, title: 'correlation (mean |r| of the units with y)' };
  const y = {
    field: 'y',
    type: 'quantitative' as const,
    title: 'precision (1 / mean unit variance)',
    scale: { type: 'log' as const },
    axis: {
      labelExpr: "datum.value >= 1e5 || datum.value < 1e-3 ? format(datum.value, '.0e') : format(datum.value, '~g')",
    },
  };
  const background = dense
    ? {
        data: { values: density(unselected) },
        mark: { type: 'rect' as const },
        encoding: {
          x,
          x2: { field: 'x2' },
          y,
          y2: { field: 'y2' },
          color: { value: '#6b7280' },
          opacity: {
            field: 'count',
            type: 'quantitative' as const,
            scale: { type: 'log' as const, range: [0.15, 0.85] },
            legend: null,
          },
          description: { field: 'tip' },
        },
      }
    : {
        data: { values: asValues(unselected) },
        mark: { type: 'point' as const, filled: true, size: 18, opacity: 0.45 },
        encoding: { x, y, color, shape, description: { field: 'tip' } },
      };
  return {
    width: 360,
    height: 280,
    layer: [
      background,
      {
        data: { values: asValues(selected) },
        mark: { type: 'point', filled: true, size: 70, opacity: 0.95, stroke: 'white', strokeWidth: 0.8 },
        encoding: { x, y, color, shape, description: { field: 'tip' } },
      },
    ],
  } as TopLevelSpec;
}

/** A layer's selection counts for the overlap chart. */
export interface OverlapRow {
  layer: string;
  layerIndex: number;
  correlationOnly: number;
  both: number;
  precisionOnly: number;
  jaccard: number;
}

/** Per layer, the union of the two selections split into correlation only, both and precision only. */
export function overlapSpec(rows: readonly OverlapRow[]): TopLevelSpec {
  const parts = ['correlation only', 'both', 'precision only'];
  const values = rows.flatMap((r) =>
    (
      [
        ['correlation only', r.correlationOnly],
        ['both', r.both],
        ['precision only', r.precisionOnly],
      ] as const
    ).map(([part, count], order) => ({
      layer: `L${r.layerIndex}`,
      part,
      order,
      count,
      total: r.correlationOnly + r.both + r.precisionOnly,
      jaccard: `J ${fixed(r.jaccard, 2)}`,
      tip: `layer ${r.layerIndex} ${r.layer}: ${count} ${part}; Jaccard ${fixed(r.jaccard)}`,
    })),
  );
  const y = {
    field: 'layer',
    type: 'ordinal' as const,
    title: 'layer',
    sort: rows.map((r) => `L${r.layerIndex}`),
  };
  return {
    width: 300,
    height: { step: 16 },
    data: { values },
    encoding: { y },
    layer: [
      {
        mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: { field: 'count', type: 'quantitative', stack: 'zero', title: 'selected neurons (union of both sets)' },
          color: {
            field: 'part',
            type: 'nominal',
            title: null,
            scale: { domain: parts, range: [COLORS.correlation, COLORS.both, COLORS.precision] },
          },
          order: { field: 'order' },
          description: { field: 'tip' },
        },
      },
      {
        transform: [{ filter: "datum.part === 'precision only'" }],
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 11, color: '#3d424a', aria: false },
        encoding: { x: { field: 'total', type: 'quantitative' }, text: { field: 'jaccard' } },
      },
    ],
  } as TopLevelSpec;
}

/** A layer's channel counts. */
export interface CountRow {
  layer: string;
  layerIndex: number;
  channels: number;
  eligible: number;
}

/** Channels per layer, and how many are eligible for precision (drawn over them). */
export function countsSpec(rows: readonly CountRow[]): TopLevelSpec {
  const values = rows.flatMap((r) => [
    {
      layer: `L${r.layerIndex}`,
      kind: 'channels',
      count: r.channels,
      tip: `layer ${r.layerIndex} ${r.layer}: ${r.channels} channels`,
    },
    {
      layer: `L${r.layerIndex}`,
      kind: 'eligible for precision',
      count: r.eligible,
      tip: `layer ${r.layerIndex} ${r.layer}: ${r.eligible} of ${r.channels} channels eligible for precision`,
    },
  ]);
  const x = {
    field: 'layer',
    type: 'ordinal' as const,
    title: 'layer',
    sort: rows.map((r) => `L${r.layerIndex}`),
    axis: { labelAngle: -90, labelFontSize: 10 },
  };
  const color = {
    field: 'kind',
    type: 'nominal' as const,
    title: null,
    scale: { domain: ['channels', 'eligible for precision'], range: ['#c9ced6', COLORS.precision] },
  };
  return {
    width: { step: Math.max(8, Math.min(18, Math.floor(360 / Math.max(1, rows.length)))) },
    height: 200,
    data: { values },
    encoding: { x, color },
    layer: [
      {
        transform: [{ filter: "datum.kind === 'channels'" }],
        mark: { type: 'bar' },
        encoding: { y: { field: 'count', type: 'quantitative', title: 'channels' }, description: { field: 'tip' } },
      },
      {
        transform: [{ filter: "datum.kind !== 'channels'" }],
        mark: { type: 'bar', width: { band: 0.5 } },
        encoding: { y: { field: 'count', type: 'quantitative' }, description: { field: 'tip' } },
      },
    ],
  } as TopLevelSpec;
}

/** Histogram of y over the copies, stacked by whether the copy keeps the target as its top-1; the clean y ruled. */
export function outputSpec(y: Float64Array, top1: Int32Array, target: number, clean: number, name: string) {
  const values = Array.from(y, (v, i) => ({
    y: v,
    keeps: top1[i] === target ? 'top-1 is the target' : 'top-1 changed',
  }));
  const color = {
    field: 'keeps',
    type: 'nominal' as const,
    title: null,
    scale: { domain: ['top-1 is the target', 'top-1 changed'], range: ['#56606b', COLORS.other] },
  };
  return {
    width: 360,
    height: 200,
    layer: [
      {
        data: { values },
        mark: { type: 'bar', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: { field: 'y', type: 'quantitative', bin: { maxbins: 30 }, title: `y (${name}) over the copies` },
          y: { aggregate: 'count', type: 'quantitative', title: 'copies' },
          color,
          description: { value: 'copies in this bin' },
        },
      },
      {
        data: { values: [{ y: clean, label: 'clean image' }] },
        mark: { type: 'rule', strokeDash: [4, 3], strokeWidth: 2, color: COLORS.ink },
        encoding: {
          x: { field: 'y', type: 'quantitative' },
          description: { value: `clean image: y = ${general(clean)}` },
        },
      },
      {
        data: { values: [{ y: clean, label: 'clean' }] },
        mark: { type: 'text', dy: -4, dx: 3, align: 'left', baseline: 'bottom', fontSize: 11, aria: false },
        encoding: { x: { field: 'y', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
      },
    ],
  } as TopLevelSpec;
}

/** Mean Jaccard with the all-copies top-k against the number of copies used, one line per metric. */
export function stabilitySpec(points: readonly StabilityPoint[], topK: number): TopLevelSpec {
  const values = points.flatMap((p) =>
    (
      [
        ['correlation', p.correlation],
        ['precision', p.precision],
      ] as const
    )
      .filter(([, v]) => v !== null)
      .map(([metric, v]) => ({
        n: p.copies,
        metric,
        jaccard: v,
        tip: `${metric}, first ${p.copies} copies: mean Jaccard ${fixed(v)} with the top-${topK} from all copies`,
      })),
  );
  return {
    width: 360,
    height: 200,
    data: { values },
    encoding: {
      x: {
        field: 'n',
        type: 'quantitative',
        title: 'copies used (the first n)',
        scale: { type: 'log', base: 2 },
        axis: { values: points.map((p) => p.copies), format: 'd' },
      },
      y: {
        field: 'jaccard',
        type: 'quantitative',
        title: `mean Jaccard with the top-${topK} from all copies`,
        scale: { domain: [0, 1] },
      },
      color: {
        field: 'metric',
        type: 'nominal',
        title: null,
        scale: { domain: ['correlation', 'precision'], range: [COLORS.correlation, COLORS.precision] },
      },
      strokeDash: {
        field: 'metric',
        type: 'nominal',
        title: null,
        scale: {
          domain: ['correlation', 'precision'],
          range: [
            [1, 0],
            [5, 3],
          ],
        },
      },
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 2, aria: false } },
      {
        mark: { type: 'point', filled: true, size: 50 },
        encoding: { shape: { field: 'metric', type: 'nominal', title: null }, description: { field: 'tip' } },
      },
    ],
  } as TopLevelSpec;
}

/** One point of a faithfulness curve for the chart. */
export interface CurveRow {
  curve: 'deletion' | 'insertion';
  /** `RISE map` or `random map k`. */
  map: string;
  random: boolean;
  fraction: number;
  probability: number;
}

/**
 * Deletion and insertion curves side by side (one panel each): the target's probability against the fraction of
 * cells deleted or inserted, the RISE map's curve in vermillion drawn over the random maps' in grey.
 */
export function faithfulnessSpec(rows: readonly CurveRow[], target: string): TopLevelSpec {
  const values = rows.map((r) => ({
    ...r,
    kind: r.random ? 'random maps' : 'RISE map',
    tip: `${r.map}, ${r.curve}: ${fixed(100 * r.fraction, 0)}% of the cells ${r.curve === 'deletion' ? 'deleted' : 'inserted'}, p = ${fixed(r.probability)}`,
  }));
  const x = {
    field: 'fraction',
    type: 'quantitative' as const,
    title: 'fraction of the map’s cells',
    axis: { format: '.0%' },
  };
  const y = {
    field: 'probability',
    type: 'quantitative' as const,
    title: `p(${target})`,
    scale: { domain: [0, 1] },
    axis: { format: '.0%' },
  };
  const color = {
    field: 'kind',
    type: 'nominal' as const,
    title: null,
    scale: { domain: ['RISE map', 'random maps'], range: ['#D55E00', '#9aa1ab'] },
  };
  const encoding = { x, y, color, detail: { field: 'map', type: 'nominal' as const }, description: { field: 'tip' } };
  return {
    data: { values },
    columns: 2,
    facet: {
      field: 'curve',
      type: 'nominal',
      title: null,
      sort: ['deletion', 'insertion'],
      header: {
        labelFontSize: 12,
        labelFontWeight: 600,
        labelExpr: "datum.value === 'deletion' ? 'Deletion (lower is better)' : 'Insertion (higher is better)'",
      },
    },
    spec: {
      width: 260,
      height: 160,
      layer: [
        { transform: [{ filter: 'datum.random' }], mark: { type: 'line', strokeWidth: 1 }, encoding },
        {
          transform: [{ filter: '!datum.random' }],
          mark: { type: 'line', strokeWidth: 2.5, point: { size: 18, filled: true } },
          encoding,
        },
      ],
    },
    resolve: { scale: { x: 'shared', y: 'shared' } },
  } as TopLevelSpec;
}
