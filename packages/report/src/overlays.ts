/**
 * Pictures drawn over the image: receptive-field boxes, resampling heat maps and patches. They are SVG, so the
 * photo is embedded once and every overlay refers to it (`<use href="#…">`); for a stand-alone figure file the
 * photo is written inline instead. Heat maps are small PNGs (one pixel per map cell) that the renderer scales
 * smoothly onto the model input.
 */
import type { MapRow } from '@neuronscope/core';
import sharp from 'sharp';
import { COLORS } from './charts.js';
import { fixed } from './format.js';
import { escapeHtml } from './html.js';
import type { EmbeddedImage } from './images.js';
import type { NeuronBox, NeuronSet, Rect } from './visual.js';

/** The pictures overlays are drawn on: the photo (original geometry), the model input in colour and faded grey. */
export interface OverlayImages {
  readonly photo: EmbeddedImage;
  /** The photo's own size in pixels (overlay coordinates). */
  readonly photoWidth: number;
  readonly photoHeight: number;
  readonly input: EmbeddedImage;
  readonly inputGrey: EmbeddedImage;
  /** Model input height and width in pixels (heat-map coordinates). */
  readonly inputWidth: number;
  readonly inputHeight: number;
}

/** How an overlay refers to its picture: by id in the page, or inline in a stand-alone file. */
export type ImageMode = 'reference' | 'inline';

const IDS = { photo: 'ns-photo', input: 'ns-input', inputGrey: 'ns-input-grey' } as const;

/** Below this many pixels on its longer side a picture is drawn with sharp pixels when enlarged (28 x 28 digits). */
const PIXELATED_BELOW = 160;

function imageElement(image: EmbeddedImage, width: number, height: number, id?: string): string {
  const idAttr = id ? ` id="${id}"` : '';
  const pixelated = Math.max(image.width, image.height) < PIXELATED_BELOW ? ' style="image-rendering:pixelated"' : '';
  return `<image${idAttr} href="${image.dataUri}" x="0" y="0" width="${width}" height="${height}" preserveAspectRatio="none"${pixelated}/>`;
}

function picture(images: OverlayImages, which: keyof typeof IDS, mode: ImageMode): string {
  if (mode === 'reference') return `<use href="#${IDS[which]}"/>`;
  if (which === 'photo') return imageElement(images.photo, images.photoWidth, images.photoHeight);
  return imageElement(which === 'input' ? images.input : images.inputGrey, images.inputWidth, images.inputHeight);
}

/** The pictures once, in a zero-size SVG, for every overlay of the page to refer to. */
export function overlayDefs(images: OverlayImages): string {
  return (
    '<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>' +
    imageElement(images.photo, images.photoWidth, images.photoHeight, IDS.photo) +
    imageElement(images.input, images.inputWidth, images.inputHeight, IDS.input) +
    imageElement(images.inputGrey, images.inputWidth, images.inputHeight, IDS.inputGrey) +
    '</defs></svg>'
  );
}

// Viridis, 9 stops (matplotlib): perceptually uniform, readable in greyscale and with colour-vision deficiencies.
const VIRIDIS = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
] as const;

// Inferno, 9 stops (matplotlib), for the output's saliency.
const INFERNO = [
  [0, 0, 4],
  [31, 12, 72],
  [85, 15, 109],
  [136, 34, 106],
  [186, 54, 85],
  [227, 89, 51],
  [249, 140, 10],
  [249, 201, 50],
  [252, 255, 164],
] as const;

function interpolate(stops: readonly (readonly [number, number, number])[], t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [0, 1, 2].map((k) => Math.round(a[k]! + f * (b[k]! - a[k]!))) as [number, number, number];
}

const hex = (rgb: readonly number[]) => `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** The colour of layer depth `t` in [0, 1] (viridis). */
export function depthColor(t: number): string {
  return hex(interpolate(VIRIDIS, t));
}

/** Layer depth of a layer index among `count` layers, in [0, 1]. */
export function depth(layerIndex: number, first: number, last: number): number {
  return last > first ? (layerIndex - first) / (last - first) : 0;
}

const SET_COLOR: Record<NeuronSet, string> = {
  correlation: COLORS.correlation,
  precision: COLORS.precision,
  both: COLORS.both,
};
const SET_WORDS: Record<NeuronSet, string> = {
  correlation: 'selected by correlation',
  precision: 'selected by precision',
  both: 'selected by both',
};

function boxTitle(b: NeuronBox): string {
  const [h, w] = b.field.size;
  const i = b.inputBox;
  const what =
    b.kind === 'deconv'
      ? `deconvnet box ${i.right - i.left + 1}×${i.bottom - i.top + 1} px of the input`
      : `receptive field ${w}×${h} px of the input`;
  return escapeHtml(
    `layer ${b.layerIndex} ${b.layer}, channel ${b.channel} (${SET_WORDS[b.set]}): unit (${b.unit.y}, ${b.unit.x}), ` +
      `${what}, clean activation ${b.activation.toPrecision(3)}`,
  );
}

/** A rectangle drawn twice: a dark halo, then the colour, so it shows on light and dark parts of the photo alike. */
function rect(r: Rect, color: string, width: number, dash: boolean, title: string): string {
  const geometry = `x="${r.x.toFixed(1)}" y="${r.y.toFixed(1)}" width="${r.width.toFixed(1)}" height="${r.height.toFixed(1)}"`;
  const dashAttr = dash ? ` stroke-dasharray="${(width * 3).toFixed(1)} ${(width * 2).toFixed(1)}"` : '';
  return (
    `<g><title>${title}</title>` +
    `<rect ${geometry} fill="none" stroke="#000" stroke-opacity="0.55" stroke-width="${(width * 2.2).toFixed(2)}"/>` +
    `<rect ${geometry} fill="none" stroke="${color}" stroke-width="${width.toFixed(2)}"${dashAttr}/></g>`
  );
}

/** Boxes that are drawn: those of neurons that fire on the clean image; wide ones first so small ones stay on top. */
export function drawable(boxes: readonly NeuronBox[]): NeuronBox[] {
  return boxes
    .filter((b) => b.activation > 0)
    .sort((a, b) => b.imageRect.width * b.imageRect.height - a.imageRect.width * a.imageRect.height);
}

function stroke(images: OverlayImages): number {
  return Math.max(images.photoWidth, images.photoHeight) / 220;
}

/** The photo outside the model input dimmed, and the input's edge dashed: what the network sees of the photo. */
function inputFrame(images: OverlayImages, input: Rect | null): string {
  if (!input) return '';
  const { photoWidth: W, photoHeight: H } = images;
  const f = (v: number) => v.toFixed(1);
  const w = stroke(images);
  const outside =
    `<path d="M0,0H${W}V${H}H0Z M${f(input.x)},${f(input.y)}v${f(input.height)}h${f(input.width)}v${f(-input.height)}Z" ` +
    'fill="#000" fill-opacity="0.45" fill-rule="evenodd"/>';
  const edge =
    `<rect x="${f(input.x)}" y="${f(input.y)}" width="${f(input.width)}" height="${f(input.height)}" fill="none" ` +
    `stroke="#fff" stroke-width="${f(w * 0.7)}" stroke-dasharray="${f(w * 2)} ${f(w * 2)}"><title>the model input (resize and centre crop)</title></rect>`;
  return outside + edge;
}

/**
 * The photo with the boxes of `boxes`, coloured by layer depth (viridis) as the paper does; outside the model
 * input (`input`, when given) the photo is dimmed.
 */
export function depthBoxesSvg(
  images: OverlayImages,
  boxes: readonly NeuronBox[],
  layerRange: [number, number],
  label: string,
  mode: ImageMode = 'reference',
  input: Rect | null = null,
): string {
  const w = stroke(images);
  const rects = drawable(boxes)
    .map((b) => rect(b.imageRect, depthColor(depth(b.layerIndex, ...layerRange)), w, false, boxTitle(b)))
    .join('');
  return svgRoot(
    images.photoWidth,
    images.photoHeight,
    label,
    picture(images, 'photo', mode) + inputFrame(images, input) + rects,
  );
}

/** Whether a box covers the whole model input (so it coincides with the input's edge). */
export function coversInput(b: NeuronBox, width: number, height: number): boolean {
  const i = b.inputBox;
  return b.field.global || (i.top === 0 && i.left === 0 && i.bottom === height - 1 && i.right === width - 1);
}

/** The photo with one layer's boxes, coloured by selection (solid correlation, dashed precision, green both). */
export function layerBoxesSvg(
  images: OverlayImages,
  boxes: readonly NeuronBox[],
  label: string,
  mode: ImageMode = 'reference',
): string {
  const w = stroke(images);
  const font = Math.max(images.photoWidth, images.photoHeight) / 32;
  const items = drawable(boxes).map((b) => {
    const r = b.imageRect;
    const tag =
      `<text x="${(r.x + w * 2).toFixed(1)}" y="${(r.y + font + w).toFixed(1)}" font-size="${font.toFixed(1)}" ` +
      `class="boxlabel" fill="${SET_COLOR[b.set]}" stroke="#000" stroke-width="${(font / 6).toFixed(2)}" ` +
      `paint-order="stroke" font-weight="700" font-family="system-ui, sans-serif">${b.channel}</text>`;
    return rect(r, SET_COLOR[b.set], b.set === 'both' ? w * 1.3 : w, b.set === 'precision', boxTitle(b)) + tag;
  });
  return svgRoot(images.photoWidth, images.photoHeight, label, picture(images, 'photo', mode) + items.join(''));
}

/** The region of the photo under a neuron's box (a patch), at the photo's resolution. */
export function patchSvg(images: OverlayImages, box: NeuronBox, mode: ImageMode = 'reference'): string {
  const r = box.imageRect;
  const x = Math.max(0, r.x);
  const y = Math.max(0, r.y);
  const width = Math.min(images.photoWidth, r.x + r.width) - x;
  const height = Math.min(images.photoHeight, r.y + r.height) - y;
  return (
    `<svg class="patch" viewBox="${x.toFixed(1)} ${y.toFixed(1)} ${width.toFixed(1)} ${height.toFixed(1)}" ` +
    `preserveAspectRatio="xMidYMid meet" role="img" aria-label="patch under layer ${box.layerIndex} channel ${box.channel}">` +
    `${picture(images, 'photo', mode)}</svg>`
  );
}

/** A square window around `r`, at least `minShare` of the picture's shorter side, clipped to the picture. */
export function windowAround(r: Rect, W: number, H: number, minShare: number): Rect {
  const side = Math.min(Math.max(r.width, r.height, minShare * Math.min(W, H)), Math.max(W, H));
  const width = Math.min(side, W);
  const height = Math.min(side, H);
  const x = Math.min(Math.max(0, r.x + r.width / 2 - width / 2), W - width);
  const y = Math.min(Math.max(0, r.y + r.height / 2 - height / 2), H - height);
  return { x, y, width, height };
}

/** `r` outlined in `color` over a light halo, when it is noticeably smaller than the window showing it. */
export function fieldOutline(r: Rect, view: Rect, color: string): string {
  if (r.width >= view.width * 0.92 && r.height >= view.height * 0.92) return '';
  const w = Math.max(view.width, view.height) / 40;
  const geometry = `x="${r.x.toFixed(1)}" y="${r.y.toFixed(1)}" width="${r.width.toFixed(1)}" height="${r.height.toFixed(1)}"`;
  return (
    `<rect ${geometry} fill="none" stroke="#fff" stroke-opacity="0.85" stroke-width="${(w * 2.4).toFixed(2)}"/>` +
    `<rect ${geometry} fill="none" stroke="${color}" stroke-width="${w.toFixed(2)}"/>`
  );
}

/**
 * A picture (`body`, in its own W x H coordinates) seen through a square window around `r`, at least `minShare` of
 * its shorter side wide (so a 3-pixel field of a first layer shows what surrounds it), with `r` outlined in `color`.
 */
export function cropSvg(
  body: string,
  size: { width: number; height: number },
  r: Rect,
  color: string,
  minShare: number,
  label: string,
): string {
  const v = windowAround(r, size.width, size.height, minShare);
  return (
    `<svg class="patch" viewBox="${v.x.toFixed(1)} ${v.y.toFixed(1)} ${v.width.toFixed(1)} ${v.height.toFixed(1)}" ` +
    `preserveAspectRatio="xMidYMid slice" role="img" aria-label="${escapeHtml(label)}">${body}${fieldOutline(r, v, color)}</svg>`
  );
}

/** The photo around a neuron's box (see {@link cropSvg}), the box outlined in its depth colour `color`. */
export function contextPatchSvg(
  images: OverlayImages,
  box: NeuronBox,
  color: string,
  minShare = 0.2,
  mode: ImageMode = 'reference',
): string {
  const size = { width: images.photoWidth, height: images.photoHeight };
  const around = box.kind === 'deconv' ? 'deconvnet box' : 'receptive field';
  const label = `photo around the ${around} of layer ${box.layerIndex} channel ${box.channel}`;
  return cropSvg(picture(images, 'photo', mode), size, box.imageRect, color, minShare, label);
}

function svgRoot(width: number, height: number, label: string, body: string, cls = 'overlay'): string {
  return (
    `<svg class="${cls}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `role="img" aria-label="${escapeHtml(label)}">${body}</svg>`
  );
}

/** A heat map rendered to a PNG data URI, one pixel per cell, with how it was scaled. */
export interface HeatImage {
  readonly dataUri: string;
  /** The |r| (or saliency range) that maps to full colour. */
  readonly scale: number;
  /** Largest |value| in the map (Pearson maps), or the saliency range (RISE). */
  readonly peak: number;
  /** Share of cells with a defined value. */
  readonly defined: number;
}

// PuOr ends (ColorBrewer): a diverging pair safe for colour-vision deficiencies.
const POSITIVE = [230, 97, 1] as const;
const NEGATIVE = [94, 60, 153] as const;

async function png(rgba: Uint8Array, width: number, height: number): Promise<string> {
  const data = await sharp(rgba, { raw: { width, height, channels: 4 } })
    .png({ compressionLevel: 9, palette: true, quality: 95, effort: 10 })
    .toBuffer();
  return `data:image/png;base64,${data.toString('base64')}`;
}

/**
 * A Pearson map as translucent colour: orange where keeping the pixel raises the activation, purple where it
 * lowers it, opacity growing with |r| / scale. The scale is the map's largest |r|, but at least `floor` (the
 * size of chance correlations with M masks), so a map of pure noise stays faint.
 */
export async function pearsonImage(map: Float32Array, width: number, height: number, floor: number) {
  let peak = 0;
  let defined = 0;
  for (const v of map) {
    if (Number.isNaN(v)) continue;
    defined++;
    peak = Math.max(peak, Math.abs(v));
  }
  const scale = Math.max(peak, floor);
  const rgba = new Uint8Array(width * height * 4);
  map.forEach((v, i) => {
    if (Number.isNaN(v)) return;
    const t = Math.min(1, Math.abs(v) / scale);
    const c = v >= 0 ? POSITIVE : NEGATIVE;
    rgba.set([c[0], c[1], c[2], Math.round(235 * t ** 1.3)], i * 4);
  });
  return { dataUri: await png(rgba, width, height), scale, peak, defined: defined / map.length } satisfies HeatImage;
}

/** A saliency map (RISE) in inferno colours, opacity growing from its minimum to its maximum. */
export async function saliencyImage(map: Float32Array, width: number, height: number) {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let defined = 0;
  for (const v of map) {
    if (Number.isNaN(v)) continue;
    defined++;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const range = hi > lo ? hi - lo : 1;
  const rgba = new Uint8Array(width * height * 4);
  map.forEach((v, i) => {
    if (Number.isNaN(v)) return;
    const t = (v - lo) / range;
    const [r, g, b] = interpolate(INFERNO, t);
    rgba.set([r, g, b, Math.round(40 + 195 * t)], i * 4);
  });
  return {
    dataUri: await png(rgba, width, height),
    scale: range,
    peak: hi,
    defined: defined / map.length,
  } satisfies HeatImage;
}

/** The faded grey model input with a heat map over it and, optionally, a box (model-input pixels). */
export function heatSvg(
  images: OverlayImages,
  heat: HeatImage,
  cells: { width: number; height: number; block: number },
  label: string,
  box: NeuronBox | null,
  mode: ImageMode = 'reference',
): string {
  const W = images.inputWidth;
  const H = images.inputHeight;
  const layer =
    `<image href="${heat.dataUri}" x="0" y="0" width="${cells.width * cells.block}" ` +
    `height="${cells.height * cells.block}" preserveAspectRatio="none"/>`;
  let outline = '';
  if (box && box.activation > 0) {
    const b = box.inputBox;
    const w = Math.max(W, H) / 110;
    outline = rect(
      { x: b.left, y: b.top, width: b.right - b.left + 1, height: b.bottom - b.top + 1 },
      '#ffffff',
      w,
      false,
      boxTitle(box),
    );
  }
  return svgRoot(W, H, label, picture(images, 'inputGrey', mode) + layer + outline, 'heat');
}

/** A small legend: the layer-depth colours from the first to the last layer. */
export function depthLegendSvg(first: number, last: number): string {
  const steps = 24;
  const cells = Array.from({ length: steps }, (_, i) => {
    const t = i / (steps - 1);
    return `<rect x="${(i * 10).toFixed(0)}" y="0" width="10" height="12" fill="${depthColor(t)}"/>`;
  }).join('');
  return (
    `<span class="depth-legend">layer ${first} <svg viewBox="0 0 ${steps * 10} 12" width="${steps * 6}" height="10" ` +
    `aria-hidden="true">${cells}</svg> layer ${last} (shallow → deep)</span>`
  );
}

/** The diverging legend of the Pearson maps. */
export function pearsonLegendHtml(): string {
  const swatch = (c: readonly number[]) => `<span class="key" style="background:${hex(c)}"></span>`;
  return (
    `<span class="heat-legend">${swatch(NEGATIVE)}keeping the region lowers the activation ` +
    `${swatch(POSITIVE)}raises it; stronger colour = larger |r|</span>`
  );
}

/** Words for a Pearson map's strength, by its peak |r| against the chance level. */
export function mapStrength(peak: number, floor: number): string {
  return peak < floor ? `max |r| ${fixed(peak, 2)} (not above chance)` : `max |r| ${fixed(peak, 2)}`;
}

/** Chance level of a Pearson map's peak with M masks: about 4 standard errors of r under independence. */
export function chanceLevel(masks: number): number {
  return 4 / Math.sqrt(masks);
}

/** Finds the map row of a neuron. */
export function findMap(rows: readonly MapRow[], layerIndex: number, channel: number): MapRow | undefined {
  return rows.find((r) => r.layerIndex === layerIndex && r.channel === channel && r.statistic === 'pearson');
}
