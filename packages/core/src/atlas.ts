/**
 * The contract of `atlas.json`, the index written beside a dataset atlas (`neuronscope atlas`): which model it is
 * of and which neurons have an entry, so a per-image report can link each neuron's card to its dataset examples.
 */
import { z } from 'zod';

export const ATLAS_FORMAT = 1;

export const AtlasIndexSchema = z.object({
  version: z.literal(ATLAS_FORMAT),
  /** The model the sweep ran (its bytes' SHA-256): an atlas of another model is not linked. */
  model: z.object({ path: z.string(), sha256: z.string() }),
  /** The recorded layers' tensor names, by layer index. */
  layers: z.array(z.object({ layer: z.string(), layerIndex: z.number().int() })),
  /** The page, relative to this file. */
  page: z.string(),
  /** Analysed images the atlas was computed from. */
  images: z.number().int(),
  /** `[layerIndex, channel]` of every neuron with an entry. */
  neurons: z.array(z.tuple([z.number().int(), z.number().int()])),
});
export type AtlasIndex = z.infer<typeof AtlasIndexSchema>;
