// A Hugging Face CLIP image processor in TypeScript: PIL-exact resize, centre crop (zero
// padded when the image is smaller), rescale and normalise in float32, as transformers does.
import {
  decodeRgb,
  randomResizedCropBox,
  type RgbImage,
  type TransformImageOptions,
} from "../model/images.ts";
import { resizePil } from "./pil_resize.ts";
import type { HfPreprocessor } from "./preprocessor_config.ts";

/**
 * The size an image is resized to (transformers' `get_resize_output_image_size`): the shortest
 * edge to `shortestEdge` and the other edge `int(shortestEdge · long / short)`, or `{height,
 * width}` exactly.
 *
 * @param p The preprocessing.
 * @param width Input width.
 * @param height Input height.
 * @returns `[width, height]` after the resize.
 *
 * @example Usage
 * ```ts
 * import { parsePreprocessorConfig } from "./preprocessor_config.ts";
 * import { resizeTarget } from "./preprocess.ts";
 * console.log(resizeTarget(parsePreprocessorConfig({ size: 224 }, "p.json"), 640, 480)); // [ 298, 224 ]
 * ```
 */
export function resizeTarget(
  p: HfPreprocessor,
  width: number,
  height: number,
): [number, number] {
  if ("height" in p.size) return [p.size.width, p.size.height];
  const s = p.size.shortestEdge;
  if (width <= height) return [s, Math.trunc(s * height / width)];
  return [Math.trunc(s * width / height), s];
}

/**
 * transformers' `center_crop` on HWC bytes: the centred `height × width` window, zero padded
 * where the image is smaller.
 *
 * @param img The image.
 * @param crop The crop's `height` and `width`.
 * @returns The cropped image.
 *
 * @example Usage
 * ```ts
 * import { centerCrop } from "./preprocess.ts";
 * const c = centerCrop({ data: new Uint8Array(4 * 3 * 3).fill(9), width: 4, height: 3 }, { height: 2, width: 2 });
 * console.log(c.width, c.height, c.data.length); // 2 2 12
 * ```
 */
export function centerCrop(
  img: RgbImage,
  crop: { height: number; width: number },
): RgbImage {
  const { height, width } = crop;
  const H = img.height, W = img.width;
  // Python's floor division: negative offsets when the crop is larger.
  let top = Math.floor((H - height) / 2), left = Math.floor((W - width) / 2);
  if (top >= 0 && left >= 0 && top + height <= H && left + width <= W) {
    const out = new Uint8Array(height * width * 3);
    for (let y = 0; y < height; y++) {
      const s = ((y + top) * W + left) * 3;
      out.set(img.data.subarray(s, s + width * 3), y * width * 3);
    }
    return { data: out, width, height };
  }
  const nh = Math.max(height, H), nw = Math.max(width, W);
  const topPad = Math.ceil((nh - H) / 2), leftPad = Math.ceil((nw - W) / 2);
  top += topPad;
  left += leftPad;
  const y0 = Math.max(0, top), y1 = Math.min(nh, top + height);
  const x0 = Math.max(0, left), x1 = Math.min(nw, left + width);
  const oh = y1 - y0, ow = x1 - x0;
  const out = new Uint8Array(oh * ow * 3);
  for (let y = 0; y < oh; y++) {
    const py = y + y0 - topPad;
    if (py < 0 || py >= H) continue;
    for (let x = 0; x < ow; x++) {
      const px = x + x0 - leftPad;
      if (px < 0 || px >= W) continue;
      const s = (py * W + px) * 3, d = (y * ow + x) * 3;
      out[d] = img.data[s]!;
      out[d + 1] = img.data[s + 1]!;
      out[d + 2] = img.data[s + 2]!;
    }
  }
  return { data: out, width: ow, height: oh };
}

/**
 * Rescales and normalises 8-bit RGB to the model's input (HWC float32), with transformers'
 * arithmetic: `float32(v · rescale_factor)` in float64, then `(x - mean) / std` in float32.
 *
 * @param img The image.
 * @param p The preprocessing.
 * @param out Destination of `height·width·3` values; allocated when omitted.
 * @returns `out`.
 *
 * @example Usage
 * ```ts
 * import { parsePreprocessorConfig } from "./preprocessor_config.ts";
 * import { normalizePixels } from "./preprocess.ts";
 * const p = parsePreprocessorConfig({ image_mean: 0.5, image_std: 0.5 }, "p.json");
 * console.log(normalizePixels({ data: new Uint8Array([255, 0, 255]), width: 1, height: 1 }, p)); // Float32Array(3) [ 1, -1, 1 ]
 * ```
 */
export function normalizePixels(
  img: RgbImage,
  p: HfPreprocessor,
  out: Float32Array = new Float32Array(img.data.length),
): Float32Array {
  const f = Math.fround;
  const mean = p.imageMean.map(f), std = p.imageStd.map(f);
  const lut: Float32Array[] = [0, 1, 2].map((c) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) {
      let x = p.doRescale ? f(v * p.rescaleFactor) : v;
      if (p.doNormalize) x = f(f(x - mean[c]!) / std[c]!);
      t[v] = x;
    }
    return t;
  });
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    out[i] = lut[0]![d[i]!]!;
    out[i + 1] = lut[1]![d[i + 1]!]!;
    out[i + 2] = lut[2]![d[i + 2]!]!;
  }
  return out;
}

/**
 * The whole processor on decoded pixels: resize (PIL-exact), centre crop, rescale, normalise.
 *
 * @param img 8-bit RGB pixels.
 * @param p The preprocessing.
 * @returns HWC float32 values and the output size.
 *
 * @example Usage
 * ```ts
 * import { parsePreprocessorConfig } from "./preprocessor_config.ts";
 * import { preprocessRgb } from "./preprocess.ts";
 * const p = parsePreprocessorConfig({ size: 4, crop_size: 4 }, "p.json");
 * const r = preprocessRgb({ data: new Uint8Array(8 * 6 * 3).fill(128), width: 8, height: 6 }, p);
 * console.log(r.width, r.height); // 4 4
 * ```
 */
export function preprocessRgb(
  img: RgbImage,
  p: HfPreprocessor,
): { data: Float32Array; width: number; height: number } {
  let cur = img;
  if (p.doResize) {
    const [w, h] = resizeTarget(p, cur.width, cur.height);
    if (w !== cur.width || h !== cur.height) {
      cur = {
        data: resizePil(cur, { width: w, height: h, filter: p.resample }),
        width: w,
        height: h,
      };
    }
  }
  if (p.doCenterCrop) cur = centerCrop(cur, p.cropSize);
  return { data: normalizePixels(cur, p), width: cur.width, height: cur.height };
}

/** Turns an encoded image into a model input row (the loader's `transform`). */
export type ImageTransform = (
  bytes: Uint8Array,
  options: TransformImageOptions,
) => Promise<Float32Array>;

/**
 * The loader transform of a processor: decode (sharp, as PIL's `convert("RGB")`), then
 * {@linkcode preprocessRgb}. With `options.augment` (training), a random-resized crop of the
 * decoded image is resized to the output side with the processor's filter and flipped with
 * probability 1/2 (the draws in `transformImage`'s order), then rescaled and normalised.
 *
 * @param p The preprocessing.
 * @param side The output side (from `preprocessorSide`); `options.size` must equal it.
 * @returns The transform.
 *
 * @example Usage
 * ```ts ignore
 * const t = hfImageTransform(model.preprocessor, 336);
 * const row = await t(await Deno.readFile("cat.jpg"), { size: 336 });
 * ```
 */
export function hfImageTransform(p: HfPreprocessor, side: number): ImageTransform {
  return async (bytes, options) => {
    if (options.size !== side) {
      throw new RangeError(
        `Expected images of ${side} px (the model's preprocessor) but found a request for ${options.size} px`,
      );
    }
    if ((options.channels ?? 3) !== 3) {
      throw new RangeError(`Expected 3 channels for a Hugging Face model but found 1`);
    }
    const img = await decodeRgb(bytes);
    if (!options.augment) {
      const r = preprocessRgb(img, p);
      if (r.width !== side || r.height !== side) {
        throw new RangeError(`Expected a ${side}×${side} image but found ${r.width}×${r.height}`);
      }
      return r.data;
    }
    const a = options.augment;
    const [left, top, cw, ch] = randomResizedCropBox(img.width, img.height, a.random, a.minScale);
    let crop = img.data;
    if (cw !== img.width || ch !== img.height) {
      crop = new Uint8Array(cw * ch * 3);
      for (let y = 0; y < ch; y++) {
        const s = ((y + top) * img.width + left) * 3;
        crop.set(img.data.subarray(s, s + cw * 3), y * cw * 3);
      }
    }
    const data = cw === side && ch === side ? crop : resizePil(
      { data: crop, width: cw, height: ch },
      { width: side, height: side, filter: p.resample },
    );
    if (a.flip !== false && a.random() < 0.5) {
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side >> 1; x++) {
          const i = (y * side + x) * 3, j = (y * side + side - 1 - x) * 3;
          for (let c = 0; c < 3; c++) {
            const t = data[i + c]!;
            data[i + c] = data[j + c]!;
            data[j + c] = t;
          }
        }
      }
    }
    return normalizePixels({ data, width: side, height: side }, p);
  };
}
