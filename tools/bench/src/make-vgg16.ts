/**
 * Writes a VGG-16 (configuration D of Simonyan & Zisserman: 13 conv3x3 + ReLU, 5 max-pools, FC 4096-4096-classes)
 * with seeded random He-normal weights as an ONNX file: the paper's model shape at 128x128 with 2 classes, for
 * speed measurements only (the weights mean nothing). Input `input` [batch, 3, H, W] with a dynamic batch, output
 * `logits` [batch, classes].
 *
 *   node tools/bench/dist/make-vgg16.js [--size 128] [--classes 2] [--seed 1] [--out out/bench/vgg16-128.onnx]
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = 1;

/** The conv widths of VGG-16; 'M' is a 2x2 max-pool. */
const VGG16: readonly (number | 'M')[] = [
  64,
  64,
  'M',
  128,
  128,
  'M',
  256,
  256,
  256,
  'M',
  512,
  512,
  512,
  'M',
  512,
  512,
  512,
  'M',
];

/** A small seeded generator (splitmix32 state, Box-Muller normals): deterministic across runs and platforms. */
class Normals {
  private state: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  private uniform(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return (z + 0.5) / 4294967296;
  }
  next(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const t = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(t);
    return r * Math.cos(t);
  }
}

function tensor(name: string, dims: number[], values: Float32Array): onnxProto.onnx.ITensorProto {
  return {
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

const ints = (name: string, values: number[]) => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints: values,
});
const int = (name: string, value: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });

/** Serialized VGG-16 for `size` x `size` RGB inputs and `classes` outputs, weights drawn from `seed`. */
export function vgg16Model(opts: { size: number; classes: number; seed: number }): Uint8Array {
  const { size, classes } = opts;
  if (size % 32 !== 0) throw new Error(`size ${size} must be a multiple of 32 (five 2x2 pools)`);
  const rng = new Normals(opts.seed);
  const heNormal = (count: number, fanIn: number) => {
    const std = Math.sqrt(2 / fanIn);
    const w = new Float32Array(count);
    for (let i = 0; i < count; i++) w[i] = std * rng.next();
    return w;
  };
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const initializers: onnxProto.onnx.ITensorProto[] = [];
  let current = 'input';
  let channels = 3;
  let conv = 0;
  let pool = 0;
  for (const item of VGG16) {
    if (item === 'M') {
      pool++;
      const out = `pool${pool}`;
      nodes.push({
        opType: 'MaxPool',
        name: out,
        input: [current],
        output: [out],
        attribute: [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])],
      });
      current = out;
      continue;
    }
    conv++;
    const w = `conv${conv}.weight`;
    const b = `conv${conv}.bias`;
    initializers.push(tensor(w, [item, channels, 3, 3], heNormal(item * channels * 9, channels * 9)));
    initializers.push(tensor(b, [item], new Float32Array(item).fill(0.01)));
    nodes.push({
      opType: 'Conv',
      name: `conv${conv}`,
      input: [current, w, b],
      output: [`conv${conv}`],
      attribute: [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), ints('strides', [1, 1])],
    });
    nodes.push({ opType: 'Relu', name: `relu${conv}`, input: [`conv${conv}`], output: [`relu${conv}`] });
    current = `relu${conv}`;
    channels = item;
  }
  nodes.push({ opType: 'Flatten', name: 'flatten', input: [current], output: ['flat'], attribute: [int('axis', 1)] });
  const side = size / 32;
  let features = channels * side * side;
  current = 'flat';
  const widths = [4096, 4096, classes];
  widths.forEach((width, i) => {
    const name = `fc${i + 1}`;
    initializers.push(tensor(`${name}.weight`, [width, features], heNormal(width * features, features)));
    initializers.push(tensor(`${name}.bias`, [width], new Float32Array(width)));
    const last = i === widths.length - 1;
    const out = last ? 'logits' : name;
    nodes.push({
      opType: 'Gemm',
      name,
      input: [current, `${name}.weight`, `${name}.bias`],
      output: [out],
      attribute: [int('transB', 1)],
    });
    current = out;
    if (!last) {
      nodes.push({ opType: 'Relu', name: `${name}.relu`, input: [out], output: [`${name}.relu`] });
      current = `${name}.relu`;
    }
    features = width;
  });
  const dims = (d: (number | string)[]) => ({
    dim: d.map((x) => (typeof x === 'string' ? { dimParam: x } : { dimValue: x })),
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'neuronscope-bench',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: `vgg16_${size}_random`,
      node: nodes,
      initializer: initializers,
      input: [{ name: 'input', type: { tensorType: { elemType: FLOAT, shape: dims(['batch', 3, size, size]) } } }],
      output: [{ name: 'logits', type: { tensorType: { elemType: FLOAT, shape: dims(['batch', classes]) } } }],
    },
  }).finish();
}

/** Writes the model atomically to `path` (creating its directory). */
export async function writeVgg16(path: string, opts: { size: number; classes: number; seed: number }): Promise<void> {
  const bytes = vgg16Model(opts);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}

/** Reads `--name value` from argv. */
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const size = Number(arg('size', '128'));
  const out = resolve(arg('out', `out/bench/vgg16-${size}.onnx`));
  await writeVgg16(out, { size, classes: Number(arg('classes', '2')), seed: Number(arg('seed', '1')) });
  process.stdout.write(`wrote ${out}\n`);
}
