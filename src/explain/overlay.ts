/**
 * Heat map pictures: OpenCV's COLORMAP_JET, the overlay on the preprocessed image, and lesion
 * contours.
 */
import { DrXaiError, type RgbImage } from '../core/index.ts';

/**
 * cv2.applyColorMap(np.arange(256, dtype=uint8)[:, None], cv2.COLORMAP_JET)[:, 0, ::-1] with
 * OpenCV 4.6 (BGR turned to RGB), 256 x RGB as hex. scripts/fixtures/make_cam_fixtures.py writes
 * the same table to test/fixtures/explain/jet.json and the tests compare them.
 */
const JET_HEX =
  '00008000008400008800008c00009000009400009800009c0000a00000a40000a80000ac0000b00000b40000b80000bc' +
  '0000c00000c40000c80000cc0000d00000d40000d80000dc0000e00000e40000e80000ec0000f00000f40000f80000fc' +
  '0000ff0004ff0008ff000cff0010ff0014ff0018ff001cff0020ff0024ff0028ff002cff0030ff0034ff0038ff003cff' +
  '0040ff0044ff0048ff004cff0050ff0054ff0058ff005cff0060ff0064ff0068ff006cff0070ff0074ff0078ff007cff' +
  '0080ff0084ff0088ff008cff0090ff0094ff0098ff009cff00a0ff00a4ff00a8ff00acff00b0ff00b4ff00b8ff00bcff' +
  '00c0ff00c4ff00c8ff00ccff00d0ff00d4ff00d8ff00dcff00e0ff00e4ff00e8ff00ecff00f0ff00f4ff00f8ff00fcff' +
  '02fffe06fffa0afff60efff212ffee16ffea1affe61effe222ffde26ffda2affd62effd232ffce36ffca3affc63effc2' +
  '42ffbe46ffba4affb64effb252ffae56ffaa5affa65effa262ff9e66ff9a6aff966eff9272ff8e76ff8a7aff867eff82' +
  '82ff7e86ff7a8aff768eff7292ff6e96ff6a9aff669eff62a2ff5ea6ff5aaaff56aeff52b2ff4eb6ff4abaff46beff42' +
  'c2ff3ec6ff3acaff36ceff32d2ff2ed6ff2adaff26deff22e2ff1ee6ff1aeaff16eeff12f2ff0ef6ff0afaff06feff01' +
  'fffc00fff800fff400fff000ffec00ffe800ffe400ffe000ffdc00ffd800ffd400ffd000ffcc00ffc800ffc400ffc000' +
  'ffbc00ffb800ffb400ffb000ffac00ffa800ffa400ffa000ff9c00ff9800ff9400ff9000ff8c00ff8800ff8400ff8000' +
  'ff7c00ff7800ff7400ff7000ff6c00ff6800ff6400ff6000ff5c00ff5800ff5400ff5000ff4c00ff4800ff4400ff4000' +
  'ff3c00ff3800ff3400ff3000ff2c00ff2800ff2400ff2000ff1c00ff1800ff1400ff1000ff0c00ff0800ff0400ff0000' +
  'fc0000f80000f40000f00000ec0000e80000e40000e00000dc0000d80000d40000d00000cc0000c80000c40000c00000' +
  'bc0000b80000b40000b00000ac0000a80000a40000a000009c00009800009400009000008c0000880000840000800000';

export const JET_RGB: Uint8Array = Uint8Array.from(JET_HEX.match(/../g)!.map((h) => parseInt(h, 16)));

/** Heat value in [0, 1] to a JET index as pytorch-grad-cam does: np.uint8(255 * v) (truncation). */
function jetIndex(v: number): number {
  const i = Math.trunc(255 * v);
  return i < 0 ? 0 : i > 255 ? 255 : i;
}

/** The heat map alone, coloured with JET. */
export function heatToRgb(map: Float32Array, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const j = jetIndex(map[i]) * 3;
    data[3 * i] = JET_RGB[j];
    data[3 * i + 1] = JET_RGB[j + 1];
    data[3 * i + 2] = JET_RGB[j + 2];
  }
  return { width, height, channels: 3, data };
}

/** OpenCV's saturate_cast<uchar> of a float: round half to even (cvRound), clamp. */
function saturateU8(v: number): number {
  if (!(v > 0)) return 0;
  if (v >= 255) return 255;
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

export interface OverlayOptions {
  /** Weight of the heat colour; the image gets 1 - alpha (default 0.5). */
  alpha?: number;
  /** Retina mask (width*height, 0 = outside): outside stays as the image (dark), without heat. */
  retina?: Uint8Array;
}

/**
 * (1 - alpha) * image + alpha * JET(map), rounded as cv2.addWeighted(image, 1 - alpha, heat,
 * alpha, 0). Outside the retina mask the image is left as it is (black after preprocessing), so
 * heat on the padding never looks like a finding.
 */
export function overlayHeat(image: RgbImage, map: Float32Array, opts: OverlayOptions = {}): RgbImage {
  const { width, height } = image;
  if (image.channels !== 3 || map.length !== width * height) {
    throw new DrXaiError(`heat map has ${map.length} values for a ${width}x${height} image`);
  }
  const alpha = opts.alpha ?? 0.5;
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < width * height; i++) {
    const p = 3 * i;
    if (opts.retina && opts.retina[i] === 0) {
      out[p] = image.data[p];
      out[p + 1] = image.data[p + 1];
      out[p + 2] = image.data[p + 2];
      continue;
    }
    const j = jetIndex(map[i]) * 3;
    for (let c = 0; c < 3; c++) out[p + c] = saturateU8(image.data[p + c] * (1 - alpha) + JET_RGB[j + c] * alpha);
  }
  return { width, height, channels: 3, data: out };
}

/**
 * Draw the outline of a binary mask (pixels inside with a 4-neighbour outside) in `rgb`, in place.
 * `thickness` > 1 also paints outline pixels' neighbours up to that many pixels inward.
 */
export function drawContour(image: RgbImage, mask: Uint8Array, rgb: [number, number, number], thickness = 1): RgbImage {
  const { width, height } = image;
  if (mask.length !== width * height) throw new DrXaiError(`mask has ${mask.length} values for a ${width}x${height} image`);
  let inside = mask;
  for (let t = 0; t < thickness; t++) {
    const next = new Uint8Array(inside.length);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        if (!inside[i]) continue;
        const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !inside[i - 1] || !inside[i + 1] || !inside[i - width] || !inside[i + width];
        if (edge) {
          image.data[3 * i] = rgb[0];
          image.data[3 * i + 1] = rgb[1];
          image.data[3 * i + 2] = rgb[2];
        } else next[i] = 1;
      }
    }
    inside = next;
  }
  return image;
}
