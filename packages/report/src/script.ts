/**
 * The page's one inline script, allowed by its hash in the Content-Security-Policy (nothing else may run). It only
 * adds to a page that works without it: links to a neuron open the `<details>` around its card (Chromium does this
 * for fragment links itself, other browsers do not), the neuron table can be filtered by layer and metric and
 * sorted by any column (its controls are hidden until the script shows them), a click anywhere on a row opens the
 * neuron, and the layers can be opened or closed at once. It requests nothing and writes nothing but the DOM.
 */
import { createHash } from 'node:crypto';

export const SCRIPT = `(() => {
  const open = (el) => {
    for (let d = el.closest('details'); d; d = d.parentElement ? d.parentElement.closest('details') : null) d.open = true;
  };
  const show = (id, focus) => {
    const el = id ? document.getElementById(id) : null;
    if (!el) return;
    open(el);
    el.scrollIntoView({ block: 'start' });
    if (focus) el.focus({ preventScroll: true });
  };
  const target = () => decodeURIComponent(location.hash.slice(1));
  addEventListener('hashchange', () => show(target(), true));
  if (location.hash) show(target(), false);
  for (const b of document.querySelectorAll('button[data-details]')) {
    b.hidden = false;
    b.addEventListener('click', () => {
      for (const d of document.querySelectorAll(b.dataset.details)) d.open = b.dataset.open === '1';
    });
  }
  const table = document.getElementById('neuron-table');
  if (!table) return;
  const controls = document.getElementById('neuron-controls');
  const layer = document.getElementById('filter-layer');
  const set = document.getElementById('filter-set');
  const count = document.getElementById('filter-count');
  const body = table.tBodies[0];
  const rows = [...body.rows];
  controls.hidden = false;
  const apply = () => {
    let shown = 0;
    for (const r of rows) {
      const ok = (!layer.value || r.dataset.layer === layer.value) && (!set.value || r.dataset.sets.split(' ').includes(set.value));
      r.hidden = !ok;
      if (ok) shown++;
    }
    count.textContent = shown + ' of ' + rows.length + ' neurons';
  };
  layer.addEventListener('change', apply);
  set.addEventListener('change', apply);
  const value = (r, k) => {
    const v = r.cells[k].dataset.v;
    const n = Number(v);
    return v === '' || v === undefined ? null : Number.isNaN(n) ? v : n;
  };
  const heads = [...table.tHead.rows[0].cells];
  heads.forEach((th, k) => {
    const b = th.querySelector('button');
    if (!b) return;
    b.addEventListener('click', () => {
      const up = th.getAttribute('aria-sort') !== 'ascending';
      for (const h of heads) h.removeAttribute('aria-sort');
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      const sorted = rows.slice().sort((a, c) => {
        const x = value(a, k);
        const y = value(c, k);
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * (up ? 1 : -1);
      });
      for (const r of sorted) body.appendChild(r);
    });
  });
  body.addEventListener('click', (e) => {
    if (e.target.closest('a')) return;
    const r = e.target.closest('tr');
    if (r && r.dataset.href) location.hash = r.dataset.href;
  });
  apply();
})();`;

/** The CSP source that allows exactly {@link SCRIPT}: `'sha256-<base64>'`. */
export function scriptHash(script = SCRIPT): string {
  return `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`;
}
