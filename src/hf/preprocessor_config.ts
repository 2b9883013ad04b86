// preprocessor_config.json of a CLIP-style image processor (CLIPImageProcessor, also what the
// MLCD models ship): resize, centre crop, rescale, normalise.

/** What a CLIP image processor does to an image, from `preprocessor_config.json`. */
export interface HfPreprocessor {
  /** Resize first. */
  doResize: boolean;
  /**
   * The resize target: the shortest edge (aspect ratio kept, `{"shortest_edge"}` or a bare
   * integer) or an exact `{height, width}`.
   */
  size: { shortestEdge: number } | { height: number; width: number };
  /** PIL resampling filter (`resample` 3 = bicubic, 2 = bilinear). */
  resample: "bicubic" | "bilinear";
  /** Centre-crop after resizing. */
  doCenterCrop: boolean;
  /** The crop (`crop_size`: an integer or `{height, width}`). */
  cropSize: { height: number; width: number };
  /** Multiply by `rescaleFactor`. */
  doRescale: boolean;
  /** Usually 1/255. */
  rescaleFactor: number;
  /** Subtract `imageMean` and divide by `imageStd` per channel. */
  doNormalize: boolean;
  /** Per-channel mean (RGB). */
  imageMean: [number, number, number];
  /** Per-channel standard deviation (RGB). */
  imageStd: [number, number, number];
  /** The file as read (written back unchanged by `saveHfModel`). */
  raw: Record<string, unknown>;
}

/** OpenAI CLIP's mean, the processor's default. */
const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
/** OpenAI CLIP's standard deviation, the processor's default. */
const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/**
 * Parses `preprocessor_config.json` with the CLIPImageProcessor defaults for absent keys;
 * `size` and `crop_size` may be integers or objects, as transformers accepts them.
 *
 * @param json The parsed file.
 * @param file The path, for messages.
 * @returns The preprocessing.
 * @throws {TypeError} For a malformed value or an unsupported resampling filter.
 *
 * @example Usage
 * ```ts
 * import { parsePreprocessorConfig } from "./preprocessor_config.ts";
 * const p = parsePreprocessorConfig({ size: 336, crop_size: 336 }, "preprocessor_config.json");
 * console.log(p.size, p.cropSize); // { shortestEdge: 336 } { height: 336, width: 336 }
 * ```
 */
export function parsePreprocessorConfig(json: unknown, file: string): HfPreprocessor {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TypeError(`Cannot read ${file}: expected a JSON object`);
  }
  const j = json as Record<string, unknown>;
  const bad = (key: string, want: string) =>
    new TypeError(
      `Cannot load ${file}: expected ${key} to be ${want} but found ${JSON.stringify(j[key])}`,
    );
  const posInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1;
  const bool = (key: string, d: boolean): boolean => {
    const v = j[key] ?? d;
    if (typeof v !== "boolean") throw bad(key, "true or false");
    return v;
  };
  // transformers' get_size_dict: an integer is the shortest edge for `size`, a square crop
  // for `crop_size`; [h, w] lists are {height, width}.
  const hw = (key: string, v: unknown): { height: number; width: number } | null => {
    if (Array.isArray(v) && v.length === 2 && posInt(v[0]) && posInt(v[1])) {
      return { height: v[0] as number, width: v[1] as number };
    }
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (posInt(o.height) && posInt(o.width)) {
        return { height: o.height as number, width: o.width as number };
      }
    }
    if (v !== undefined && !posInt(v) && !(typeof v === "object" && v !== null)) {
      throw bad(key, "an integer or {height, width}");
    }
    return null;
  };
  const sizeRaw = j.size ?? { shortest_edge: 224 };
  let size: HfPreprocessor["size"];
  if (posInt(sizeRaw)) size = { shortestEdge: sizeRaw as number };
  else if (
    typeof sizeRaw === "object" && sizeRaw !== null &&
    posInt((sizeRaw as Record<string, unknown>).shortest_edge)
  ) {
    size = { shortestEdge: (sizeRaw as Record<string, number>).shortest_edge! };
  } else {
    const s = hw("size", sizeRaw);
    if (!s) throw bad("size", 'an integer, {"shortest_edge"} or {"height", "width"}');
    size = s;
  }
  const cropRaw = j.crop_size ?? { height: 224, width: 224 };
  const cropSize = posInt(cropRaw)
    ? { height: cropRaw as number, width: cropRaw as number }
    : hw("crop_size", cropRaw);
  if (!cropSize) throw bad("crop_size", 'an integer or {"height", "width"}');
  const resampleRaw = j.resample ?? 3;
  if (resampleRaw !== 3 && resampleRaw !== 2) {
    throw new TypeError(
      `Cannot load ${file}: resample ${
        JSON.stringify(resampleRaw)
      } is not supported (3 = bicubic or 2 = bilinear)`,
    );
  }
  const triple = (key: string, d: [number, number, number]): [number, number, number] => {
    let v = j[key] ?? d;
    if (typeof v === "number") v = [v, v, v];
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== "number")) {
      throw bad(key, "three numbers");
    }
    return v as [number, number, number];
  };
  const rescaleFactor = j.rescale_factor ?? 1 / 255;
  if (typeof rescaleFactor !== "number" || !Number.isFinite(rescaleFactor)) {
    throw bad("rescale_factor", "a number");
  }
  const std = triple("image_std", CLIP_STD);
  if (std.some((s) => s === 0)) throw bad("image_std", "non-zero");
  return {
    doResize: bool("do_resize", true),
    size,
    resample: resampleRaw === 3 ? "bicubic" : "bilinear",
    doCenterCrop: bool("do_center_crop", true),
    cropSize,
    doRescale: bool("do_rescale", true),
    rescaleFactor,
    doNormalize: bool("do_normalize", true),
    imageMean: triple("image_mean", CLIP_MEAN),
    imageStd: std,
    raw: structuredClone(j),
  };
}

/**
 * The side of the square images a processor produces, or an error when its output is not a
 * fixed square (the encoder batches square images of one size).
 *
 * @param p The preprocessing.
 * @param file The config's path, for the message.
 * @returns The output side in pixels.
 * @throws {RangeError} When the output size varies or is not square.
 *
 * @example Usage
 * ```ts
 * import { parsePreprocessorConfig, preprocessorSide } from "./preprocessor_config.ts";
 * console.log(preprocessorSide(parsePreprocessorConfig({ crop_size: 448 }, "p.json"), "p.json")); // 448
 * ```
 */
export function preprocessorSide(p: HfPreprocessor, file: string): number {
  let h: number, w: number;
  if (p.doCenterCrop) ({ height: h, width: w } = p.cropSize);
  else if (p.doResize && "height" in p.size) ({ height: h, width: w } = p.size);
  else {
    throw new RangeError(
      `Cannot use ${file}: without a centre crop or a {height, width} resize the images have no fixed size`,
    );
  }
  if (h !== w) {
    throw new RangeError(
      `Cannot use ${file}: the processor makes ${h}×${w} images; only square images are supported`,
    );
  }
  return h;
}
