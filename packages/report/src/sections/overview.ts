import { classHtml, type ReportContext, type ReportSection, targetHtml, targetProbability } from '../context.js';
import { count, MISSING, percent } from '../format.js';
import { escapeHtml, fileName } from '../html.js';
import { heatSvg } from '../overlays.js';

/** The top-5 predictions as compact bars, the target marked. */
function predictionsTable(ctx: ReportContext): string {
  const { summary } = ctx;
  const rows = summary.predictions.map((p, i) => {
    const isTarget = p.index === summary.target.index;
    const width = Math.min(100, Math.max(0, p.probability * 100)).toFixed(1);
    const label = p.label === null ? MISSING : escapeHtml(p.label);
    return (
      `<tr${isTarget ? ' class="target"' : ''}><td class="num">${i + 1}</td><td>${label}` +
      `${isTarget ? ' <span class="tag">target</span>' : ''} <span class="muted">${p.index}</span></td>` +
      `<td class="num">${percent(p.probability)}</td><td class="bar-cell"><div class="bar"><span style="width:${width}%"></span></div></td></tr>`
    );
  });
  return `<table class="predictions"><caption>Top-5 predictions on the clean image</caption><tbody>${rows.join('')}</tbody></table>`;
}

/** What the network sees, under the RISE map of the output when there is one. */
function riseFigure(ctx: ReportContext): string {
  const maps = ctx.visual.maps;
  const [h, w] = ctx.summary.run.preprocessing.size;
  const crop =
    ctx.summary.run.preprocessing.resizeShorter === null
      ? `resized to ${w}×${h}`
      : `shorter side resized to ${ctx.summary.run.preprocessing.resizeShorter} px, centre crop ${w}×${h}`;
  if (!maps?.rise) {
    const m = ctx.modelInput;
    return (
      `<figure class="glance"><img src="${m.dataUri}" width="${m.width}" height="${m.height}" alt="model input crop">` +
      `<figcaption>What the network sees: ${crop}. No heat map (<code>neuronscope maps</code>).</figcaption></figure>`
    );
  }
  const { meta } = maps;
  const cells = { width: meta.mapWidth, height: meta.mapHeight, block: meta.block };
  const svg = heatSvg(ctx.visual.images, maps.rise.heat, cells, 'RISE saliency of the output', null);
  return (
    `<figure class="glance">${svg}<figcaption><strong>Where the output depends on the image</strong> (RISE, ` +
    `${count(meta.masks)} masked copies): bright = keeping this region keeps ${targetHtml(ctx.summary)} likely. ` +
    `<a href="#faithfulness">Is it faithful?</a> What the network sees: ${crop}.</figcaption></figure>`
  );
}

/** The input, the RISE map, the prediction and the settings in one row: what was explained, at a glance. */
export const overview: ReportSection = {
  id: 'overview',
  title: 'At a glance',
  render(ctx) {
    const { summary, image } = ctx;
    const { run } = summary;
    const name = fileName(run.image.path);
    const photo =
      `<figure class="glance"><img src="${image.dataUri}" width="${image.width}" height="${image.height}" ` +
      `alt="input image ${escapeHtml(name)}"><figcaption>Input image, ${run.image.width}×${run.image.height} px</figcaption></figure>`;
    const top1 = summary.predictions[0];
    const chosen =
      summary.target.source === 'user'
        ? `<p class="muted">Chosen by the user; the network's top-1 is ${top1 ? `${classHtml(top1.index, top1.label)} (${percent(top1.probability)})` : 'unknown'}.</p>`
        : '';
    const pert = run.perturbation;
    const settings = [
      `N = ${count(summary.samplesUsed ?? pert.samples)} <code>${escapeHtml(pert.family)}</code> copies, seed ${pert.seed}`,
      `top ${summary.stats.topK} per layer over ${run.layers.length} layer${run.layers.length === 1 ? '' : 's'}`,
      `y = <code>${run.output}</code>`,
    ].join(' · ');
    const explained =
      `<div class="glance-text"><p class="explained">Explaining ${targetHtml(summary)}, probability ` +
      `<strong>${percent(targetProbability(summary))}</strong>, with ${count(Math.round(summary.copiesKeepingTarget * (summary.samplesUsed ?? pert.samples)))} ` +
      `of ${count(summary.samplesUsed ?? pert.samples)} perturbed copies keeping it as the top-1.</p>${chosen}${predictionsTable(ctx)}` +
      `<p class="muted note">${settings} <a href="#settings">(all settings)</a></p></div>`;
    return `<div class="glance-row">${photo}${riseFigure(ctx)}${explained}</div>`;
  },
};
