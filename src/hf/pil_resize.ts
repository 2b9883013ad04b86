// PIL's `Image.resize` for 8-bit images, bit for bit: separable convolution whose support is
// scaled by the downscale factor (antialiasing), bicubic a = -0.5 or bilinear, coefficients in
// 22-bit fixed point, a horizontal pass (rows the vertical pass needs only) then a vertical
// pass, each rounded and clipped to 8 bits (Pillow's libImaging/Resample.c).

/** The resampling filters of {@linkcode resizePil}. */
export type PilFilter = "bicubic" | "bilinear";

const PRECISION_BITS = 32 - 8 - 2;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function bilinear(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

interface Coeffs {
  ksize: number;
  /** `[xmin, count]` per output sample. */
  bounds: Int32Array;
  /** Fixed-point weights, `ksize` per output sample. */
  kk: Int32Array;
}

function precompute(inSize: number, outSize: number, filter: PilFilter): Coeffs {
  const fn = filter === "bicubic" ? bicubic : bilinear;
  const baseSupport = filter === "bicubic" ? 2 : 1;
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = baseSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = fn((x + xmin - center + 0.5) * ss);
      ww += w[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x]! / ww : w[x]!;
      kk[xx * ksize + x] = k < 0
        ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(v: number): number {
  if (v >= 1 << PRECISION_BITS << 8) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/** An 8-bit image for {@linkcode resizePil}: `height × width × channels` bytes, row-major. */
export interface PixelImage {
  /** The bytes. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Values per pixel. @default {3} */
  channels?: number;
}

/** Options of {@linkcode resizePil}: the output size and the filter. */
export interface ResizePilOptions {
  /** Output width. */
  width: number;
  /** Output height. */
  height: number;
  /** `"bicubic"` (PIL's BICUBIC, a = -0.5) or `"bilinear"`. @default {"bicubic"} */
  filter?: PilFilter;
}

/**
 * Resizes an 8-bit image exactly as Pillow's `Image.resize((width, height), filter)` does
 * (`reducing_gap=None`, the whole image as the box), which is what Hugging Face image
 * processors call.
 *
 * @param image The input pixels.
 * @param options The output size and filter ({@linkcode ResizePilOptions}).
 * @returns `height × width × channels` bytes.
 *
 * @example Usage
 * ```ts
 * import { resizePil } from "./pil_resize.ts";
 * const out = resizePil({ data: new Uint8Array([0, 255, 0, 255]), width: 4, height: 1, channels: 1 }, { width: 2, height: 1 });
 * console.log(out); // Uint8Array(2) [ 107, 148 ]
 * ```
 */
export function resizePil(image: PixelImage, options: ResizePilOptions): Uint8Array {
  const { data: src, width, height } = image;
  const channels = image.channels ?? 3, filter = options.filter ?? "bicubic";
  const outWidth = options.width, outHeight = options.height;
  for (const [k, v] of Object.entries({ width, height, channels, outWidth, outHeight })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Expected ${k} to be a positive integer but found ${v}`);
    }
  }
  if (src.length !== width * height * channels) {
    throw new TypeError(
      `Expected ${width}×${height}×${channels} = ${
        width * height * channels
      } bytes but found ${src.length}`,
    );
  }
  const C = channels;
  const horiz = precompute(width, outWidth, filter);
  const vert = precompute(height, outHeight, filter);
  const needH = outWidth !== width, needV = outHeight !== height;
  // The rows the vertical pass reads.
  const yFirst = vert.bounds[0]!;
  const yLast = vert.bounds[(outHeight - 1) * 2]! + vert.bounds[(outHeight - 1) * 2 + 1]!;
  let img = src, w = width, rowOffset = 0;
  if (needH) {
    const rows = needV ? yLast - yFirst : height;
    rowOffset = needV ? yFirst : 0;
    const out = new Uint8Array(rows * outWidth * C);
    const { ksize, bounds, kk } = horiz;
    for (let y = 0; y < rows; y++) {
      const inRow = (y + rowOffset) * width * C, outRow = y * outWidth * C;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = bounds[xx * 2]!, n = bounds[xx * 2 + 1]!, k0 = xx * ksize;
        for (let c = 0; c < C; c++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < n; x++) ss += src[inRow + (x + xmin) * C + c]! * kk[k0 + x]!;
          out[outRow + xx * C + c] = clip8(ss);
        }
      }
    }
    img = out;
    w = outWidth;
  }
  if (!needV) return img === src ? src.slice() : img;
  const out = new Uint8Array(outHeight * w * C);
  const { ksize, bounds, kk } = vert;
  const shift = needH ? yFirst : 0;
  const stride = w * C;
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]! - shift, n = bounds[yy * 2 + 1]!, k0 = yy * ksize;
    for (let i = 0; i < stride; i++) {
      let ss = 1 << (PRECISION_BITS - 1);
      for (let y = 0; y < n; y++) ss += img[(y + ymin) * stride + i]! * kk[k0 + y]!;
      out[yy * stride + i] = clip8(ss);
    }
  }
  return out;
}
