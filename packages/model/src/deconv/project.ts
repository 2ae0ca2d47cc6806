/**
 * Deconvnet projections of a layer's neurons onto one input image (Zeiler & Fergus 2014, as used by Lengerich,
 * Konam et al. 2017): a forward session gives the layer's clean activations (and, as the mode needs, the ReLU
 * inputs and MaxPool switches); a backward session (graph.ts) projects many neurons at once, one per batch row,
 * each row starting from a signal that is zero except in the neuron's channel.
 */
import { type InputTensor, tensorDims, UserError } from '@neuronscope/core';
import * as ort from 'onnxruntime-node';
import { withExtraOutputs } from '../extra-outputs.js';
import { type LoadedModel, parseModel } from '../load.js';
import type { PixelBox } from '../receptive-field.js';
import { createSession } from '../session.js';
import { appendGraph } from '../wire.js';
import type { DeconvMode, UnpoolMode } from './backward.js';
import { DEFAULT_BOX_THRESHOLD, magnitudeBox, pixelMagnitudes } from './box.js';
import { buildDeconvGraph, type DeconvGraph } from './graph.js';

/** Where a projection starts: the neuron's strongest unit only, or its whole activation map. */
export type DeconvStart = 'peak' | 'map';

/** A neuron of the layer: a channel, and optionally the unit (y · width + x) to start a 'peak' projection from. */
export interface NeuronRef {
  readonly channel: number;
  /** Default: the channel's strongest unit on the image (the first, on ties). */
  readonly unit?: number;
}

/** One neuron's projection onto the input. */
export interface NeuronProjection {
  readonly channel: number;
  /** The unit the 'peak' projection started from (y · width + x); null for 'map'. */
  readonly unit: number | null;
  /** The clean activation the projection started from: at `unit` ('peak'), or the map's largest ('map'). */
  readonly activation: number;
  /** In the input tensor's layout and shape (batch 1). */
  readonly projection: Float32Array;
  /** Bounding box of the projection at the deconvnet's box threshold (see {@link projectionBox}); null if all 0. */
  readonly box: PixelBox | null;
  /** Bounding box of every nonzero pixel of the projection (threshold 0); null if all 0. */
  readonly support: PixelBox | null;
}

/** Options of {@link createDeconv}. */
export interface DeconvOptions {
  /** The recorded layer (a 4-D tensor name, e.g. from `recordableLayers`). */
  readonly layer: string;
  /** Default 'deconvnet'; 'guided' also masks each ReLU by the forward pass (guided backpropagation). */
  readonly mode?: DeconvMode;
  /** Default 'nearest' (the value spread over the pooling window); 'switches' puts it at the forward argmax. */
  readonly unpool?: UnpoolMode;
  /** Input size and layout the projections are for; default the model's fixed input. */
  readonly input?: Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>;
  /** Box threshold, a fraction of the strongest pixel's magnitude; default {@link DEFAULT_BOX_THRESHOLD}. */
  readonly boxThreshold?: number;
  /** Neurons projected per backward run (batch rows); default 16. */
  readonly batchSize?: number;
  /** Intra-op threads of both sessions; onnxruntime's default when omitted. */
  readonly threads?: number;
}

/** A deconvnet for one layer of one model, holding its two onnxruntime sessions until {@link Deconv.release}. */
export interface Deconv {
  readonly layer: string;
  /** The layer's dims for one image: [1, channels, height, width]. */
  readonly layerDims: readonly number[];
  /** The generated backward model and its inputs. */
  readonly graph: DeconvGraph;
  /** Projects `neurons` of the layer onto `input`, starting at each one's strongest unit ('peak') or whole map. */
  project(input: InputTensor, neurons: readonly NeuronRef[], start?: DeconvStart): Promise<NeuronProjection[]>;
  release(): Promise<void>;
}

type Geometry = Pick<InputTensor, 'layout' | 'channels' | 'height' | 'width'>;

const describeGeometry = (g: Geometry) => `${g.layout} ${g.channels}x${g.height}x${g.width}`;

/** The model's fixed input geometry, or a {@link UserError} when it has none. */
function fixedGeometry(model: LoadedModel): Geometry {
  const { layout, channels, height, width } = model;
  if (layout === null || channels === null || height === null || width === null) {
    throw new UserError(`model ${model.path} has no fixed input size and layout: give the deconvnet's input geometry`);
  }
  return { layout, channels, height, width };
}

/** The forward model with the layer, the forward tensors and the switches as outputs. */
function forwardModel(bytes: Uint8Array, layer: string, graph: DeconvGraph): Uint8Array {
  const withOutputs = withExtraOutputs(bytes, [layer, ...graph.forwardTensors]);
  return graph.forwardFragment ? appendGraph(withOutputs, graph.forwardFragment) : withOutputs;
}

/** One row's starting signal: a unit, or the whole map, of one channel. */
interface Seed {
  readonly channel: number;
  readonly unit: number | null;
  readonly activation: number;
}

/** The {@link Deconv} that {@link createDeconv} returns: its two sessions and how to run them. */
class DeconvSessions implements Deconv {
  readonly layer: string;
  readonly layerDims: readonly number[];
  private readonly channels: number;
  private readonly mapSize: number;

  constructor(
    private readonly inputName: string,
    private readonly options: DeconvOptions,
    private readonly geometry: Geometry,
    readonly graph: DeconvGraph,
    private readonly forward: ort.InferenceSession,
    private readonly backward: ort.InferenceSession,
  ) {
    this.layer = options.layer;
    this.layerDims = graph.layerDims;
    const [, channels, height, width] = graph.layerDims as [number, number, number, number];
    this.channels = channels;
    this.mapSize = height * width;
  }

  async release(): Promise<void> {
    await this.forward.release();
    await this.backward.release();
  }

  async project(
    input: InputTensor,
    neurons: readonly NeuronRef[],
    start: DeconvStart = 'peak',
  ): Promise<NeuronProjection[]> {
    if (describeGeometry(input) !== describeGeometry(this.geometry)) {
      throw new UserError(
        `deconvnet built for ${describeGeometry(this.geometry)} inputs, given ${describeGeometry(input)}`,
      );
    }
    const outputs = await this.forward.run(
      { [this.inputName]: new ort.Tensor('float32', input.data, tensorDims(input)) },
      [this.options.layer, ...this.graph.forwardTensors, ...this.graph.switchTensors],
    );
    const layer = outputs[this.options.layer]!;
    if (layer.dims.join() !== this.graph.layerDims.join()) {
      throw new Error(
        `deconvnet: layer dims [${layer.dims.join(', ')}] differ from the computed [${this.graph.layerDims.join(', ')}]`,
      );
    }
    const activations = layer.data as Float32Array;
    const seeds = neurons.map((n) => this.seed(n, activations, start));
    const forwardFeeds = Object.fromEntries(
      [...this.graph.forwardTensors, ...this.graph.switchTensors].map((name) => [name, outputs[name]!]),
    );
    const results: NeuronProjection[] = [];
    const batchSize = this.options.batchSize ?? 16;
    for (let first = 0; first < seeds.length; first += batchSize) {
      results.push(...(await this.runBatch(seeds.slice(first, first + batchSize), activations, forwardFeeds)));
    }
    return results;
  }

  /** The starting signal of one neuron; a {@link UserError} for a channel or unit outside the layer. */
  private seed(neuron: NeuronRef, activations: Float32Array, start: DeconvStart): Seed {
    const { channel, unit } = neuron;
    if (!Number.isInteger(channel) || channel < 0 || channel >= this.channels) {
      throw new UserError(
        `deconvnet: channel ${channel} is not a channel of layer '${this.options.layer}' (0-${this.channels - 1})`,
      );
    }
    if (unit !== undefined && (!Number.isInteger(unit) || unit < 0 || unit >= this.mapSize)) {
      throw new UserError(
        `deconvnet: unit ${unit} is not a unit of layer '${this.options.layer}' (0-${this.mapSize - 1})`,
      );
    }
    const map = activations.subarray(channel * this.mapSize, (channel + 1) * this.mapSize);
    let strongest = 0;
    for (let u = 1; u < map.length; u++) if (map[u]! > map[strongest]!) strongest = u;
    if (start === 'map') return { channel, unit: null, activation: map[strongest]! };
    const seeded = unit ?? strongest;
    return { channel, unit: seeded, activation: map[seeded]! };
  }

  private async runBatch(
    seeds: readonly Seed[],
    activations: Float32Array,
    forwardFeeds: Record<string, ort.Tensor>,
  ): Promise<NeuronProjection[]> {
    const rowSize = this.channels * this.mapSize;
    const signal = new Float32Array(seeds.length * rowSize);
    seeds.forEach((s, row) => {
      const offset = row * rowSize + s.channel * this.mapSize;
      if (s.unit === null) {
        signal.set(activations.subarray(s.channel * this.mapSize, (s.channel + 1) * this.mapSize), offset);
      } else {
        signal[offset + s.unit] = s.activation;
      }
    });
    const out = await this.backward.run(
      {
        ...forwardFeeds,
        [this.graph.signal]: new ort.Tensor('float32', signal, [seeds.length, ...this.graph.layerDims.slice(1)]),
      },
      [this.graph.projection],
    );
    const projections = out[this.graph.projection]!.data as Float32Array;
    const inputSize = this.geometry.channels * this.geometry.height * this.geometry.width;
    return seeds.map((s, row) => {
      const projection = projections.slice(row * inputSize, (row + 1) * inputSize);
      const magnitudes = pixelMagnitudes(projection, this.geometry);
      return {
        ...s,
        projection,
        box: magnitudeBox(magnitudes, this.geometry, this.options.boxThreshold ?? DEFAULT_BOX_THRESHOLD),
        support: magnitudeBox(magnitudes, this.geometry, 0),
      };
    });
  }
}

/**
 * A deconvnet (or guided backpropagation) for `options.layer` of `model` (model bytes, or a model from
 * `loadModel`): the backward graph is generated (see {@link buildDeconvGraph}) and both sessions created. A
 * {@link UserError} when an op between the input and the layer has no backward rule, naming the op and the node.
 */
export async function createDeconv(model: LoadedModel | Uint8Array, options: DeconvOptions): Promise<Deconv> {
  const loaded = model instanceof Uint8Array ? parseModel(model, '(in memory)') : model;
  const geometry = options.input ?? fixedGeometry(loaded);
  const graph = buildDeconvGraph(loaded, {
    layer: options.layer,
    mode: options.mode ?? 'deconvnet',
    unpool: options.unpool ?? 'nearest',
    inputDims: tensorDims(geometry),
  });
  const sessionOptions = options.threads === undefined ? {} : { threads: options.threads };
  const forward = await createSession(forwardModel(loaded.bytes, options.layer, graph), {
    ...sessionOptions,
    modelPath: loaded.path,
  });
  let backward: ort.InferenceSession;
  try {
    backward = await createSession(graph.bytes, { ...sessionOptions, modelPath: `deconvnet of ${loaded.path}` });
  } catch (err) {
    await forward.release();
    throw err;
  }
  return new DeconvSessions(loaded.inputName, options, geometry, graph, forward, backward);
}

/** A layer's projections, or why it has none (an operator on its path without a backward rule). */
export type LayerProjections = { readonly projections: readonly NeuronProjection[] } | { readonly skipped: string };

/**
 * {@link createDeconv}, or why the layer has none: its {@link UserError} (an operator without a backward rule)
 * as a reason, not an error, since the projections are a visualisation the analysis stands without.
 */
export async function createDeconvOrSkip(
  model: LoadedModel | Uint8Array,
  options: DeconvOptions,
): Promise<Deconv | { readonly skipped: string }> {
  try {
    return await createDeconv(model, options);
  } catch (err) {
    if (err instanceof UserError) return { skipped: err.message };
    throw err;
  }
}
