/** The programmatic front of neuronscope: the same stages the CLI runs. */

export { createLog, type Log } from './log.js';
export { buildProgram, runCli } from './program.js';
export { type ExplainOptions, type ExplainResult, explain } from './stages/explain.js';
export { type ExtractOptions, runExtractStage } from './stages/extract.js';
export { RUN_FILES, runFile } from './stages/files.js';
export { readRunConfig, writePerturbStage } from './stages/perturb.js';
export { type ModelOptions, prepareModel, prepareRun, type RunOptions } from './stages/prepare.js';
export { runReportStage } from './stages/report.js';
export { readSummary, runStatsStage } from './stages/stats.js';
