import type { ReportSection } from '../context.js';
import { ablation } from './ablation.js';
import { charts } from './charts.js';
import { comparison } from './comparison.js';
import { definitions } from './definitions.js';
import { depthFigure } from './depth.js';
import { faithfulness } from './faithfulness.js';
import { findings } from './findings.js';
import { layers } from './layers.js';
import { neurons } from './neurons.js';
import { overview } from './overview.js';
import { settings } from './settings.js';

/**
 * The report's views, in page order: the overview (open), then the detail sections (collapsed). A new view is one
 * file exporting a {@link ReportSection} and one entry here.
 */
export const sections: readonly ReportSection[] = [
  overview,
  depthFigure,
  findings,
  faithfulness,
  comparison,
  neurons,
  layers,
  charts,
  ablation,
  settings,
  definitions,
];
