import { sha256 } from '@neuronscope/core';
import { describe, expect, it } from 'vitest';
import {
  crop,
  type Pixels,
  resizeBilinear,
  resizeBilinearRegion,
  resizeShorterAndCenterCrop,
  rgbToGray,
} from './resample.js';

// A 7x5 RGB image with values (37 i + 11) mod 256; expected values come from Pillow 9.4
// (Image.frombytes('RGB', (7, 5), data).resize(size, Image.BILINEAR) and .convert('L')).
const source: Pixels = {
  data: Uint8Array.from({ length: 7 * 5 * 3 }, (_, i) => (i * 37 + 11) % 256),
  width: 7,
  height: 5,
  channels: 3,
};

describe('Pillow-compatible resampling', () => {
  it('shrinks with the antialiased triangle filter', () => {
    expect([...resizeBilinear(source, 3, 2).data]).toEqual([
      113, 97, 134, 154, 131, 111, 134, 169, 128, 93, 115, 152, 131, 108, 129, 152, 149, 83,
    ]);
  });

  it('enlarges, and enlarges one side while shrinking the other', () => {
    expect(sha256(resizeBilinear(source, 16, 11).data)).toBe(
      '67b79e4ec412a3219727816bfd6562613565a4224f4878a9d1c12be5e436b0a1',
    );
    const mixed = resizeBilinear(source, 10, 2);
    expect([...mixed.data.subarray(0, 12)]).toEqual([20, 57, 94, 81, 118, 155, 156, 132, 169, 225, 30, 67]);
    expect(sha256(mixed.data)).toBe('bf65cf7a2289b61d821b8305b32f5198beded4df8ca11d65d33c290184313808');
  });

  it("converts to luma as Pillow's convert('L') does", () => {
    expect([...rgbToGray(source).data.subarray(0, 10)]).toEqual([41, 152, 84, 118, 200, 84, 195, 50, 161, 93]);
    const grey: Pixels = {
      data: Uint8Array.from([0, 0, 0, 77, 77, 77, 255, 255, 255]),
      width: 3,
      height: 1,
      channels: 3,
    };
    expect([...rgbToGray(grey).data]).toEqual([0, 77, 255]);
  });

  it('crops, and centres the crop with Python rounding', () => {
    expect([...crop(source, 1, 1, 1, 1).data]).toEqual([...source.data.subarray(8 * 3, 8 * 3 + 3)]);
    expect(() => crop(source, 5, 0, 3, 1)).toThrow(/outside/);
    // 9x1 single channel, "resize" the shorter side 1 -> 1 (a no-op) and crop 6: (9 - 6) / 2 = 1.5 rounds to 2.
    const row: Pixels = { data: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]), width: 9, height: 1, channels: 1 };
    expect([...resizeShorterAndCenterCrop(row, 1, 1, 6).data]).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('computes a region of a resize bit for bit as the whole resize cropped, without the rest', () => {
    let seed = 11;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 24;
    };
    for (const [w, h, outW, outH, c] of [
      [37, 23, 15, 9, 3],
      [7, 300, 24, 960, 1],
      [300, 2, 1200, 8, 3],
      [40, 40, 40, 17, 3],
      [40, 40, 13, 40, 1],
    ] as const) {
      const image: Pixels = { data: Uint8Array.from({ length: w * h * c }, random), width: w, height: h, channels: c };
      const whole = resizeBilinear(image, outW, outH);
      for (const [left, top, width, height] of [
        [0, 0, outW, outH],
        [Math.floor(outW / 3), Math.floor(outH / 4), Math.ceil(outW / 2), Math.ceil(outH / 3)],
        [outW - 1, outH - 1, 1, 1],
      ] as const) {
        const region = resizeBilinearRegion(image, outW, outH, { left, top, width, height });
        expect([...region.data], `${w}x${h} -> ${outW}x${outH} at ${left},${top}`).toEqual([
          ...crop(whole, left, top, width, height).data,
        ]);
      }
    }
  });

  it('centre-crops a 1 x 20000 image without resizing the whole 256 x 5 120 000 image', () => {
    const tall: Pixels = {
      data: Uint8Array.from({ length: 20000 }, (_, i) => i % 251),
      width: 1,
      height: 20000,
      channels: 1,
    };
    const out = resizeShorterAndCenterCrop(tall, 256, 224, 224);
    expect([out.width, out.height]).toEqual([224, 224]);
    // Every column of the widened single column is the same; the centre rows sample the middle of the input.
    for (let y = 0; y < 224; y += 37) expect(new Set(out.data.subarray(y * 224, (y + 1) * 224)).size).toBe(1);
  });
});
