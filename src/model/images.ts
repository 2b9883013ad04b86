// Image decoding for the `cnn` encoder: the one file that imports sharp.
import sharp from "npm:sharp@0.35.5";
import type { Matrix } from "../matrix/matrix.ts";

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
