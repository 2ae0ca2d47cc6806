import type { ReportSection } from '../context.js';
import { ablation } from './ablation.js';
import { charts } from './charts.js';
import { comparison } from './comparison.js';
import { definitions } from './definitions.js';
import { findings } from './findings.js';
import { header } from './header.js';
import { layers } from './layers.js';
import { predictions } from './predictions.js';
import { settings } from './settings.js';
import { where } from './where.js';

/** The report's views, in page order. A new view is one file exporting a {@link ReportSection} and one entry here. */
export const sections: readonly ReportSection[] = [
  header,
  findings,
  predictions,
  where,
  charts,
  settings,
  comparison,
  ablation,
  layers,
  definitions,
];
