import type { ReportSection } from '../context.js';
import { escapeHtml, keyValues } from '../html.js';

/** The definitions the summary carries, so a reader can recompute every number. */
export const definitions: ReportSection = {
  id: 'definitions',
  title: 'Definitions',
  collapsed: true,
  teaser: () => 'every number of the report, defined so it can be recomputed',
  render({ summary }) {
    const entries = Object.entries(summary.definitions);
    return entries.length
      ? keyValues(entries.map(([term, text]) => [term, escapeHtml(text)]))
      : '<p class="muted">The summary carries no definitions.</p>';
  },
};
