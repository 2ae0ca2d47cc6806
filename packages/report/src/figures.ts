/**
 * The report's figures as stand-alone files for papers: every chart, the box overlays and the heat maps, each
 * as SVG (the photo inline) and PNG (rasterised by sharp at twice the SVG's size).
 */
import sharp from 'sharp';
import type { ReportContext } from './context.js';
import { escapeHtml } from './html.js';
import {
  contextPatchSvg,
  depth,
  depthBoxesSvg,
  depthColor,
  heatSvg,
  layerBoxesSvg,
  type OverlayImages,
  patchSvg,
} from './overlays.js';
import { projectionSvg } from './projections.js';
import type { NeuronBox } from './visual.js';
import { neuronKey } from './visual-context.js';

/** One figure: a file-name stem, the SVG text and its PNG rendering. */
export interface Figure {
  readonly name: string;
  readonly svg: string;
  readonly png: Buffer;
}

/** Longest side of an overlay figure, in SVG pixels (the PNG is twice that). */
const FIGURE_SIDE = 720;

const XML = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** Sets an SVG's displayed size (keeping its viewBox) so the longest side is `side`. */
function sized(svg: string, width: number, height: number, side = FIGURE_SIDE): string {
  const scale = side / Math.max(width, height);
  return svg.replace(
    /^<svg ([^>]*?) width="[^"]*" height="[^"]*"/,
    `<svg $1 width="${Math.round(width * scale)}" height="${Math.round(height * scale)}"`,
  );
}

/** A stand-alone SVG document: namespaces declared, a white background behind everything. */
function standalone(svg: string): string {
  return `${XML}${svg.replace(/^<svg /, `<svg xmlns="${SVG_NS}" xmlns:xlink="${XLINK_NS}" `)}`;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const XLINK_NS = 'http://www.w3.org/1999/xlink';

/** A grid of tiles (each an inline SVG of `tileW` x `tileH`) with a caption under each. */
function grid(tiles: readonly { svg: string; caption: string }[], tileW: number, tileH: number, title: string) {
  const columns = Math.min(5, tiles.length);
  const gap = 12;
  const captionH = 22;
  const titleH = 28;
  const rows = Math.ceil(tiles.length / columns);
  const width = columns * tileW + (columns + 1) * gap;
  const height = titleH + rows * (tileH + captionH + gap) + gap;
  const body = tiles
    .map((t, i) => {
      const x = gap + (i % columns) * (tileW + gap);
      const y = titleH + gap + Math.floor(i / columns) * (tileH + captionH + gap);
      const inner = t.svg.replace(
        /^<svg ([^>]*?) width="[^"]*" height="[^"]*"/,
        `<svg $1 x="${x}" y="${y}" width="${tileW}" height="${tileH}"`,
      );
      return `${inner}<text x="${x + tileW / 2}" y="${y + tileH + 16}" text-anchor="middle" font-size="13">${t.caption}</text>`;
    })
    .join('');
  return (
    `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"><rect width="100%" height="100%" fill="white"/>` +
    `<text x="${gap}" y="20" font-size="15" font-weight="600">${title}</text>${body}</svg>`
  );
}

/**
 * The paper's figure for one metric: the patch of every neuron it selected, shallow to deep, framed in its layer's
 * depth colour, in a grid. The photo is embedded once and every tile refers to it.
 */
function depthMosaicSvg(ctx: ReportContext, which: 'correlation' | 'precision'): string | null {
  const v = ctx.visual;
  const boxes = ctx.summary.layers.flatMap((l) =>
    (which === 'correlation' ? l.byCorrelation : l.byPrecision).flatMap((n) => {
      const b = v.overview.boxesByLayer.get(l.layerIndex)?.find((x) => x.channel === n.channel);
      return b && b.activation > 0 ? [b] : [];
    }),
  );
  if (boxes.length === 0) return null;
  const tileSide = 72;
  const gap = 6;
  const columns = Math.min(ctx.summary.stats.topK * 2, boxes.length);
  const rows = Math.ceil(boxes.length / columns);
  const titleH = 30;
  const width = columns * (tileSide + gap) + gap;
  const height = titleH + rows * (tileSide + gap) + gap;
  const tiles = boxes.map((b, i) => {
    const color = depthColor(depth(b.layerIndex, ...v.layerRange));
    const x = gap + (i % columns) * (tileSide + gap);
    const y = titleH + gap + Math.floor(i / columns) * (tileSide + gap);
    const patch = contextPatchSvg(v.images, b, color, 0.12).replace(
      '<svg class="patch" ',
      `<svg x="${x + 3}" y="${y + 3}" width="${tileSide - 6}" height="${tileSide - 6}" `,
    );
    return `<rect x="${x}" y="${y}" width="${tileSide}" height="${tileSide}" rx="3" fill="${color}"/>${patch}`;
  });
  return (
    `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"><defs>${photoImage(v.images)}</defs>` +
    `<rect width="100%" height="100%" fill="white"/><text x="${gap}" y="21" font-size="15" font-weight="600">` +
    `Selected by ${which}, shallow (purple) to deep (yellow)</text>${tiles.join('')}</svg>`
  );
}

/** The photo as the `<image id="ns-photo">` the overlays' references point at, for a stand-alone file's defs. */
function photoImage(images: OverlayImages): string {
  return (
    `<image id="ns-photo" href="${images.photo.dataUri}" x="0" y="0" width="${images.photoWidth}" ` +
    `height="${images.photoHeight}" preserveAspectRatio="none"/>`
  );
}

/** A layer's deconvnet projections in a grid (those that reach the input), or null when it has none. */
function projectionGrid(ctx: ReportContext, layerIndex: number, channels: readonly number[]): string | null {
  const v = ctx.visual;
  const color = depthColor(depth(layerIndex, ...v.layerRange));
  const tiles = channels.flatMap((c) => {
    const p = v.projections?.byNeuron.get(neuronKey(layerIndex, c));
    if (!p?.row.box) return [];
    const b = p.row.box;
    const caption = `channel ${c}: ${b.right - b.left + 1}×${b.bottom - b.top + 1} px`;
    return [{ svg: projectionSvg(p, color, `channel ${c}`), caption }];
  });
  if (tiles.length === 0) return null;
  const layer = ctx.summary.layers.find((l) => l.layerIndex === layerIndex)?.layer ?? '';
  return grid(tiles, 160, 160, `Layer ${layerIndex} ${escapeHtml(layer)}: deconvnet projections`);
}

/** The SVG of every figure of a report, by name (no PNG yet). */
export function figureSvgs(ctx: ReportContext): { name: string; svg: string }[] {
  const v = ctx.visual;
  const out: { name: string; svg: string }[] = [];
  for (const chart of Object.values(v.charts)) if (chart) out.push({ name: chart.name, svg: chart.svg });
  const { photoWidth: W, photoHeight: H } = v.images;
  if (v.overview.boxes.length) {
    for (const which of ['correlation', 'precision'] as const) {
      const boxes = v.overview.boxes.filter((b) => b.set === which || b.set === 'both');
      const svg = depthBoxesSvg(v.images, boxes, v.layerRange, `boxes selected by ${which}`, 'inline');
      out.push({ name: `boxes-${which}`, svg: sized(svg, W, H) });
      const mosaic = depthMosaicSvg(ctx, which);
      if (mosaic) out.push({ name: `depth-${which}`, svg: mosaic });
    }
  }
  const maps = v.maps;
  if (maps) {
    const cells = { width: maps.meta.mapWidth, height: maps.meta.mapHeight, block: maps.meta.block };
    const { inputWidth: iw, inputHeight: ih } = v.images;
    if (maps.rise)
      out.push({
        name: 'rise',
        svg: sized(heatSvg(v.images, maps.rise.heat, cells, 'RISE', null, 'inline'), iw, ih, 448),
      });
    if (maps.outputPearson) {
      const svg = heatSvg(v.images, maps.outputPearson.heat, cells, 'output map', null, 'inline');
      out.push({ name: 'output-map', svg: sized(svg, iw, ih, 448) });
    }
  }
  for (const view of ctx.layers) {
    const s = view.summary;
    const stem = `layer-${String(s.layerIndex).padStart(2, '0')}`;
    const boxes = v.boxesByLayer.get(s.layerIndex) ?? [];
    if (boxes.length) {
      const svg = layerBoxesSvg(v.images, boxes, `layer ${s.layerIndex} boxes`, 'inline');
      out.push({ name: `${stem}-boxes`, svg: sized(svg, W, H) });
    }
    const boxOf = new Map<number, NeuronBox>(boxes.map((b) => [b.channel, b]));
    const channels = [...new Set([...s.byCorrelation, ...s.byPrecision].map((n) => n.channel))];
    if (maps && channels.length) {
      const cells = { width: maps.meta.mapWidth, height: maps.meta.mapHeight, block: maps.meta.block };
      const tiles = channels.flatMap((c) => {
        const m = maps.byNeuron.get(neuronKey(s.layerIndex, c));
        if (!m || m.heat.defined === 0) return [];
        const svg = heatSvg(v.images, m.heat, cells, `channel ${c}`, boxOf.get(c) ?? null, 'inline');
        return [{ svg, caption: `channel ${c}, max |r| ${m.heat.peak.toFixed(2)}` }];
      });
      if (tiles.length) {
        out.push({
          name: `${stem}-maps`,
          svg: grid(tiles, 180, 180, `Layer ${s.layerIndex} ${escapeHtml(s.layer)}: heat maps`),
        });
      }
    }
    const projections = projectionGrid(ctx, s.layerIndex, channels);
    if (projections) out.push({ name: `${stem}-deconv`, svg: projections });
    if (boxes.length) {
      const tiles = channels.flatMap((c) => {
        const b = boxOf.get(c);
        return b && b.activation > 0
          ? [
              {
                svg: patchSvg(v.images, b, 'inline').replace('<svg ', '<svg width="1" height="1" '),
                caption: `channel ${c}`,
              },
            ]
          : [];
      });
      if (tiles.length) {
        out.push({
          name: `${stem}-patches`,
          svg: grid(tiles, 120, 120, `Layer ${s.layerIndex} ${escapeHtml(s.layer)}: patches`),
        });
      }
    }
  }
  return out.map((f) => ({ name: f.name, svg: standalone(f.svg) }));
}

/** Every figure as SVG and PNG (twice the SVG's size). */
export async function renderFigures(ctx: ReportContext): Promise<Figure[]> {
  const svgs = figureSvgs(ctx);
  return Promise.all(
    svgs.map(async (f) => ({
      ...f,
      png: await sharp(Buffer.from(f.svg), { density: 144 }).flatten({ background: '#ffffff' }).png().toBuffer(),
    })),
  );
}
