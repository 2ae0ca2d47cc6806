/**
 * Everything the visual sections show, prepared once before the (synchronous) sections render: charts rendered
 * to SVG, heat maps encoded as PNGs, boxes grouped by layer.
 */
import { columnValues, type MapRow, type MapsMetadata, numericColumn, type Summary } from '@neuronscope/core';
import {
  type CountRow,
  type CurveRow,
  countsSpec,
  faithfulnessSpec,
  MAX_POINTS,
  type OverlapRow,
  outputSpec,
  overlapSpec,
  renderChart,
  type ScatterPoint,
  scatterSpec,
  stabilitySpec,
} from './charts.js';
import { outputName } from './context.js';
import type { NeuronsTable } from './neurons.js';
import { chanceLevel, type HeatImage, type OverlayImages, pearsonImage, saliencyImage } from './overlays.js';
import { type RenderedProjection, renderProjection } from './projections.js';
import type { BoxKind, NeuronBox, Rect, VisualInput } from './visual.js';

/** A chart ready for the page and for a figure file. */
export interface Chart {
  /** File name stem of the figure (`scatter`, `overlap`, ...). */
  readonly name: string;
  readonly svg: string;
}

/** A neuron's or the output's map, with its PNG. */
export interface RenderedMap {
  readonly row: MapRow;
  readonly heat: HeatImage;
}

/** The prepared visual data. */
export interface VisualContext {
  readonly images: OverlayImages;
  readonly boxes: readonly NeuronBox[];
  readonly boxesByLayer: ReadonlyMap<number, readonly NeuronBox[]>;
  /** The boxes the overview draws (receptive fields, or deconvnet boxes with `--boxes deconv`), grouped by layer. */
  readonly overview: {
    readonly kind: BoxKind;
    readonly boxes: readonly NeuronBox[];
    readonly boxesByLayer: ReadonlyMap<number, readonly NeuronBox[]>;
  };
  /** The deconvnet projections by `layerIndex:channel`, drawn; null without `deconv.parquet`. */
  readonly projections: {
    readonly meta: NonNullable<VisualInput['deconv']>['meta'];
    readonly byNeuron: ReadonlyMap<string, RenderedProjection>;
  } | null;
  /** First and last layer index of the run (for the depth colours). */
  readonly layerRange: [number, number];
  readonly inputRect: Rect | null;
  readonly maps: {
    readonly meta: MapsMetadata;
    readonly byNeuron: ReadonlyMap<string, RenderedMap>;
    readonly outputPearson: RenderedMap | null;
    readonly rise: RenderedMap | null;
    /** |r| a map's peak must exceed to count as more than chance. */
    readonly chance: number;
  } | null;
  readonly charts: {
    readonly scatter: Chart | null;
    readonly overlap: Chart;
    readonly counts: Chart;
    readonly output: Chart | null;
    readonly stability: Chart | null;
    readonly faithfulness: Chart | null;
  };
  /** Channels left out of the scatter (correlation undefined, or precision not finite and positive). */
  readonly scatterExcluded: number;
  /** True when the unselected channels are drawn as a density (too many for one point each). */
  readonly scatterDense: boolean;
  readonly input: VisualInput;
}

/** Key of a neuron in maps. */
export const neuronKey = (layerIndex: number, channel: number) => `${layerIndex}:${channel}`;

function scatterPoints(neurons: NeuronsTable): { points: ScatterPoint[]; excluded: number } {
  const layer = columnValues<string>(neurons, 'layer');
  const layerIndex = numericColumn(neurons, 'layer_index');
  const channel = numericColumn(neurons, 'channel');
  const correlation = numericColumn(neurons, 'correlation');
  const precision = numericColumn(neurons, 'precision');
  const eligible = columnValues<boolean>(neurons, 'eligible');
  const byC = columnValues<boolean>(neurons, 'selected_correlation');
  const byP = columnValues<boolean>(neurons, 'selected_precision');
  const points: ScatterPoint[] = [];
  let excluded = 0;
  for (let i = 0; i < layer.length; i++) {
    const c = correlation[i]!;
    const p = precision[i]!;
    if (!Number.isFinite(c) || !Number.isFinite(p) || p <= 0) {
      excluded++;
      continue;
    }
    points.push({
      layer: layer[i]!,
      layerIndex: layerIndex[i]!,
      channel: channel[i]!,
      correlation: c,
      precision: p,
      eligible: Boolean(eligible[i]),
      set: byC[i] && byP[i] ? 'both' : byC[i] ? 'correlation' : byP[i] ? 'precision' : 'none',
    });
  }
  return { points, excluded };
}

function overlapRows(summary: Summary): OverlapRow[] {
  return summary.layers.map((l) => {
    const a = new Set(l.byCorrelation.map((n) => n.channel));
    const b = new Set(l.byPrecision.map((n) => n.channel));
    const both = [...a].filter((c) => b.has(c)).length;
    return {
      layer: l.layer,
      layerIndex: l.layerIndex,
      correlationOnly: a.size - both,
      both,
      precisionOnly: b.size - both,
      jaccard: l.comparison.jaccard,
    };
  });
}

function countRows(summary: Summary): CountRow[] {
  return summary.layers.map((l) => ({
    layer: l.layer,
    layerIndex: l.layerIndex,
    channels: l.channels,
    eligible: l.eligible,
  }));
}

async function renderMaps(input: NonNullable<VisualInput['maps']>) {
  const { meta, rows } = input;
  const chance = chanceLevel(meta.masks);
  const byNeuron = new Map<string, RenderedMap>();
  let outputPearson: RenderedMap | null = null;
  let rise: RenderedMap | null = null;
  await Promise.all(
    rows.map(async (row) => {
      if (row.statistic === 'rise') {
        rise = { row, heat: await saliencyImage(row.map, meta.mapWidth, meta.mapHeight) };
        return;
      }
      const heat = await pearsonImage(row.map, meta.mapWidth, meta.mapHeight, chance);
      if (row.set === 'output') outputPearson = { row, heat };
      else byNeuron.set(neuronKey(row.layerIndex, row.channel), { row, heat });
    }),
  );
  return { meta, byNeuron, outputPearson, rise, chance } as NonNullable<VisualContext['maps']>;
}

/** The faithfulness points as chart rows. */
function curveRows(points: NonNullable<VisualInput['faithfulness']>['points']): CurveRow[] {
  return points.map((p) => ({
    curve: p.curve,
    map: p.map === 'rise' ? 'RISE map' : `random map ${p.draw + 1}`,
    random: p.map === 'random',
    fraction: p.fraction,
    probability: p.probability,
  }));
}

/** Boxes grouped by layer index, in their order. */
function byLayer(boxes: readonly NeuronBox[]): Map<number, NeuronBox[]> {
  const grouped = new Map<number, NeuronBox[]>();
  for (const b of boxes) {
    const list = grouped.get(b.layerIndex);
    if (list) list.push(b);
    else grouped.set(b.layerIndex, [b]);
  }
  return grouped;
}

/** Every projection of the run drawn, by neuron. */
async function renderProjections(summary: Summary, deconv: NonNullable<VisualInput['deconv']>) {
  const drawn = await Promise.all(
    deconv.rows.map((row) => renderProjection(row, deconv.meta, summary.run.preprocessing)),
  );
  return { meta: deconv.meta, byNeuron: new Map(drawn.map((p) => [neuronKey(p.row.layerIndex, p.row.channel), p])) };
}

/** Prepares the visual context of a report. */
export async function buildVisualContext(
  summary: Summary,
  neurons: NeuronsTable | undefined,
  input: VisualInput,
  images: OverlayImages,
): Promise<VisualContext> {
  const boxes = input.boxes ?? [];
  const boxesByLayer = byLayer(boxes);
  const kind = input.overviewBoxes ?? 'receptive-field';
  const overviewBoxes = kind === 'deconv' ? (input.deconvBoxes ?? []) : boxes;
  const overview = { kind, boxes: overviewBoxes, boxesByLayer: byLayer(overviewBoxes) };
  const indices = summary.run.layers.map((l) => l.layerIndex);
  const layerRange: [number, number] = [Math.min(...indices), Math.max(...indices)];
  const scatter = neurons ? scatterPoints(neurons) : null;
  const topK = summary.stats.topK;
  const [scatterSvg, overlapSvg, countsSvg, outputSvg, stabilitySvg, maps, projections] = await Promise.all([
    scatter ? renderChart(scatterSpec(scatter.points), 'correlation against precision for every channel') : null,
    renderChart(overlapSpec(overlapRows(summary)), 'overlap of the two selections per layer'),
    renderChart(countsSpec(countRows(summary)), 'channels and eligible channels per layer'),
    input.outputs
      ? renderChart(
          outputSpec(
            input.outputs.y,
            input.outputs.top1,
            summary.target.index,
            summary.outputOverCopies.clean,
            outputName(summary),
          ),
          'distribution of the output over the copies',
        )
      : null,
    input.stability?.length
      ? renderChart(stabilitySpec(input.stability, topK), 'stability of the top-k sets as N grows')
      : null,
    input.maps ? renderMaps(input.maps) : null,
    input.deconv ? renderProjections(summary, input.deconv) : null,
  ]);
  const faithfulnessSvg = input.faithfulness
    ? await renderChart(
        faithfulnessSpec(curveRows(input.faithfulness.points), summary.target.label ?? `class ${summary.target.index}`),
        'deletion and insertion curves of the heat map and of random maps',
      )
    : null;
  const chart = (name: string, svg: string | null): Chart | null => (svg === null ? null : { name, svg });
  return {
    images,
    boxes,
    boxesByLayer,
    overview,
    projections,
    layerRange,
    inputRect: input.inputRect ?? null,
    maps,
    charts: {
      scatter: chart('scatter', scatterSvg),
      overlap: { name: 'overlap', svg: overlapSvg },
      counts: { name: 'counts', svg: countsSvg },
      output: chart('output', outputSvg),
      stability: chart('stability', stabilitySvg),
      faithfulness: chart('faithfulness', faithfulnessSvg),
    },
    scatterExcluded: scatter?.excluded ?? 0,
    scatterDense: (scatter?.points.length ?? 0) > MAX_POINTS,
    input,
  };
}
