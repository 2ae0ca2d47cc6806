/**
 * The floor: what reading every recorded activation costs at the least inside onnxruntime, against bare inference
 * and against neuronscope's reductions, on one single-threaded session, the same batch and inputs.
 *
 * - `channel means`: a GlobalAveragePool per recorded layer. onnxruntime runs it on its blocked NCHWc layout next
 *   to the convolutions, so this is the cheapest way to look at every activation once (channel-level only).
 * - `one sum per unit`: sum over the batch of every unit of every recorded layer ([1, B] x [B, U] MatMul), the
 *   least any unit-level statistic needs: the tensor leaves the NCHWc layout and is read once.
 * - `neuronscope`: the reductions `extract` runs (shifted sums of d, d*e, d^2 and the channel means).
 *
 * If the one-sum floor already costs more than 5% over bare inference, no unit-level analysis on top of
 * onnxruntime can reach a ratio of 0.95 on that model.
 */
import { appendGraph, layerShapes, loadModel, recordableLayers, withReductions } from '@neuronscope/model';
import type onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';

const ONNX_FLOAT = 1;
const ONNX_INT64 = 7;

/** Per-copy milliseconds of each variant (median over rounds) and its ratio to bare inference. */
export interface FloorResult {
  readonly bare: number;
  readonly channelMeans: number;
  readonly oneSumPerUnit: number;
  readonly neuronscope: number;
}

/** The model's bytes followed by a fragment that adds, per layer, `build(layer, k)` as graph outputs. */
function withFragment(
  bytes: Uint8Array,
  layers: readonly string[],
  batch: number,
  build: (layer: string, k: number, node: (op: string, inputs: string[], out: string) => string) => string,
): Uint8Array {
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const node = (opType: string, input: string[], output: string) => {
    nodes.push({ opType, name: output, input, output: [output] });
    return output;
  };
  const outputs = layers.map((l, k) => build(l, k, node));
  return appendGraph(bytes, {
    node: nodes,
    initializer: [
      { name: 'floor/rows', dims: [2], dataType: ONNX_INT64, int64Data: [batch, -1] },
      { name: 'floor/ones', dims: [1, batch], dataType: ONNX_FLOAT, floatData: new Array(batch).fill(1) },
    ],
    output: outputs.map((name) => ({ name, type: { tensorType: { elemType: ONNX_FLOAT } } })),
  });
}

/**
 * Times bare inference, the two floors and neuronscope's reductions on `batch` copies in `data` (rendered copies
 * of a `size` x `size` RGB image), `rounds` rounds of 3 runs each after warm-up; bare runs first and last.
 */
export async function measureFloor(
  modelPath: string,
  data: Float32Array,
  dims: readonly number[],
  rounds = 7,
): Promise<FloorResult> {
  const model = await loadModel(modelPath);
  const batch = dims[0]!;
  const layers = await layerShapes(model, recordableLayers(model), [1, ...dims.slice(1)]);
  const names = layers.map((l) => l.layer);
  const input = { [model.inputName]: new ort.Tensor('float32', data, [...dims]) };

  const reducing = withReductions(model.bytes, {
    layers,
    outputName: model.graph.outputs[0]!.name,
    output: 'prob',
  });
  const reductionFeeds: Record<string, ort.Tensor> = {
    ...input,
    [reducing.names.target]: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    [reducing.names.yShift]: new ort.Tensor('float64', Float64Array.of(0.5), [1]),
  };
  layers.forEach((l, k) => {
    // Any shift does: the cost does not depend on its values.
    const shift = new Float32Array(l.channels * l.height * l.width).fill(0.25);
    reductionFeeds[reducing.names.shifts[k]!] = new ort.Tensor('float32', shift, [l.channels, l.height, l.width]);
  });

  const variants: [keyof FloorResult | 'bareAgain', Uint8Array, Record<string, ort.Tensor>][] = [
    ['bare', model.bytes, input],
    [
      'channelMeans',
      withFragment(model.bytes, names, batch, (l, k, node) => node('GlobalAveragePool', [l], `floor/mean/${k}`)),
      input,
    ],
    [
      'oneSumPerUnit',
      withFragment(model.bytes, names, batch, (l, k, node) =>
        node('MatMul', ['floor/ones', node('Reshape', [l, 'floor/rows'], `floor/rows/${k}`)], `floor/sum/${k}`),
      ),
      input,
    ],
    ['neuronscope', reducing.bytes, reductionFeeds],
    ['bareAgain', model.bytes, input],
  ];
  const perCopy: Record<string, number[]> = {};
  for (const [name, bytes, feeds] of variants) {
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 1,
      logSeverityLevel: 3,
    });
    try {
      for (let i = 0; i < 3; i++) await session.run(feeds);
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const t = performance.now();
        for (let i = 0; i < 3; i++) await session.run(feeds);
        times.push((performance.now() - t) / 3 / batch);
      }
      const key = name === 'bareAgain' ? 'bare' : name;
      perCopy[key] = [...(perCopy[key] ?? []), ...times];
    } finally {
      await session.release();
    }
  }
  const median = (xs: readonly number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  return {
    bare: median(perCopy.bare!),
    channelMeans: median(perCopy.channelMeans!),
    oneSumPerUnit: median(perCopy.oneSumPerUnit!),
    neuronscope: median(perCopy.neuronscope!),
  };
}
