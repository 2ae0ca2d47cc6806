/**
 * The bare baseline of the CLI comparison, run as its own process: one onnxruntime session of the unmodified
 * model with 2 intra-op threads, `n` copies in batches of 32 (one batch of rendered copies, reused), session
 * creation included. Prints `{"sessionSeconds", "runSeconds"}` as its last line.
 *
 *     node tools/bench/dist/bare-cli.js MODEL N SIZE
 */
import * as ort from 'onnxruntime-node';

const [modelPath, nText, sizeText] = process.argv.slice(2);
const n = Number(nText ?? 500);
const size = Number(sizeText ?? 224);
const BATCH = 32;
const t0 = performance.now();
const session = await ort.InferenceSession.create(modelPath!, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: 2,
  logSeverityLevel: 3,
});
const t1 = performance.now();
const inputName = session.inputNames[0]!;
const per = 3 * size * size;
const data = Float32Array.from({ length: BATCH * per }, (_, i) => Math.sin(i * 0.001) * (1 + 0.1 * Math.cos(i)));
for (let first = 0; first < n; first += BATCH) {
  const count = Math.min(BATCH, n - first);
  await session.run({ [inputName]: new ort.Tensor('float32', data.subarray(0, count * per), [count, 3, size, size]) });
}
const t2 = performance.now();
await session.release();
process.stdout.write(`${JSON.stringify({ sessionSeconds: (t1 - t0) / 1000, runSeconds: (t2 - t1) / 1000 })}\n`);
