/**
 * HTML text helpers. Every string that comes from the model, the user or a file (labels, layer names, paths,
 * parameter names) goes through {@link escapeHtml} before it enters the page; numbers go through the
 * formatters in `format.ts`, which only ever produce digits, signs and fixed symbols.
 */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes `& < > " '` so that `text` is safe both as element content and inside a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** The last component of a path, `/` or `\` separated: what a reader needs to recognise a file. */
export function fileName(path: string | null): string {
  if (path === null) return '(in memory)';
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/** A table whose cells are already HTML, in a wrapper that scrolls horizontally on narrow screens. */
export function table(head: readonly string[], rows: readonly string[], className = ''): string {
  const cls = className ? ` class="${className}"` : '';
  return `<div class="scroll"><table${cls}><thead><tr>${head.join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

/** A definition list of `[term, html]` pairs; the terms are escaped, the values are HTML. */
export function keyValues(pairs: readonly (readonly [string, string])[]): string {
  return `<dl class="kv">${pairs.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}
