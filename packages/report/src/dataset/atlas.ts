/**
 * The atlas of a sweep (`atlas.html`): for every neuron that some image selected, the images of the dataset that
 * drive it most (by its peak activation on the clean image), each cropped around its receptive field at the most
 * active unit, beside how the two metrics treated it across the images. Computed from the sweep's tables; the page,
 * like the per-image report, is one file that requests nothing.
 */
import { count, fixed, general, percent } from '../format.js';
import { escapeHtml } from '../html.js';
import { cropSvg, depth, depthColor, depthLegendSvg } from '../overlays.js';
import { neuronAnchor, type Rect } from '../visual.js';
import { type DatasetImage, datasetPage, imageFacts, pictureDefs, pictureId, thumbnailSvg } from './page.js';

/** One of a neuron's top images: where in it the neuron peaks, and how strongly. */
export interface AtlasExample {
  /** Index of the image in {@link AtlasInput.images}. */
  readonly image: number;
  /** The receptive field of the most active unit, in the image's own pixels. */
  readonly rect: Rect;
  /** The peak activation (the most active unit's value on the clean image). */
  readonly activation: number;
}

/** A neuron's entry. */
export interface AtlasNeuron {
  readonly layerIndex: number;
  readonly channel: number;
  /** Its class label when its layer's channels are the classes. */
  readonly label: string | null;
  /** Images that selected it by correlation, by precision (of {@link AtlasInput.analysed}). */
  readonly selectedCorrelation: number;
  readonly selectedPrecision: number;
  /**
   * Mean correlation over the images where it is defined; the geometric mean of precision over those where it is
   * eligible (precision spans orders of magnitude).
   */
  readonly meanCorrelation: number | null;
  readonly precision: number | null;
  /** Share of images in which it is eligible for precision. */
  readonly eligibleShare: number;
  /** The class it is most selective for, among classes with the minimum support; null when none has it. */
  readonly bestClass: { readonly name: string; readonly auroc: number; readonly images: number } | null;
  /** The commonest label among its top images, when at least two share it. */
  readonly commonLabel: { readonly name: string; readonly images: number } | null;
  readonly examples: readonly AtlasExample[];
}

/** A layer of the atlas. */
export interface AtlasLayer {
  readonly layer: string;
  readonly layerIndex: number;
  readonly channels: number;
  /** Receptive field size (rows, columns) in model-input pixels, and whether it is the whole input. */
  readonly field: { readonly size: readonly [number, number]; readonly global: boolean } | null;
  /** Its neurons with an entry, the most often selected first. */
  readonly neurons: readonly AtlasNeuron[];
}

/** Everything the atlas page shows. */
export interface AtlasInput {
  readonly model: { readonly name: string; readonly sha256: string };
  /** Images analysed (the population of every count). */
  readonly analysed: number;
  /** Top images per neuron. */
  readonly top: number;
  readonly minSupport: number;
  readonly layers: readonly AtlasLayer[];
  /** The images that appear in some entry, by their index in the sweep. */
  readonly images: readonly DatasetImage[];
  /** The sweep report, relative to the atlas. */
  readonly reportHref: string | null;
}

/** One example: the crop (a link to the image's entry) and a caption. */
function exampleHtml(n: AtlasNeuron, e: AtlasExample, color: string, byIndex: Map<number, DatasetImage>) {
  const im = byIndex.get(e.image);
  if (!im) return '';
  const size = { width: im.picture.originalWidth, height: im.picture.originalHeight };
  const label = `${im.name}: where layer ${n.layerIndex} channel ${n.channel} peaks`;
  const crop = cropSvg(`<use href="#${pictureId(im.index)}"/>`, size, e.rect, color, 0.25, label);
  // ImageNet labels list synonyms ("ruffed grouse, partridge, Bonasa umbellus"): the first names the class.
  const full = im.label ?? im.prediction ?? im.name;
  const caption = full.split(', ')[0] ?? full;
  return (
    `<figure><a href="#img-${im.index}" style="border-color:${color}" title="${escapeHtml(`${im.name} · ${full} · peak ${general(e.activation)}`)}">${crop}</a>` +
    `<figcaption>${escapeHtml(caption)} <span class="muted">${general(e.activation)}</span></figcaption></figure>`
  );
}

/** A neuron's entry: name, how the metrics treated it across the images, and its top images. */
function entry(
  input: AtlasInput,
  layer: AtlasLayer,
  n: AtlasNeuron,
  color: string,
  byIndex: Map<number, DatasetImage>,
) {
  const name = n.label === null ? `channel ${n.channel}` : `channel ${n.channel} <q>${escapeHtml(n.label)}</q>`;
  const facts = [
    `selected in <strong>${count(n.selectedCorrelation)}</strong> of ${count(input.analysed)} images by correlation, ` +
      `<strong>${count(n.selectedPrecision)}</strong> by precision`,
    `mean correlation ${fixed(n.meanCorrelation)}; precision ${general(n.precision)} (geometric mean) ` +
      `(eligible in ${percent(n.eligibleShare)})`,
  ];
  if (n.bestClass) {
    facts.push(
      `most selective for <q>${escapeHtml(n.bestClass.name)}</q> (AUROC ${fixed(n.bestClass.auroc)} over ${count(n.bestClass.images)} images)`,
    );
  }
  if (n.commonLabel) {
    facts.push(
      `${count(n.commonLabel.images)} of its top ${count(n.examples.length)} images are <q>${escapeHtml(n.commonLabel.name)}</q>`,
    );
  }
  const strip = n.examples.map((e) => exampleHtml(n, e, color, byIndex)).join('');
  return (
    `<article class="entry" id="${neuronAnchor(layer.layerIndex, n.channel)}" tabindex="-1"><h4>${name} ` +
    `<span class="muted">layer ${layer.layerIndex}</span></h4><p>${facts.join('; ')}.</p>` +
    `<div class="strip">${strip || '<p class="muted note">silent on every image</p>'}</div></article>`
  );
}

/** A layer: closed, its summary line saying how many neurons it has entries for and what they see. */
function layerHtml(input: AtlasInput, layer: AtlasLayer, range: [number, number], byIndex: Map<number, DatasetImage>) {
  const color = depthColor(depth(layer.layerIndex, ...range));
  const field = layer.field
    ? layer.field.global
      ? 'sees the whole input'
      : `field ${layer.field.size[1]}×${layer.field.size[0]} px`
    : 'field unknown';
  const entries = layer.neurons.map((n) => entry(input, layer, n, color, byIndex)).join('');
  return (
    `<details class="layer" id="layer-${layer.layerIndex}"><summary><span class="swatch" style="background:${color}"></span>` +
    `<span class="muted">${layer.layerIndex}</span> <code>${escapeHtml(layer.layer)}</code> <span class="muted">` +
    `${count(layer.neurons.length)} of ${count(layer.channels)} channels selected somewhere · ${field}</span></summary>${entries}</details>`
  );
}

/** The images index: every image that appears, with what is known of it. */
function imagesHtml(images: readonly DatasetImage[]): string {
  return images
    .map((im) => {
      const file = im.href ? ` <a href="${escapeHtml(im.href)}">open the file</a>` : '';
      return (
        `<div class="image-entry" id="img-${im.index}">${thumbnailSvg(im)}<div><strong>${escapeHtml(im.name)}</strong>` +
        `<br>${imageFacts(im)}${file}</div></div>`
      );
    })
    .join('');
}

/** Renders the atlas page; deterministic. */
export function renderAtlas(input: AtlasInput): string {
  const indices = input.layers.map((l) => l.layerIndex);
  const range: [number, number] = [Math.min(...indices), Math.max(...indices)];
  const byIndex = new Map(input.images.map((im) => [im.index, im]));
  const neurons = input.layers.reduce((n, l) => n + l.neurons.length, 0);
  const intro =
    `<p>For each of the ${count(neurons)} neurons that at least one of the ${count(input.analysed)} analysed images ` +
    `selected (top-k by correlation or by precision), its top ${count(input.top)} images by peak activation on the ` +
    'clean image, each cropped around the receptive field of its most active unit (the field outlined, in the colour ' +
    `of the layer’s depth). ${depthLegendSvg(range[0], range[1])} Class selectivity needs at least ${count(input.minSupport)} ` +
    'images of a class. Computed from the sweep’s tables, without running the network again. Open a layer, or follow ' +
    `a link from a per-image report.${input.reportHref ? ` <a href="${escapeHtml(input.reportHref)}">The sweep report</a>.` : ''}</p>` +
    '<p class="legend"><button type="button" data-details="details.layer" data-open="1" hidden>Open all layers</button> ' +
    '<button type="button" data-details="details.layer" data-open="0" hidden>Close all</button></p>';
  const body =
    `<section id="neurons"><h2>Neurons, layer by layer</h2>${intro}${input.layers.map((l) => layerHtml(input, l, range, byIndex)).join('')}</section>` +
    `<section id="images"><h2>Images</h2><details class="inline" id="image-index"><summary>The ${count(input.images.length)} ` +
    `images that appear above, with their labels and predictions</summary>${imagesHtml(input.images)}</details></section>`;
  return datasetPage({
    title: `atlas · ${input.model.name} · neuronscope`,
    heading: 'What the neurons respond to',
    subtitle: `${input.model.name} · ${count(input.analysed)} images`,
    toc: [
      ['neurons', 'Neurons, layer by layer'],
      ['images', 'Images'],
    ],
    defs: pictureDefs(input.images),
    body,
  });
}
