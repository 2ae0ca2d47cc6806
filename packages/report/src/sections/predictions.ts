import type { ReportSection } from '../context.js';
import { MISSING, percent } from '../format.js';
import { escapeHtml, table } from '../html.js';

/** The clean image's top predictions, with a bar per probability. */
export const predictions: ReportSection = {
  id: 'predictions',
  title: 'Top-5 predictions',
  render({ summary }) {
    const rows = summary.predictions.map((p, i) => {
      const isTarget = p.index === summary.target.index;
      const width = Math.min(100, Math.max(0, p.probability * 100)).toFixed(1);
      return `<tr${isTarget ? ' class="target"' : ''}><td class="num">${i + 1}</td><td class="num">${p.index}</td><td>${p.label === null ? MISSING : escapeHtml(p.label)}${isTarget ? ' <span class="tag">target</span>' : ''}</td><td class="num">${percent(p.probability)}</td><td class="bar-cell"><div class="bar"><span style="width:${width}%"></span></div></td></tr>`;
    });
    const head = [
      '<th class="num">#</th>',
      '<th class="num">class</th>',
      '<th>label</th>',
      '<th class="num">probability</th>',
      '<th></th>',
    ];
    return table(head, rows, 'predictions');
  },
};
