/** Benchmark tools: the VGG-16 generator (make-vgg16.ts) and `npm run bench` (bench.ts). */
export { vgg16Model, writeVgg16 } from './make-vgg16.js';
