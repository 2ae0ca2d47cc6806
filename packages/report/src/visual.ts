/**
 * The data of the visual report beyond the summary: where each selected neuron looks (its receptive-field box),
 * its resampling heat map, the output over the copies and the stability of the selections. The CLI gathers it
 * from the run's tables and the model graph; every part is optional and the report says what is missing.
 */
import type {
  CurvePoint,
  DeconvMetadata,
  DeconvRow,
  FaithfulnessMetadata,
  MapRow,
  MapsMetadata,
} from '@neuronscope/core';

/** Which selection a neuron belongs to. */
export type NeuronSet = 'correlation' | 'precision' | 'both';

/** A rectangle in original-image pixels (edges, not centres). */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** An inclusive rectangle of model-input pixels. */
export interface InputBox {
  readonly top: number;
  readonly left: number;
  readonly bottom: number;
  readonly right: number;
}

/** Where a box comes from: the receptive field's geometry, or where the deconvnet projection is strong. */
export const BOX_KINDS = ['receptive-field', 'deconv'] as const;
export type BoxKind = (typeof BOX_KINDS)[number];

/**
 * A selected neuron's box at its unit of highest activation on the clean input: its receptive field (the default),
 * or with `kind: 'deconv'` the box of its deconvnet projection (`field` then is still its receptive field).
 */
export interface NeuronBox {
  /** Default `receptive-field`. */
  readonly kind?: BoxKind;
  readonly layer: string;
  readonly layerIndex: number;
  readonly channel: number;
  readonly set: NeuronSet;
  /** The unit (row, column of the feature map) of highest clean activation. */
  readonly unit: { readonly y: number; readonly x: number };
  /** Its clean activation; a neuron whose maximum is ≤ 0 does not fire on the clean image and has no box drawn. */
  readonly activation: number;
  /** Receptive-field size and jump along rows and columns, in model-input pixels; `global` when it is all. */
  readonly field: { readonly size: [number, number]; readonly jump: [number, number]; readonly global: boolean };
  /** The box in model-input pixels, clipped to the input. */
  readonly inputBox: InputBox;
  /** The same box on the original image (preprocessing's resize and crop undone). */
  readonly imageRect: Rect;
}

/** The top-k sets recomputed from the first n copies: mean Jaccard with the sets from all N, per metric. */
export interface StabilityPoint {
  readonly copies: number;
  readonly correlation: number | null;
  readonly precision: number | null;
}

/** Everything visual a report can show. */
export interface VisualInput {
  /** One box per selected neuron (layer, channel); absent when the model or unit statistics were unavailable. */
  readonly boxes?: readonly NeuronBox[];
  /** Where the model input lies in the original image (the crop undone): the whole input as a rectangle. */
  readonly inputRect?: Rect;
  /** The run's `deconv.parquet`: the selected neurons' deconvnet projections onto the input and their boxes. */
  readonly deconv?: { readonly meta: DeconvMetadata; readonly rows: readonly DeconvRow[] };
  /** The deconvnet boxes on the photo (one per neuron whose projection is not all zero). */
  readonly deconvBoxes?: readonly NeuronBox[];
  /** The boxes the overview draws (its figure, mosaic and exported figures); default `receptive-field`. */
  readonly overviewBoxes?: BoxKind;
  /** The run's `maps.parquet`: heat maps of the selected neurons and the output. */
  readonly maps?: { readonly meta: MapsMetadata; readonly rows: readonly MapRow[] };
  /** The output y of every copy, in copy order (`outputs.parquet`), and each copy's top-1 class. */
  readonly outputs?: { readonly y: Float64Array; readonly top1: Int32Array };
  /** Stability of the top-k selections as N grows (channel-level proxies; see the chart caption). */
  readonly stability?: readonly StabilityPoint[];
  /** Deletion and insertion curves of the output's RISE map and of random maps (`faithfulness.parquet`). */
  readonly faithfulness?: { readonly meta: FaithfulnessMetadata; readonly points: readonly CurvePoint[] };
  /**
   * Names of the channels of layers whose channels are the classes (by layer index): the class labels, so a card
   * says “burrito” rather than channel 965.
   */
  readonly channelNames?: ReadonlyMap<number, readonly string[]>;
  /** A dataset atlas of this model: where it is (relative to the report) and which neurons it has entries for. */
  readonly atlas?: AtlasLink;
  /** Why a part is missing, shown where it would be (e.g. "run neuronscope maps"). */
  readonly notes?: Readonly<
    Partial<Record<'boxes' | 'deconv' | 'maps' | 'outputs' | 'stability' | 'faithfulness' | 'atlas', string>>
  >;
}

/** Where a neuron's dataset examples are: `${href}#${atlasAnchor(layerIndex, channel)}` for the neurons listed. */
export interface AtlasLink {
  /** URL of `atlas.html`, relative to the report. */
  readonly href: string;
  /** `layerIndex:channel` of every neuron with an entry. */
  readonly neurons: ReadonlySet<string>;
  /** Images the atlas was computed from. */
  readonly images: number;
}

/** The id of a neuron's entry in an atlas (and of its card in a report): `n-<layer index>-<channel>`. */
export function neuronAnchor(layerIndex: number, channel: number): string {
  return `n-${layerIndex}-${channel}`;
}
