import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readParquetFile, writeFileAtomic } from '@neuronscope/core';
import { renderFigures, renderHtml, reportContext } from '@neuronscope/report';
import type { Log } from '../log.js';
import { runFile } from './files.js';
import { readSummary } from './stats.js';
import { gatherVisual } from './visual.js';

/** Settings of the `report` stage. */
export interface ReportOptions {
  /** Also write every figure as SVG and PNG into this directory. */
  figures?: string;
}

/**
 * The `report` stage: `report.html` from `summary.json`, `neurons.parquet` and, for the visual parts, the model
 * graph (receptive fields), `unit_stats.parquet` (the most active units), `maps.parquet` (heat maps, when the
 * maps stage ran), `outputs.parquet` and `activations.parquet`. Returns the report's path.
 */
export async function runReportStage(dir: string, opts: ReportOptions = {}, log?: Log): Promise<string> {
  const summary = await readSummary(dir);
  const neurons = await readParquetFile(runFile(dir, 'neurons'));
  const visual = await gatherVisual(dir, summary, log);
  const ctx = await reportContext({ summary, imagePath: summary.run.image.path, neurons, visual });
  const path = runFile(dir, 'report');
  await writeFileAtomic(path, renderHtml(ctx));
  if (opts.figures) {
    await mkdir(opts.figures, { recursive: true });
    const figures = await renderFigures(ctx);
    for (const f of figures) {
      await writeFileAtomic(join(opts.figures, `${f.name}.svg`), f.svg);
      await writeFileAtomic(join(opts.figures, `${f.name}.png`), f.png);
    }
    log?.info(`report: ${figures.length} figures (SVG and PNG) in ${opts.figures}`);
  }
  return path;
}
