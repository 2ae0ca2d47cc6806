/**
 * Links from a per-image report to a dataset atlas of the same model: reads the atlas's `atlas.json` (given the
 * atlas page, its index, or the sweep folder holding them), checks that it is of the run's model and layers, and
 * gives the page's address relative to the report with the neurons it has entries for.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { AtlasIndexSchema, type Summary } from '@neuronscope/core';
import type { AtlasLink } from '@neuronscope/report';

/** Where `atlas.json` is, given the page, the index itself, a sweep folder or its `sweep/` subfolder. */
async function indexPath(atlas: string): Promise<string> {
  if (atlas.endsWith('.json')) return atlas;
  if (atlas.endsWith('.html')) return join(dirname(atlas), 'atlas.json');
  const inSweep = join(atlas, 'sweep', 'atlas.json');
  return (await stat(inSweep).catch(() => null)) ? inSweep : join(atlas, 'atlas.json');
}

/** The link to the atlas from a report in `reportDir`, or a note saying why there is none. */
export async function atlasLink(
  reportDir: string,
  atlas: string,
  summary: Summary,
): Promise<{ link: AtlasLink } | { note: string }> {
  const path = await indexPath(atlas);
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return { note: `No atlas links: ${path} not found (run 'neuronscope atlas' on the sweep).` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { note: `No atlas links: ${path} is not valid JSON.` };
  }
  const parsed = AtlasIndexSchema.safeParse(json);
  if (!parsed.success) return { note: `No atlas links: ${path} is not an atlas index.` };
  const index = parsed.data;
  if (index.model.sha256 !== summary.run.model.sha256) {
    return { note: `No atlas links: the atlas ${path} is of another model.` };
  }
  const names = new Map(index.layers.map((l) => [l.layerIndex, l.layer]));
  const neurons = new Set(
    index.neurons
      .filter(([layerIndex]) =>
        summary.run.layers.some((l) => l.layerIndex === layerIndex && names.get(layerIndex) === l.layer),
      )
      .map(([layerIndex, channel]) => `${layerIndex}:${channel}`),
  );
  // A URL, relative to the report: path separators as slashes, spaces and the like escaped.
  const href = encodeURI(
    relative(reportDir, join(dirname(path), index.page))
      .split(sep)
      .join('/'),
  );
  return { link: { href, neurons, images: index.images } };
}
