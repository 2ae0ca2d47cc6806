import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, UserError } from '@neuronscope/core';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyClassifier } from '../test/fixtures.js';
import { readModelBytes } from './external-data.js';
import { loadModel } from './load.js';
import { createSession } from './session.js';

const { onnx } = onnxProto;

/** Expects `promise` to reject with a one-line UserError whose message matches `pattern`. */
async function expectUserError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
}

/**
 * `bytes` with its float initializers of 4 or more values moved to one side file, as torch.onnx.export (dynamo)
 * writes them: `location` (relative to the model), `offset` and `length`, data_location EXTERNAL; small ones stay.
 * Returns the model bytes and the side file's bytes. `location` may be overridden per tensor.
 */
function externalise(
  bytes: Uint8Array,
  location: string,
  locationOf: (name: string) => string = () => location,
): { model: Uint8Array; data: Uint8Array } {
  const proto = onnx.ModelProto.decode(bytes);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of proto.graph!.initializer!) {
    const values = t.floatData ?? [];
    if (values.length < 4) continue;
    const raw = new Uint8Array(Float32Array.from(values).buffer);
    chunks.push(raw);
    t.floatData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: locationOf(t.name ?? '') },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    offset += raw.length;
  }
  return { model: onnx.ModelProto.encode(proto).finish(), data: Buffer.concat(chunks) };
}

/** The model's output for a fixed input. */
async function run(bytes: Uint8Array): Promise<Float32Array> {
  const session = await createSession(bytes);
  try {
    const data = Float32Array.from({ length: 2 * 192 }, (_, i) => Math.sin(i * 0.41));
    const out = await session.run({ image: new ort.Tensor('float32', data, [2, 3, 8, 8]) });
    return out.logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('models with external data', () => {
  let root: string;
  let dir: string;
  const plain = tinyClassifier();
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ns-external-'));
    dir = join(root, 'model');
    await mkdir(dir);
  });

  it('loads a model whose weights are in model.onnx.data: same outputs as the self-contained model', async () => {
    const { model, data } = externalise(plain, 'model.onnx.data');
    const path = join(dir, 'model.onnx');
    await writeFile(path, model);
    await writeFile(join(dir, 'model.onnx.data'), data);
    expect(data.length).toBe(5 * 3 * 3 * 3 * 4 + 5 * 4);
    // onnxruntime cannot run the bytes of the file alone: the weights are elsewhere.
    await expect(createSession(model)).rejects.toThrow(UserError);

    const loaded = await loadModel(path);
    expect(loaded.externalFiles).toHaveLength(1);
    expect(loaded.externalFiles[0]).toMatch(/model\.onnx\.data$/);
    expect(loaded.graph.usesExternalData).toBe(false);
    expect(Array.from(await run(loaded.bytes))).toEqual(Array.from(await run(plain)));
    // The inlined initializers hold the same values.
    const inits = onnx.ModelProto.decode(loaded.bytes).graph!.initializer!;
    const weight = inits.find((t) => t.name === 'w')!;
    expect(weight.dataLocation ?? 0).toBe(0);
    expect(weight.externalData ?? []).toHaveLength(0);
    expect(Array.from(new Float32Array(Uint8Array.from(weight.rawData!).buffer))).toEqual(
      Array.from(Float32Array.from(onnx.ModelProto.decode(plain).graph!.initializer![0]!.floatData!)),
    );
  });

  it('hashes the model with its external data: changing a weight in the side file changes the sha256', async () => {
    const { model, data } = externalise(plain, 'weights.bin');
    const sub = join(root, 'hash');
    await mkdir(sub);
    const path = join(sub, 'm.onnx');
    await writeFile(path, model);
    await writeFile(join(sub, 'weights.bin'), data);
    const first = await readModelBytes(path);
    expect(first.sha256).toBe(sha256(first.bytes));
    expect(first.sha256).not.toBe(sha256(await readFile(path)));
    const changed = Uint8Array.from(data);
    changed[17] = changed[17]! ^ 0x40;
    await writeFile(join(sub, 'weights.bin'), changed);
    const second = await readModelBytes(path);
    expect(second.sha256).not.toBe(first.sha256);
    // A self-contained model keeps the hash of its file.
    const self = join(sub, 'self.onnx');
    await writeFile(self, plain);
    expect((await readModelBytes(self)).sha256).toBe(sha256(plain));
    expect((await readModelBytes(self)).bytes).toEqual(plain);
  });

  it('reads data files in subfolders and symlinks that stay inside the folder', async () => {
    const sub = join(root, 'inside');
    await mkdir(join(sub, 'weights'), { recursive: true });
    const { model, data } = externalise(plain, '', (name) => (name === 'w' ? 'weights/w.bin' : 'alias.bin'));
    // Both tensors' offsets count from 0 of one concatenation: write the same bytes to both files.
    await writeFile(join(sub, 'weights', 'w.bin'), data);
    await symlink(join(sub, 'weights', 'w.bin'), join(sub, 'alias.bin'));
    const path = join(sub, 'm.onnx');
    await writeFile(path, model);
    const loaded = await loadModel(path);
    expect(loaded.externalFiles).toHaveLength(2);
    expect(Array.from(await run(loaded.bytes))).toEqual(Array.from(await run(plain)));
  });

  describe('refuses data outside the model folder, naming the location', () => {
    const setUp = async (name: string, location: string) => {
      const sub = join(root, name);
      await mkdir(sub);
      const { model, data } = externalise(plain, location);
      await writeFile(join(sub, 'm.onnx'), model);
      return { path: join(sub, 'm.onnx'), data, sub };
    };

    it('an absolute path', async () => {
      const outside = join(root, 'outside.bin');
      const { path, data } = await setUp('absolute', outside);
      await writeFile(outside, data);
      await expectUserError(
        loadModel(path),
        new RegExp(`external data location '${outside}' is an absolute path; only files inside .*absolute are read`),
      );
    });

    it("a path going up with '..'", async () => {
      const { path, data } = await setUp('dotdot', '../outside2.bin');
      await writeFile(join(root, 'outside2.bin'), data);
      await expectUserError(loadModel(path), /external data location '\.\.\/outside2\.bin' goes up with '\.\.'/);
      const { path: hidden } = await setUp('dotdot-inner', 'sub/../../outside2.bin');
      await expectUserError(loadModel(hidden), /'sub\/\.\.\/\.\.\/outside2\.bin' goes up/);
    });

    it('a symlink that leaves the folder', async () => {
      const { path, data, sub } = await setUp('symlink', 'link.bin');
      const target = join(root, 'target.bin');
      await writeFile(target, data);
      await symlink(target, join(sub, 'link.bin'));
      await expectUserError(
        loadModel(path),
        /external data location 'link\.bin' resolves to .*target\.bin, outside the folder/,
      );
    });

    it('a missing file, data past its end, and a length that does not fit the dims', async () => {
      const missing = await setUp('missing', 'gone.bin');
      await expectUserError(loadModel(missing.path), /external data file 'gone\.bin' of model .*m\.onnx not found/);
      const short = await setUp('short', 'w.bin');
      await writeFile(join(short.sub, 'w.bin'), short.data.subarray(0, 100));
      await expectUserError(loadModel(short.path), /initializer 'w' .*runs past the end of 'w\.bin' \(100 bytes\)/);

      const proto = onnx.ModelProto.decode(externalise(plain, 'w.bin').model);
      proto.graph!.initializer![0]!.externalData![2]!.value = '100';
      const wrong = join(root, 'short', 'wrong.onnx');
      await writeFile(wrong, onnx.ModelProto.encode(proto).finish());
      await writeFile(join(root, 'short', 'w.bin'), short.data);
      await expectUserError(loadModel(wrong), /initializer 'w' .*has 100 bytes, its dims and type need 540/);
    });
  });
});
