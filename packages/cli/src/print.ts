import type { LayerInfo, Summary } from '@neuronscope/core';

const fmt = (v: number | null, digits = 3) =>
  v === null || Number.isNaN(v) ? '—' : v === Number.POSITIVE_INFINITY ? '∞' : v.toPrecision(digits);

/** A plain-text table: columns padded to their widest cell. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The recordable layers, as `neuronscope layers` prints them. */
export function layersText(layers: readonly LayerInfo[]): string {
  return textTable(
    ['index', 'layer', 'op', 'channels', 'HxW', 'conv node'],
    layers.map((l) => [String(l.layerIndex), l.layer, l.op, String(l.channels), `${l.height}x${l.width}`, l.convNode]),
  );
}

/** A short human summary of an explanation. */
export function summaryText(s: Summary): string {
  const target = s.target.label ? `${s.target.label} (class ${s.target.index})` : `class ${s.target.index}`;
  const top = s.predictions[0];
  const lines = [
    `model  ${s.run.model.path}`,
    `image  ${s.run.image.path}`,
    `target ${target}, p = ${fmt(top && top.index === s.target.index ? top.probability : (s.predictions.find((p) => p.index === s.target.index)?.probability ?? null))}; ${s.run.perturbation.family} perturbation, N = ${s.samplesUsed ?? s.run.perturbation.samples}, seed ${s.run.perturbation.seed}`,
    `copies keeping the target as top-1: ${(100 * s.copiesKeepingTarget).toFixed(0)}%`,
    '',
    textTable(
      [
        'layer',
        'name',
        `top-${s.stats.topK} by correlation`,
        `top-${s.stats.topK} by precision`,
        'overlap',
        'jaccard',
        'spearman',
      ],
      s.layers.map((l) => [
        String(l.layerIndex),
        l.layer,
        l.byCorrelation.map((n) => n.channel).join(','),
        l.byPrecision.map((n) => n.channel).join(','),
        fmt(l.comparison.overlap, 2),
        fmt(l.comparison.jaccard, 2),
        fmt(l.comparison.spearman, 2),
      ]),
    ),
    '',
    `total: overlap ${fmt(s.total.overlap, 3)}, jaccard ${fmt(s.total.jaccard, 3)} (the paper's overlap |A∩B|/(|A|+|B|) is 0.5 for identical sets)`,
  ];
  return lines.join('\n');
}
