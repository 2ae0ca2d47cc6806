// Cross-check of the committed default model with ONNX Runtime (onnxruntime-node, already a
// dependency of the workspace): runs packages/engine/default-model/fashion-vgg.onnx on the ten bundled
// PNGs and checks that each is predicted as the class its file name starts with, and that the
// SHA-256 in MODEL_CARD.md is the file's. Usage (from the repo root):
//   node tools/train-default-model/check-onnx.mjs [packages/engine/default-model]
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import ort from 'onnxruntime-node';

/** Decode an 8-bit grayscale, non-interlaced PNG (what train.py writes) into its pixels. */
function decodeGray8Png(buf) {
  const sig = '89504e470d0a1a0a';
  if (buf.subarray(0, 8).toString('hex') !== sig) throw new Error('not a PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[9] !== 0 || data[12] !== 0) throw new Error('only 8-bit grayscale, non-interlaced');
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const px = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (width + 1)];
    for (let x = 0; x < width; x++) {
      const v = raw[y * (width + 1) + 1 + x];
      const a = x > 0 ? px[y * width + x - 1] : 0;
      const b = y > 0 ? px[(y - 1) * width + x] : 0;
      const c = x > 0 && y > 0 ? px[(y - 1) * width + x - 1] : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * width + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, px };
}

const dir = process.argv[2] ?? 'packages/engine/default-model';
const config = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
const labels = readFileSync(join(dir, config.labels), 'utf8').trimEnd().split('\n');
const modelBytes = readFileSync(join(dir, config.model));
const digest = createHash('sha256').update(modelBytes).digest('hex');
const card = readFileSync(join(dir, 'MODEL_CARD.md'), 'utf8');
let failures = 0;
if (!card.includes(digest)) {
  console.error(`MODEL_CARD.md does not state the SHA-256 of ${config.model} (${digest})`);
  failures++;
}

const session = await ort.InferenceSession.create(modelBytes);
const files = readdirSync(join(dir, 'images'))
  .filter((f) => f.endsWith('.png'))
  .sort();
const batch = new Float32Array(files.length * 28 * 28);
files.forEach((f, i) => {
  const { width, height, px } = decodeGray8Png(readFileSync(join(dir, 'images', f)));
  if (width !== 28 || height !== 28) throw new Error(`${f}: ${width}x${height}`);
  for (let k = 0; k < px.length; k++) batch[i * 784 + k] = px[k] / 255;
});
const out = await session.run({ input: new ort.Tensor('float32', batch, [files.length, 1, 28, 28]) });
const logits = out.logits.data;
files.forEach((f, i) => {
  const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
  const max = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - max));
  const sum = exps.reduce((s, v) => s + v, 0);
  const pred = row.indexOf(max);
  const want = Number.parseInt(f, 10);
  const ok = pred === want;
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${f.padEnd(20)} -> ${labels[pred]} (${(exps[pred] / sum).toFixed(4)})`);
});
console.log(`${config.model}: ${modelBytes.length} bytes, sha256 ${digest}, onnxruntime-node ${ort.env.versions.node}`);
if (failures > 0) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');
