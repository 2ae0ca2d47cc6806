import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** Folder of the embedded default model (a small VGG-style CNN trained on Fashion-MNIST). */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../default-model/', import.meta.url));

const SidecarSchema = z.object({
  model: z.string(),
  labels: z.string(),
  preprocess: z.object({
    preset: z.enum(['imagenet', 'inception', 'caffe', 'none']),
    grayscale: z.boolean(),
    size: z.tuple([z.number().int(), z.number().int()]),
  }),
  defaultImage: z.string(),
});

/** The embedded default model, its labels, preprocessing and sample image, as absolute paths. */
export interface DefaultModel {
  model: string;
  labels: string;
  image: string;
  preprocess: z.infer<typeof SidecarSchema>['preprocess'];
}

/** Reads `default-model/model.json`. */
export async function defaultModel(): Promise<DefaultModel> {
  const sidecar = SidecarSchema.parse(JSON.parse(await readFile(`${DEFAULT_MODEL_DIR}model.json`, 'utf8')));
  return {
    model: `${DEFAULT_MODEL_DIR}${sidecar.model}`,
    labels: `${DEFAULT_MODEL_DIR}${sidecar.labels}`,
    image: `${DEFAULT_MODEL_DIR}${sidecar.defaultImage}`,
    preprocess: sidecar.preprocess,
  };
}
