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
@media (max-width:640px){
body{font-size:14px}
main{padding:10px 12px 32px}
dl.kv{grid-template-columns:minmax(0,1fr);gap:0}
dl.kv dd{margin-bottom:.5rem}
th,td{padding:.2rem .4rem}
.pair>.selection{flex-basis:100%}
}
`;
