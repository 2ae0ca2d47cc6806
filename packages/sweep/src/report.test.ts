import { describe, expect, it } from 'vitest';
import { COLORS } from '../../report/src/charts.js';
import { LAYERS, neurons, row } from '../test/aggregate.js';
import { Aggregator, type ImageRow, type SweepManifest } from './index.js';
import { renderSweepReport } from './report.js';

const EVIL = `<script>alert(1)</script>"'&`;
const EVIL_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;';

/** The settings the report prints (a manifest holds more; the report reads only these). */
function manifest(modelPath: string): SweepManifest {
  return {
    settings: {
      model: { path: modelPath, sha256: 'ab'.repeat(32) },
      perturbation: { family: 'paper', samples: 8, seed: 3 },
      stats: { topK: 5, eligibility: 0.1 },
      target: { mode: 'label', class: null },
      layers: Array.from({ length: LAYERS.length }),
    },
  } as unknown as SweepManifest;
}

/** Two classes, four analysed images (see aggregate.test.ts), names and labels as given, and a failed image. */
function render(labels: string[], layerNames: string[], failed: ImageRow) {
  const layers = LAYERS.map((l, k) => ({ ...l, layer: layerNames[k]! }));
  const aggregator = new Aggregator(labels, 50);
  const rows = [row('a', 0, 0), row('b', 0, 0), row('c', 1, 1), row('d', 1, 0)];
  const selections: [number[], number[], number[]][] = [
    [[0.9, 0.1, 0.5], [0], [1, 2]],
    [[0.8, 0.3, 0.5], [0, 2], [1]],
    [[0.2, 0.4, 0.5], [1], [0]],
    [[0.3, 0.2, 0.5], [0], []],
  ];
  rows.forEach((r, i) => {
    const [clean, corr, prec] = selections[i]!;
    aggregator.add(r, neurons(r.image, clean, corr, prec, layers));
  });
  aggregator.add(failed, null);
  return renderSweepReport(manifest(`/models/${EVIL}.onnx`), aggregator.result(), [...rows, failed]);
}

const failedRow = (image: string, error: string): ImageRow => ({ ...row(image, 0, 0, 'failed'), error });

describe('the sweep report', () => {
  it('escapes every text that comes from the model, the labels, the images or an error', () => {
    const html = render([`${EVIL}cat`, 'dog'], [`${EVIL}A`, 'B'], failedRow(`x${EVIL}.png`, `failed: ${EVIL}`));
    expect(html).not.toContain('<script');
    expect(html).not.toMatch(/<[^>]*\sonerror=/);
    expect(html).not.toContain(EVIL);
    // Model path, layer (comparison table, selections, selective neurons), class, image name, error.
    expect(html).toContain(`/models/${EVIL_ESCAPED}.onnx`);
    expect(html).toContain(`<td>0 ${EVIL_ESCAPED}A</td>`);
    expect(html).toContain(`${EVIL_ESCAPED}A:0 1.00`);
    expect(html).toContain(`<td>${EVIL_ESCAPED}cat</td>`);
    expect(html).toContain(`<td>x${EVIL_ESCAPED}.png</td>`);
    expect(html).toContain(`failed: ${EVIL_ESCAPED}</td>`);
  });

  it('draws correlation and precision in the per-image report colours, the key the same as the marks', () => {
    const html = render(['cat', 'dog'], ['A', 'B'], failedRow('f.png', 'x'));
    const key = html.match(/<p class="key">.*<\/p>/)![0];
    expect(key).toContain(`<span style="background:${COLORS.correlation}"></span>correlation`);
    expect(key).toContain(`<span style="background:${COLORS.precision}"></span>precision`);
    // One forest plot per row of the comparison (A, B, all): correlation on top (y = 8), precision below (y = 16).
    const forests = html.match(/<svg width="220".*?<\/svg>/gs)!;
    expect(forests).toHaveLength(3);
    for (const svg of forests) {
      expect(svg).toContain(`y1="8" y2="8" stroke="${COLORS.correlation}"`);
      expect(svg).toContain(`fill="${COLORS.correlation}"`);
      expect(svg).toContain(`y1="16" y2="16" stroke="${COLORS.precision}"`);
      expect(svg).toContain(`fill="${COLORS.precision}"`);
    }
  });

  it('states the answer from the interval of the difference, and the counts', () => {
    const html = render(['cat', 'dog'], ['A', 'B'], failedRow('f.png', 'x'));
    // Over all layers the per-image differences are -0.625, -0.5 and -0.75: the interval lies below 0.
    expect(html).toContain('precision-selected neurons are <b>less</b> class-selective');
    expect(html).toContain('<h1>Sweep: 5 images</h1>');
    expect(html).toContain('Analysed 4, errors 0, failed 1.');
    expect(html).toContain('Top-1 accuracy on the 4 labelled images: 75.0%.');
    expect(html).toContain('<h2>Images not analysed (1)</h2>');
  });
});
