/**
 * The report's stylesheet, inlined into the page. Okabe-Ito colours (safe for the common colour-vision
 * deficiencies): correlation blue, precision orange, both bluish green; colour is never the only cue (headings,
 * the ◆ mark and the row border carry the same information). Tables scroll inside their wrapper on phones.
 */
export const CSS = `
:root{--corr:#0072B2;--prec:#E69F00;--both:#009E73;--fg:#1b1d21;--muted:#5c6370;--line:#d8dbe0;--soft:#f3f4f6;--bg:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:16px 20px 48px}
h1{font-size:1.55rem;margin:.5rem 0 .25rem;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin:2rem 0 .75rem;padding-bottom:.25rem;border-bottom:2px solid var(--line)}
h3{font-size:1.05rem;margin:1.25rem 0 .5rem;overflow-wrap:anywhere}
h4{font-size:.95rem;margin:.5rem 0;padding-left:.5rem;border-left:6px solid var(--line)}
a{color:#005a8c}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.warn{color:#a84300;font-weight:600}
nav.toc ol{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;margin:.5rem 0 0;padding:0;list-style:none}
.figures{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0;max-width:100%}
figure img{display:block;max-width:100%;height:auto;border:1px solid var(--line)}
figcaption{font-size:.85rem;color:var(--muted);margin-top:.25rem}
dl.kv{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.3rem 1.25rem;margin:.75rem 0}
dl.kv dt{font-weight:600}
dl.kv dd{margin:0}
dl.kv dl.kv{margin:0;gap:0 1rem}
dl.kv dl.kv dt{font-weight:400}
ol.names{margin:.25rem 0;padding-left:2.5rem}
summary{cursor:pointer}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:var(--soft);font-weight:600}
.num{text-align:right}
th.corr{background:var(--corr);color:#fff}
th.prec{background:var(--prec);color:#000}
th.both{background:var(--both);color:#fff}
tr.target td{font-weight:600}
tr.both td{background:rgba(0,158,115,.13)}
tr.both td:first-child{box-shadow:inset 4px 0 0 var(--both)}
.mark{color:#00654a;font-size:.8em;font-weight:600}
.tag{font-size:.75em;padding:0 .35em;border:1px solid currentColor;border-radius:3px;font-weight:400}
td.inel{color:var(--muted)}
table.predictions{width:100%;max-width:760px}
.bar-cell{width:40%;min-width:120px}
.bar{height:.75rem;background:var(--soft);border-radius:2px;overflow:hidden}
.bar span{display:block;height:100%;background:var(--corr)}
.bar.both span{background:var(--both)}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .35em 0 .15em;border-radius:2px;vertical-align:-.05em}
.key.corr{background:var(--corr)}.key.prec{background:var(--prec)}.key.both{background:var(--both)}
.legend .key{margin-left:.9em}
ul.findings{padding-left:1.25rem}
ul.findings li{margin:.35rem 0}
section.layer{border-top:1px solid var(--line);margin-top:1.5rem}
.pair{display:flex;flex-wrap:wrap;gap:12px 24px}
.pair>.selection{flex:1 1 420px;min-width:0}
.selection.corr h4{border-left-color:var(--corr)}
.selection.prec h4{border-left-color:var(--prec)}
.note{font-size:.85rem}
svg.defs{position:absolute;width:0;height:0;overflow:hidden}
svg.chart,svg.overlay,svg.heat{display:block;max-width:100%;height:auto}
.chart-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:20px 28px;align-items:start}
figure.chartfig svg{margin:0 auto}
figure.boxes,figure.layer-boxes{flex:1 1 380px;max-width:560px}
figure.boxes svg,figure.layer-boxes svg{width:100%;border:1px solid var(--line)}
figure.heatfig{flex:0 1 300px}
figure.heatfig svg{width:100%;max-width:300px;border:1px solid var(--line)}
figure.boxes.corr figcaption{border-left:6px solid var(--corr);padding-left:.4rem}
figure.boxes.prec figcaption{border-left:6px solid var(--prec);padding-left:.4rem}
.depth-legend{display:inline-flex;flex-wrap:wrap;align-items:center;gap:.4rem;font-size:.85rem;color:var(--muted)}
.depth-legend svg{border-radius:2px}
.heat-legend .key{margin-left:.5em}
.layer-visual{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start;margin:.75rem 0}
.layer-visual figure.layer-boxes{flex:0 1 360px}
.cards{display:flex;flex-wrap:wrap;gap:10px;flex:1 1 420px;align-content:flex-start}
figure.card{width:178px;margin:0;padding:6px;border:1px solid var(--line);border-top:4px solid var(--line);border-radius:4px;background:#fff}
figure.card.corr{border-top-color:var(--corr)}figure.card.prec{border-top-color:var(--prec)}figure.card.both{border-top-color:var(--both)}
.card-images{display:grid;grid-template-columns:1fr 1fr;gap:4px}
.card-images svg.patch{image-rendering:pixelated}
.card-images svg,.card-images .placeholder{width:100%;aspect-ratio:1/1;height:auto;display:block;background:var(--soft)}
.placeholder{display:flex!important;align-items:center;justify-content:center;text-align:center;font-size:.75rem;color:var(--muted);padding:4px}
figure.card figcaption{font-size:.8rem;line-height:1.35;margin-top:4px;color:var(--fg)}
.tag.corr{color:#005a8c}.tag.prec{color:#8a5a00}.tag.both{color:#00654a}
@media (max-width:640px){
figure.card{width:calc(50% - 5px)}
.layer-visual figure.layer-boxes{flex-basis:100%}
body{font-size:14px}
main{padding:10px 12px 32px}
dl.kv{grid-template-columns:minmax(0,1fr);gap:0}
dl.kv dd{margin-bottom:.5rem}
th,td{padding:.2rem .4rem}
.pair>.selection{flex-basis:100%}
}
`;
