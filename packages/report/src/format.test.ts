import { describe, expect, it } from 'vitest';
import { count, fixed, general, MISSING, percent } from './format.js';
import { escapeHtml, fileName } from './html.js';

describe('escapeHtml', () => {
  it('escapes markup, ampersands and both quotes', () => {
    expect(escapeHtml(`<script>alert(1)</script> & "double" 'single'`)).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;double&quot; &#39;single&#39;',
    );
  });

  it('leaves plain text alone and escapes already-escaped text again', () => {
    expect(escapeHtml('Egyptian cat, ×224 — ∞')).toBe('Egyptian cat, ×224 — ∞');
    expect(escapeHtml('&lt;')).toBe('&amp;lt;');
  });

  it('keeps the last path component, / or \\ separated', () => {
    expect(fileName('/models/squeezenet1_1.onnx')).toBe('squeezenet1_1.onnx');
    expect(fileName('C:\\images\\cat.png')).toBe('cat.png');
    expect(fileName('cat.png')).toBe('cat.png');
  });
});

describe('number formatting', () => {
  it('shows missing values as a dash and infinities as ∞', () => {
    for (const f of [fixed, general, percent]) {
      expect(f(null)).toBe(MISSING);
      expect(f(undefined)).toBe(MISSING);
      expect(f(Number.NaN)).toBe(MISSING);
      expect(f(Number.POSITIVE_INFINITY)).toBe('∞');
      expect(f(Number.NEGATIVE_INFINITY)).toBe('-∞');
    }
  });

  it('gives correlations three decimals, without a sign on zero', () => {
    expect(fixed(0.123456)).toBe('0.123');
    expect(fixed(-0.4567)).toBe('-0.457');
    expect(fixed(-0.0001)).toBe('0.000');
    expect(fixed(1, 1)).toBe('1.0');
  });

  it('formats values of any scale with 4 significant digits or exponent notation', () => {
    expect(general(0)).toBe('0');
    expect(general(123.456)).toBe('123.5');
    expect(general(0.5)).toBe('0.5');
    expect(general(12)).toBe('12');
    expect(general(1234.56)).toBe('1235');
    expect(general(99999.4)).toBe('99999');
    expect(general(123456)).toBe('1.23e5');
    expect(general(3.2e12)).toBe('3.20e12');
    expect(general(0.000123)).toBe('1.23e-4');
    expect(general(-2.5)).toBe('-2.5');
  });

  it('formats probabilities as percentages', () => {
    expect(percent(0.87341)).toBe('87.3%');
    expect(percent(1)).toBe('100.0%');
    expect(percent(0)).toBe('0.0%');
    expect(percent(0.0001)).toBe('&lt;0.1%');
  });

  it('groups thousands with a narrow space', () => {
    expect(count(12)).toBe('12');
    expect(count(1234567)).toBe('1\u202f234\u202f567');
  });
});
