import type { Preprocessing } from '@neuronscope/core';
import sharp, { type Sharp } from 'sharp';

/** An image ready to embed: a `data:` URI and its pixel size. */
export interface EmbeddedImage {
  readonly dataUri: string;
  readonly width: number;
  readonly height: number;
}

/** Longest side of the embedded input image, in pixels. */
export const MAX_IMAGE_SIDE = 384;
/** Longest side of the photo the boxes and patches are drawn on (sharper than the header's thumbnail). */
export const MAX_PHOTO_SIDE = 768;

/** Encodes as PNG when the image has an alpha channel (keeps transparency), else as JPEG (small for photos). */
async function embed(image: Sharp, hasAlpha: boolean, quality = 85): Promise<EmbeddedImage> {
  const encoded = hasAlpha ? image.png({ compressionLevel: 9 }) : image.jpeg({ quality, mozjpeg: true });
  const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
  const mime = hasAlpha ? 'image/png' : 'image/jpeg';
  return { dataUri: `data:${mime};base64,${data.toString('base64')}`, width: info.width, height: info.height };
}

/**
 * The input image, oriented by its EXIF tag and shrunk to at most {@link MAX_IMAGE_SIDE} on the longer side;
 * and the region of it the network sees, at the model's input size: shorter side resized to `resizeShorter`
 * then centre-cropped to `size`, or resized straight to `size` when `resizeShorter` is null (the geometry of
 * {@link Preprocessing}; greyscale when the model reads greyscale). The crop is a picture drawn by sharp for
 * display, not the normalised tensor itself.
 */
export async function embedImages(
  bytes: Uint8Array,
  pre: Preprocessing,
): Promise<{ image: EmbeddedImage; modelInput: EmbeddedImage; photo: EmbeddedImage; inputGrey: EmbeddedImage }> {
  const meta = await sharp(bytes).metadata();
  const image = sharp(bytes)
    .autoOrient()
    .resize({ width: MAX_IMAGE_SIDE, height: MAX_IMAGE_SIDE, fit: 'inside', withoutEnlargement: true });

  const [height, width] = pre.size;
  let crop = sharp(bytes).autoOrient();
  if (pre.resizeShorter === null) {
    crop = crop.resize({ width, height, fit: 'fill' });
  } else {
    // torchvision's geometry, as preprocessing computes it: the longer side floor(shorter·long/short), the
    // crop centred with Python's rounding.
    const { width: w0, height: h0 } = meta.autoOrient;
    const s = pre.resizeShorter;
    const landscape = w0 > h0;
    // A resize smaller than the crop (an odd setting) is stretched to the crop rather than failing.
    const w1 = Math.max(width, landscape ? Math.floor((s * w0) / h0) : s);
    const h1 = Math.max(height, landscape ? s : Math.floor((s * h0) / w0));
    crop = crop
      .resize({ width: w1, height: h1, fit: 'fill' })
      .extract({ left: roundHalfToEven((w1 - width) / 2), top: roundHalfToEven((h1 - height) / 2), width, height });
  }
  if (pre.grayscale) crop = crop.greyscale();
  const cropBytes = await crop.png().toBuffer();
  const photo = sharp(bytes)
    .autoOrient()
    .resize({ width: MAX_PHOTO_SIDE, height: MAX_PHOTO_SIDE, fit: 'inside', withoutEnlargement: true });
  // The faded grey input under the heat maps: the colours of the maps stay readable on any photo.
  const faded = sharp(cropBytes).greyscale().linear(0.55, 110).removeAlpha();
  const [embeddedImage, modelInput, embeddedPhoto, inputGrey] = await Promise.all([
    embed(image, meta.hasAlpha),
    embed(sharp(cropBytes), meta.hasAlpha),
    embed(photo, meta.hasAlpha),
    embed(faded, false),
  ]);
  return { image: embeddedImage, modelInput, photo: embeddedPhoto, inputGrey };
}

/** Python's round(): halves go to the even neighbour (torchvision's centre crop uses it). */
function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A thumbnail for a dataset page, with the image's own size (the coordinates its crops are given in). */
export interface Thumbnail extends EmbeddedImage {
  /** The image's own width and height, oriented. */
  readonly originalWidth: number;
  readonly originalHeight: number;
}

/**
 * A thumbnail of an image file for the dataset pages: small images (at most `maxSide`, e.g. 28 x 28 digits) kept as
 * they are, losslessly, as PNG; larger ones shrunk to `maxSide` on the longer side, JPEG (PNG when they have alpha).
 */
export async function thumbnail(bytes: Uint8Array, maxSide: number): Promise<Thumbnail> {
  const meta = await sharp(bytes).metadata();
  const { width, height } = meta.autoOrient;
  const image = sharp(bytes)
    .autoOrient()
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true });
  const small = Math.max(width, height) <= maxSide;
  const embedded = await embed(image, meta.hasAlpha || small, 78);
  return { ...embedded, originalWidth: width, originalHeight: height };
}
