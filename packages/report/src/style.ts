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
nav.toc ol.more{font-size:.85rem;margin-top:.25rem}
nav.toc ol.more a{color:var(--muted)}
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
.scroll.tall{max-height:420px;overflow:auto;border:1px solid var(--line)}
.scroll.tall thead th{position:sticky;top:0;z-index:1}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
td.wrap{white-space:normal;min-width:14rem}
th{background:var(--soft);font-weight:600}
.num{text-align:right}
th.corr{background:var(--corr);color:#fff}
th.prec{background:var(--prec);color:#000}
th.both{background:var(--both);color:#fff}
th button{font:inherit;color:inherit;background:none;border:0;padding:0;cursor:pointer;text-align:inherit}
th[aria-sort=ascending] button::after{content:" ▲"}
th[aria-sort=descending] button::after{content:" ▼"}
tr.target td{font-weight:600}
tr.both td{background:rgba(0,158,115,.13)}
tr.both td:first-child{box-shadow:inset 4px 0 0 var(--both)}
table.neurons tbody tr{cursor:pointer}
table.neurons tbody tr:hover td{background:var(--soft)}
.mark{color:#00654a;font-size:.8em;font-weight:600}
.tag{font-size:.75em;padding:0 .35em;border:1px solid currentColor;border-radius:3px;font-weight:400}
td.inel{color:var(--muted)}
table.predictions{width:100%}
table.predictions caption{text-align:left;font-size:.85rem;color:var(--muted);padding-bottom:.2rem}
table.predictions td{padding:.15rem .4rem;white-space:normal}
.bar-cell{width:35%;min-width:80px}
.bar{height:.75rem;background:var(--soft);border-radius:2px;overflow:hidden}
.bar span{display:block;height:100%;background:var(--corr)}
.bar.both span{background:var(--both)}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .35em 0 .15em;border-radius:2px;vertical-align:-.05em}
.key.corr{background:var(--corr)}.key.prec{background:var(--prec)}.key.both{background:var(--both)}
.legend .key{margin-left:.9em}
ul.findings{padding-left:1.25rem;margin:.25rem 0}
ul.findings li{margin:.3rem 0}
.note{font-size:.85rem}
svg.defs{position:absolute;width:0;height:0;overflow:hidden}
svg.chart,svg.overlay,svg.heat{display:block;max-width:100%;height:auto}
.chart-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,460px),1fr));gap:16px 28px;align-items:start}
figure.chartfig svg{margin:0 auto}
.glance-row{display:grid;grid-template-columns:minmax(0,300px) minmax(0,260px) minmax(0,1fr);gap:16px 24px;align-items:start}
figure.glance img,figure.glance svg{display:block;width:100%;height:auto;border:1px solid var(--line)}
p.explained{margin:0 0 .5rem;font-size:1.05rem}
.depth-row{display:flex;flex-wrap:wrap;gap:12px 20px;align-items:flex-start;margin:.75rem 0 1.25rem}
figure.depth-boxes{flex:0 1 300px}
figure.depth-boxes svg{width:100%;border:1px solid var(--line)}
figure.depth-boxes figcaption{border-left:6px solid var(--line);padding-left:.4rem}
.depth-row.corr figure.depth-boxes figcaption{border-left-color:var(--corr)}
.depth-row.prec figure.depth-boxes figcaption{border-left-color:var(--prec)}
.mosaic-wrap{flex:1 1 380px;min-width:0}
.mosaic-caption{margin:0 0 .35rem;font-size:.85rem;color:var(--muted)}
.mosaic{display:grid;grid-template-columns:repeat(auto-fill,minmax(40px,1fr));gap:3px}
a.tile{display:block;aspect-ratio:1/1;border:3px solid var(--line);border-radius:3px;overflow:hidden;background:var(--soft)}
a.tile:hover,a.tile:focus{outline:2px solid var(--fg);outline-offset:1px}
a.tile svg{display:block;width:100%;height:100%}
a.tile .silent{display:flex;height:100%;align-items:center;justify-content:center;color:var(--muted)}
.depth-legend{display:inline-flex;flex-wrap:wrap;align-items:center;gap:.4rem;font-size:.85rem;color:var(--muted)}
.depth-legend svg{border-radius:2px}
.heat-legend .key{margin-left:.5em}
.faith{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
.faith dl.kv{flex:1 1 260px}
section.detail>details>summary{list-style:none;display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem 1rem;border-bottom:2px solid var(--line);margin-top:1rem}
section.detail>details>summary::-webkit-details-marker{display:none}
section.detail>details>summary::before{content:"▸";color:var(--muted)}
section.detail>details[open]>summary::before{content:"▾"}
section.detail>details>summary h2{display:inline;border:0;margin:.4rem 0;padding:0;font-size:1.1rem}
.teaser{font-size:.85rem;color:var(--muted)}
details.inline>summary{color:#005a8c;margin:.5rem 0}
details.layer{border-top:1px solid var(--line)}
details.layer>summary{padding:.35rem 0;overflow-wrap:anywhere}
details.layer>summary code{font-size:.85em}
details.layer .sel{font-size:.85rem;margin-left:.5rem}
details.layer[open]{padding-bottom:1rem}
.swatch{display:inline-block;width:.7em;height:.7em;border-radius:2px;margin-right:.35em}
.controls{display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;align-items:center;margin:.5rem 0}
.controls label{max-width:100%}
.controls select{font:inherit;padding:.15rem .3rem;max-width:100%}
button{font:inherit;cursor:pointer}
.pair{display:flex;flex-wrap:wrap;gap:12px 24px}
.pair>.selection{flex:1 1 420px;min-width:0}
.selection.corr h4{border-left-color:var(--corr)}
.selection.prec h4{border-left-color:var(--prec)}
.layer-visual{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start;margin:.75rem 0}
.layer-visual figure.layer-boxes{flex:0 1 320px}
figure.layer-boxes svg{width:100%;border:1px solid var(--line)}
.cards{display:flex;flex-wrap:wrap;gap:10px;flex:1 1 540px;align-content:flex-start}
article.card{width:300px;margin:0;padding:6px;border:1px solid var(--line);border-top:4px solid var(--line);border-radius:4px;background:#fff;scroll-margin-top:8px}
article.card:target,article.card:focus{outline:3px solid var(--fg);outline-offset:2px}
article.card.corr{border-top-color:var(--corr)}article.card.prec{border-top-color:var(--prec)}article.card.both{border-top-color:var(--both)}
article.card h4{border:0;padding:0;margin:.35rem 0 .2rem;font-size:.9rem}
article.card p{font-size:.8rem;line-height:1.4;margin:.2rem 0}
.card-images{display:grid;grid-template-columns:1fr 1fr;gap:4px}
.card-images.three{grid-template-columns:1fr 1fr 1fr}
.card-images svg.patch{image-rendering:pixelated}
.card-images svg,.card-images .placeholder{width:100%;aspect-ratio:1/1;height:auto;display:block;background:var(--soft)}
.placeholder{display:flex!important;align-items:center;justify-content:center;text-align:center;font-size:.75rem;color:var(--muted);padding:4px}
.tag.corr{color:#005a8c}.tag.prec{color:#8a5a00}.tag.both{color:#00654a}
q{quotes:"“" "”"}
@media (max-width:900px){
.glance-row{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}
.glance-text{grid-column:1/-1}
}
@media (max-width:640px){
article.card{width:100%}
.layer-visual figure.layer-boxes,figure.depth-boxes{flex-basis:100%}
.mosaic{grid-template-columns:repeat(auto-fill,minmax(34px,1fr))}
body{font-size:14px}
main{padding:10px 12px 32px}
dl.kv{grid-template-columns:minmax(0,1fr);gap:0}
dl.kv dd{margin-bottom:.5rem}
th,td{padding:.2rem .4rem}
.pair>.selection{flex-basis:100%}
}
`;
