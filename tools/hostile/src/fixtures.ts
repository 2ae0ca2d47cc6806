/**
 * The hostile inputs: models with outputs neuronscope must refuse, broken and oversized images, odd labels files,
 * all written into a temporary workspace (nothing here is part of the repository's data).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';

const { onnx } = onnxProto;
const FLOAT = 1;
const INT64 = 7;

type Dim = number | string;

function info(name: string, dims: Dim[], elemType = FLOAT) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function floats(name: string, dims: number[], fill: (i: number) => number) {
  const size = dims.reduce((a, b) => a * b, 1);
  return { name, dims, dataType: FLOAT, floatData: Array.from({ length: size }, (_, i) => fill(i)) };
}

interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  ints?: Record<string, number[]>;
  int?: Record<string, number>;
}

/**
 * A model on [N, channels, size, size] images: conv (4 channels, 3x3, pad 1) -> relu -> `head` nodes, output `out`.
 */
function model(head: Node[], out: ReturnType<typeof info>, batch: Dim = 'N', size: Dim = 8, channels = 1): Uint8Array {
  const nodes: Node[] = [
    { op: 'Conv', inputs: ['image', 'w', 'b'], outputs: ['c'], ints: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
    { op: 'Relu', inputs: ['c'], outputs: ['r'] },
    ...head,
  ];
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'hostile',
      input: [info('image', [batch, channels, size, size])],
      output: [out],
      initializer: [
        floats('w', [4, channels, 3, 3], (i) => ((i % 5) - 2) / 4),
        floats('b', [4], (i) => i / 10),
        floats('w2', [3, 4, 1, 1], (i) => (i % 3) - 1),
      ],
      node: nodes.map((n, k) => ({
        opType: n.op,
        name: `n${k}`,
        input: n.inputs,
        output: n.outputs,
        attribute: [
          ...Object.entries(n.ints ?? {}).map(([name, ints]) => ({ name, type: 7, ints })),
          ...Object.entries(n.int ?? {}).map(([name, i]) => ({ name, type: 2, i })),
        ],
      })),
    },
  }).finish();
}

const pooled: Node[] = [
  { op: 'Conv', inputs: ['r', 'w2'], outputs: ['c2'] },
  { op: 'GlobalAveragePool', inputs: ['c2'], outputs: ['g'] },
  { op: 'Flatten', inputs: ['g'], outputs: ['logits'] },
];

/** The files of the workspace, by name. */
export interface Workspace {
  readonly dir: string;
  readonly path: (name: string) => string;
}

/** Writes every hostile input into `dir`. */
export async function writeWorkspace(dir: string): Promise<Workspace> {
  const path = (name: string) => join(dir, name);
  await mkdir(dir, { recursive: true });
  const files: Record<string, Uint8Array | string> = {
    'good.onnx': model(pooled, info('logits', ['N', 3])),
    'one-class.onnx': model(
      [
        { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['g'] },
        { op: 'Flatten', inputs: ['g'], outputs: ['f'] },
        { op: 'ReduceMean', inputs: ['f'], outputs: ['logits'], ints: { axes: [1] }, int: { keepdims: 1 } },
      ],
      info('logits', ['N', 1]),
    ),
    'map-output.onnx': model(
      [{ op: 'Conv', inputs: ['r', 'w2'], outputs: ['logits'] }],
      info('logits', ['N', 3, 8, 8]),
    ),
    'int-output.onnx': model(
      [...pooled.slice(0, 2), { op: 'ArgMax', inputs: ['g'], outputs: ['logits'], int: { axis: 1, keepdims: 0 } }],
      info('logits', ['N', 1, 1], INT64),
    ),
    // log of a negative number: NaN everywhere.
    'nan-output.onnx': model(
      [
        ...pooled,
        { op: 'Neg', inputs: ['logits'], outputs: ['neg'] },
        { op: 'Sqrt', inputs: ['neg'], outputs: ['n1'] },
      ],
      info('n1', ['N', 3]),
    ),
    'fixed-batch-2.onnx': model(pooled, info('logits', [2, 3]), 2),
    'any-size.onnx': model(pooled, info('logits', ['N', 3]), 'N', 'S'),
    'rgb.onnx': model(pooled, info('logits', ['N', 3]), 'N', 8, 3),
    'not-onnx.onnx': 'this is not a model\n',
    'labels-3.txt': 'zero\none\ntwo\n',
    'labels-5.txt': 'a\nb\nc\nd\ne\n',
    'labels-utf16.txt': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('zéro\nun\ndeux\n', 'utf16le')]),
    'labels-script.txt': '<script>alert(1)</script>\none\ntwo\n',
    'not-an-image.png': 'plain text, not a PNG\n',
  };
  for (const [name, content] of Object.entries(files)) await writeFile(path(name), content);
  await writeImages(path);
  return { dir, path };
}

/** A grey 8x8 photo, a truncated one, a 1 x 20000 sliver, a pixel bomb header and a CMYK JPEG. */
async function writeImages(path: (name: string) => string): Promise<void> {
  const grey = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 29) % 256));
  const png = await sharp(grey, { raw: { width: 8, height: 8, channels: 1 } })
    .png()
    .toBuffer();
  await writeFile(path('photo.png'), png);
  await writeFile(path('<img onerror=x>.png'), png);
  await writeFile(path('truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
  const sliver = await sharp(Buffer.alloc(20000, 128), { raw: { width: 1, height: 20000, channels: 1 } })
    .png({ compressionLevel: 9 })
    .toBuffer();
  await writeFile(path('sliver-1x20000.png'), sliver);
  // A 30000 x 30000 PNG header (900 megapixels) over a tiny body: refused from the header, never decoded.
  const bomb = Buffer.from(png);
  bomb.writeUInt32BE(30000, 16);
  bomb.writeUInt32BE(30000, 20);
  bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29); // IHDR's CRC, so the header is valid
  await writeFile(path('bomb-30000x30000.png'), bomb);
  const rgb = Buffer.from(Array.from({ length: 64 * 3 }, (_, i) => (i * 37) % 256));
  const cmyk = await sharp(rgb, { raw: { width: 8, height: 8, channels: 3 } })
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
  await writeFile(path('cmyk.jpg'), cmyk);
}
