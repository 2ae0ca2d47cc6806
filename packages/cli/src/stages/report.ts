import { readParquetFile, writeFileAtomic } from '@neuronscope/core';
import { renderReport } from '@neuronscope/report';
import { runFile } from './files.js';
import { readSummary } from './stats.js';

/** The `report` stage: `report.html` from `summary.json` and `neurons.parquet`. Returns its path. */
export async function runReportStage(dir: string): Promise<string> {
  const summary = await readSummary(dir);
  const neurons = await readParquetFile(runFile(dir, 'neurons'));
  const html = await renderReport({ summary, imagePath: summary.run.image.path, neurons });
  const path = runFile(dir, 'report');
  await writeFileAtomic(path, html);
  return path;
}
