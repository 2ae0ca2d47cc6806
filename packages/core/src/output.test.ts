import { describe, expect, it } from 'vitest';
import { classProbabilities, logSigmoid, outputValue, sigmoid } from './statistics.js';

describe('outputValue', () => {
  const z = [1.5, -0.25, 3, 0.5];
  // Plain definitions, written out independently of the implementation.
  const softmax = z.map((v) => Math.exp(v) / z.reduce((s, w) => s + Math.exp(w), 0));

  it('softmax kinds (the default, softmax, log-softmax): y from the pre-softmax logits', () => {
    for (const kind of [undefined, 'logits', 'softmax', 'log-softmax'] as const) {
      for (let t = 0; t < z.length; t++) {
        expect(outputValue(z, t, 'prob', kind)).toBeCloseTo(softmax[t]!, 14);
        expect(outputValue(z, t, 'logprob', kind)).toBeCloseTo(Math.log(softmax[t]!), 14);
        expect(outputValue(z, t, 'logit', kind)).toBe(z[t]);
      }
    }
  });

  it('sigmoid: prob = sigmoid(z_t), logprob = log sigmoid(z_t), logit = z_t, independent of the other classes', () => {
    for (let t = 0; t < z.length; t++) {
      const p = 1 / (1 + Math.exp(-z[t]!));
      expect(outputValue(z, t, 'prob', 'sigmoid')).toBeCloseTo(p, 15);
      expect(outputValue(z, t, 'logprob', 'sigmoid')).toBeCloseTo(Math.log(p), 14);
      expect(outputValue(z, t, 'logit', 'sigmoid')).toBe(z[t]);
    }
    // Not the softmax value: the other classes do not matter.
    expect(outputValue([2, 100], 0, 'prob', 'sigmoid')).toBeCloseTo(1 / (1 + Math.exp(-2)), 15);
    expect(outputValue([2, 100], 0, 'prob')).toBeLessThan(1e-40);
  });

  it('sigmoid and log sigmoid stay finite and accurate for large |z|', () => {
    expect(sigmoid(-800)).toBe(0);
    expect(sigmoid(800)).toBe(1);
    expect(logSigmoid(-800)).toBeCloseTo(-800, 12);
    // log sigmoid(40) = -log(1 + e^-40) ~ -e^-40: the naive log(sigmoid(40)) would give 0.
    expect(logSigmoid(40) / -Math.exp(-40)).toBeCloseTo(1, 12);
    expect(logSigmoid(0)).toBeCloseTo(Math.log(0.5), 15);
  });

  it('rejects a target past the row', () => {
    expect(() => outputValue(z, 4, 'prob')).toThrow(/target 4 out of range/);
  });
});

describe('classProbabilities', () => {
  it('softmax over the row for the softmax kinds, sigmoid per class for sigmoid', () => {
    const z = [0.2, -1, 2.5];
    const sm = classProbabilities(z, 'softmax');
    expect(sm.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 15);
    z.forEach((_, t) => {
      expect(sm[t]).toBeCloseTo(outputValue(z, t, 'prob'), 15);
    });
    expect([...classProbabilities(z)]).toEqual([...sm]);
    const sg = classProbabilities(z, 'sigmoid');
    z.forEach((v, t) => {
      expect(sg[t]).toBeCloseTo(1 / (1 + Math.exp(-v)), 15);
    });
  });
});
