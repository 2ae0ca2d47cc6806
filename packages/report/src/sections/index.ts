import type { ReportSection } from '../context.js';
import { comparison } from './comparison.js';
import { definitions } from './definitions.js';
import { findings } from './findings.js';
import { header } from './header.js';
import { layers } from './layers.js';
import { predictions } from './predictions.js';
import { settings } from './settings.js';

/** The report's views, in page order. A new view is one file exporting a {@link ReportSection} and one entry here. */
export const sections: readonly ReportSection[] = [
  header,
  predictions,
  settings,
  findings,
  comparison,
  layers,
  definitions,
];
