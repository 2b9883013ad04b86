// Image decoding for the `cnn` encoder: the one file that imports sharp, on first use (so that
// a command whose inputs are not images never loads its native addon: a `deno compile`
// executable cannot, see README "Install").
import type { Matrix } from "../matrix/matrix.ts";

type Sharp = typeof import("npm:sharp@0.35.5").default;
let sharpModule: Promise<Sharp> | undefined;

/** sharp, imported on the first call; when its native addon cannot load, one line says why. */
function loadSharp(): Promise<Sharp> {
  return sharpModule ??= import("npm:sharp@0.35.5").then((m) => m.default, (e) => {
    sharpModule = undefined;
    const why = String((e as Error)?.message ?? e).split("\n")[0];
    throw new Error(
      Deno.build.standalone
        ? "Cannot decode images in a compiled mlcd executable: sharp's native addon needs " +
          "its libvips library beside it, which deno compile does not extract (use the " +
          "installed mlcd command: deno task install)"
        : `Cannot load sharp, the image decoder (${why}); run deno task setup`,
    );
  });
}

/** File extensions decoded by {@linkcode decodeImages}. */
export const IMAGE_EXTENSIONS: readonly string[] = [".jpg", ".jpeg", ".png", ".webp"];

/** Options of {@linkcode decodeImages}. */
export interface DecodeImagesOptions {
  /** Output side length: images are resized (cover, centre crop) to `size × size`. @default {32} */
  size?: number;
  /** 1 (grey) or 3 (RGB) channels. @default {3} */
  channels?: 1 | 3;
  /** Images decoded at the same time (sharp runs on its own thread pool). @default {8} */
  concurrency?: number;
  /** Called after every decoded image. @default {undefined} */
  onImage?: (done: number, total: number) => void;
}

/** Decoded images as flattened rows. */
export interface DecodedImages {
  /** `files.length × (size·size·channels)` values in [-1, 1], HWC order per row. */
  x: Matrix;
  /** `[size, size, channels]`: the `cnn` encoder's `inputShape`. */
  inputShape: [number, number, number];
  /** The decoded files, in row order (sorted paths). */
  files: string[];
}

/**
 * Lists the jpg/png/webp files under `dir` (recursively, sorted) or returns `paths` as given.
 *
 * @param inputs A directory, or image files.
 * @returns Sorted image paths.
 *
 * @example Usage
 * ```ts ignore
 * const files = await listImages(["photos/"]);
 * ```
 */
export async function listImages(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string) => {
    const st = await Deno.stat(p);
    if (st.isDirectory) {
      for await (const e of Deno.readDir(p)) await walk(`${p}/${e.name}`);
    } else if (IMAGE_EXTENSIONS.some((x) => p.toLowerCase().endsWith(x))) out.push(p);
  };
  for (const i of inputs) await walk(i.replace(/\/+$/, ""));
  return out.sort();
}

/**
 * Decodes, resizes and normalises images with sharp (libvips threads), several at once, so
 * the whole set is ready as one matrix before the GPU starts.
 *
 * @param inputs Image files or directories.
 * @param options See {@linkcode DecodeImagesOptions}.
 * @returns Flattened rows and the input shape.
 * @throws {RangeError} When no image is found; sharp's error (naming the file) for a file it
 * cannot decode.
 *
 * @example Usage
 * ```ts ignore
 * const { x, inputShape } = await decodeImages(["photos/"], { size: 32 });
 * ```
 */
export async function decodeImages(
  inputs: string[],
  options: DecodeImagesOptions = {},
): Promise<DecodedImages> {
  const size = options.size ?? 32, ch = options.channels ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 4096) {
    throw new RangeError(`Expected size to be an integer in [1, 4096] but found ${size}`);
  }
  const files = await listImages(inputs);
  if (files.length === 0) {
    throw new RangeError(`Expected jpg/png/webp images in ${inputs.join(", ")} but found none`);
  }
  const sharp = await loadSharp();
  const per = size * size * ch;
  const data = new Float32Array(files.length * per);
  let next = 0, done = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      let img = sharp(files[i]!).resize(size, size, { fit: "cover" }).removeAlpha();
      img = ch === 1 ? img.grayscale() : img.toColourspace("srgb");
      let raw: Uint8Array;
      try {
        raw = await img.raw().toBuffer();
      } catch (e) {
        throw new TypeError(`Cannot decode image ${files[i]}: ${(e as Error).message}`);
      }
      if (raw.length !== per) {
        throw new TypeError(
          `Cannot decode image ${files[i]}: got ${raw.length} bytes, expected ${per}`,
        );
      }
      for (let j = 0; j < per; j++) data[i * per + j] = raw[j]! / 127.5 - 1;
      options.onImage?.(++done, files.length);
    }
  };
  const n = Math.max(1, Math.min(options.concurrency ?? 8, files.length));
  await Promise.all(Array.from({ length: n }, worker));
  return { x: { data, rows: files.length, cols: per }, inputShape: [size, size, ch], files };
}

/** An image decoded to 8-bit RGB, from {@linkcode decodeRgb}. */
export interface RgbImage {
  /** `height × width × 3` bytes, row-major. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/**
 * Decodes an encoded image to 8-bit RGB the way PIL's `Image.open(f).convert("RGB")` does:
 * grey replicated, alpha dropped, embedded ICC profiles ignored, no EXIF rotation.
 *
 * @param bytes The encoded image (jpg/png/webp…).
 * @returns The pixels and the size.
 * @throws {TypeError} When sharp cannot decode the bytes.
 *
 * @example Usage
 * ```ts ignore
 * const { data, width, height } = await decodeRgb(await Deno.readFile("a.jpg"));
 * ```
 */
export async function decodeRgb(bytes: Uint8Array): Promise<RgbImage> {
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(bytes, { failOn: "error", ignoreIcc: true })
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`got ${info.channels} channels for ${info.width}×${info.height}`);
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
    };
  } catch (e) {
    throw new TypeError(`Cannot decode image: ${(e as Error).message}`);
  }
}

/** CLIP's per-channel RGB mean, used by {@linkcode transformImage}. */
export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
/** CLIP's per-channel RGB standard deviation, used by {@linkcode transformImage}. */
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** Options of {@linkcode transformImage}. */
export interface TransformImageOptions {
  /** Output side length. */
  size: number;
  /** 3 (RGB) or 1 (grey) output channels. @default {3} */
  channels?: 1 | 3;
  /**
   * Training augmentation: a random-resized crop (area in `[minScale, 1]` of the image, aspect
   * ratio in [3/4, 4/3], as torchvision's `RandomResizedCrop`) and a horizontal flip with
   * probability 1/2, drawn from `random`. Absent: resize the shorter side to `size` and crop
   * the centre (evaluation and embedding).
   * @default {undefined}
   */
  augment?: { random: () => number; minScale?: number; flip?: boolean };
}

/**
 * Draws the crop box of a random-resized crop (torchvision's `RandomResizedCrop` rule: ten
 * tries at an area in `[minScale, 1]` and a log-uniform aspect ratio in [3/4, 4/3], then the
 * centred square).
 *
 * @param w Image width.
 * @param h Image height.
 * @param random Uniform [0, 1) source.
 * @param minScale Smallest crop area as a fraction of the image (torchvision: 0.08, too harsh
 * for 28-32 px images). @default {0.35}
 * @returns `[left, top, width, height]`, inside the image.
 *
 * @example Usage
 * ```ts
 * import { randomResizedCropBox } from "./images.ts";
 * const [l, t, w, h] = randomResizedCropBox(100, 80, Math.random);
 * console.log(l + w <= 100 && t + h <= 80); // true
 * ```
 */
export function randomResizedCropBox(
  w: number,
  h: number,
  random: () => number,
  minScale = 0.35,
): [number, number, number, number] {
  const area = w * h;
  const lo = Math.log(3 / 4), hi = Math.log(4 / 3);
  for (let t = 0; t < 10; t++) {
    const target = area * (minScale + (1 - minScale) * random());
    const ratio = Math.exp(lo + (hi - lo) * random());
    const cw = Math.round(Math.sqrt(target * ratio)), ch = Math.round(Math.sqrt(target / ratio));
    if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
      const left = Math.floor(random() * (w - cw + 1)), top = Math.floor(random() * (h - ch + 1));
      return [left, top, cw, ch];
    }
  }
  const s = Math.min(w, h); // fallback: the largest centred square
  return [Math.floor((w - s) / 2), Math.floor((h - s) / 2), s, s];
}

/**
 * Decodes one encoded image (jpg/png/webp…) and turns it into a model input: HWC float32
 * values normalised with CLIP's per-channel mean and std (grey uses the channel averages).
 *
 * @param bytes The encoded image.
 * @param options Size, channels and the optional training augmentation.
 * @returns `size·size·channels` values.
 * @throws {TypeError} When sharp cannot decode the bytes.
 *
 * @example Usage
 * ```ts ignore
 * const x = await transformImage(await Deno.readFile("a.png"), { size: 32 });
 * ```
 */
export async function transformImage(
  bytes: Uint8Array,
  options: TransformImageOptions,
): Promise<Float32Array> {
  const size = options.size, ch = options.channels ?? 3;
  const sharp = await loadSharp();
  let img;
  try {
    img = sharp(bytes, { failOn: "error" });
    if (options.augment) {
      const meta = await sharp(bytes).metadata();
      const w = meta.width ?? 0, h = meta.height ?? 0;
      if (w < 1 || h < 1) throw new Error("image has no size");
      const r = options.augment.random;
      const [left, top, width, height] = randomResizedCropBox(w, h, r, options.augment.minScale);
      img = img.extract({ left, top, width, height }).resize(size, size, { fit: "fill" });
      if (options.augment.flip !== false && r() < 0.5) img = img.flop();
    } else {
      img = img.resize(size, size, { fit: "cover", position: "centre" });
    }
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    const src = info.channels, n = size * size;
    if (data.length !== n * src) throw new Error(`got ${data.length} bytes for ${n}×${src}`);
    const out = new Float32Array(n * ch);
    const grey = src < 3;
    for (let p = 0; p < n; p++) {
      const r = data[p * src]!,
        g = grey ? r : data[p * src + 1]!,
        b = grey ? r : data[p * src + 2]!;
      if (ch === 3) {
        out[p * 3] = (r / 255 - CLIP_MEAN[0]) / CLIP_STD[0];
        out[p * 3 + 1] = (g / 255 - CLIP_MEAN[1]) / CLIP_STD[1];
        out[p * 3 + 2] = (b / 255 - CLIP_MEAN[2]) / CLIP_STD[2];
      } else {
        const y = grey ? r : 0.299 * r + 0.587 * g + 0.114 * b;
        out[p] = (y / 255 - GREY_MEAN) / GREY_STD;
      }
    }
    return out;
  } catch (e) {
    throw new TypeError(`Cannot decode image: ${(e as Error).message}`);
  }
}

const GREY_MEAN = (CLIP_MEAN[0] + CLIP_MEAN[1] + CLIP_MEAN[2]) / 3;
const GREY_STD = (CLIP_STD[0] + CLIP_STD[1] + CLIP_STD[2]) / 3;

/**
 * Encodes raw 8-bit pixels (HWC) as a PNG with sharp: to write image data sets and shards.
 *
 * @param pixels `width·height·channels` bytes.
 * @param width Image width.
 * @param height Image height.
 * @param channels 1 (grey), 3 (RGB) or 4 (RGBA).
 * @returns The PNG file's bytes.
 *
 * @example Usage
 * ```ts ignore
 * const png = await encodePng(new Uint8Array(28 * 28), 28, 28, 1);
 * ```
 */
export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
): Promise<Uint8Array> {
  if (pixels.length !== width * height * channels) {
    throw new TypeError(
      `Expected ${width}×${height}×${channels} = ${
        width * height * channels
      } pixels but found ${pixels.length}`,
    );
  }
  const sharp = await loadSharp();
  const buf = await sharp(pixels, { raw: { width, height, channels } }).png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}
