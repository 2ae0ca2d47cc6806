/**
 * Number formatting for the report. Locale-independent (toFixed / toPrecision), so the same summary always
 * gives the same text. A missing value (null, undefined, NaN) is shown as an em dash; infinities as ∞.
 * Every formatter returns HTML text: it can be put into the page as it is.
 */

/** Shown for a value that does not exist (null, NaN). */
export const MISSING = '—';

function special(x: number | null | undefined): string | null {
  if (x === null || x === undefined || Number.isNaN(x)) return MISSING;
  if (x === Number.POSITIVE_INFINITY) return '∞';
  if (x === Number.NEGATIVE_INFINITY) return '-∞';
  return null;
}

/** `-0.000` reads as a sign error; a value that rounds to zero is shown without sign. */
function unsignedZero(text: string): string {
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/** Fixed decimals: correlations, overlaps, Spearman (3 digits by default). */
export function fixed(x: number | null | undefined, digits = 3): string {
  return special(x) ?? unsignedZero((x as number).toFixed(digits));
}

/**
 * A value whose scale is unknown (precision, which may be huge, mean activations): 4 significant digits
 * (whole numbers from 1000), switching to `1.23e6` notation outside [0.001, 100000).
 */
export function general(x: number | null | undefined): string {
  const s = special(x);
  if (s !== null) return s;
  const v = x as number;
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2).replace('e+', 'e');
  // Four significant digits would switch to exponent notation from 9999.5 on.
  if (a >= 1e3) return String(Math.round(v));
  const text = v.toPrecision(4);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** A probability or fraction in [0, 1] as a percentage with one decimal; tiny positive values as `&lt;0.1%`. */
export function percent(p: number | null | undefined): string {
  const s = special(p);
  if (s !== null) return s;
  const v = (p as number) * 100;
  if (v > 0 && v < 0.05) return '&lt;0.1%';
  return `${unsignedZero(v.toFixed(1))}%`;
}

/** An integer count with thin-space thousands separators (locale-independent). */
export function count(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
}
