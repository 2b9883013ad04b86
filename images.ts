/**
 * Image inputs: folders of images and WebDataset shards (`.tar`, brace patterns), indexed,
 * decoded and augmented in a prefetching pool (for `./train`'s `imageTrainStream`), and
 * decoded whole for embedding. npm: `sharp` (libvips) and `tar-stream`.
 *
 * @example Index a folder of images
 * ```ts ignore
 * import { indexImages } from "./images.ts";
 * const index = await indexImages(["photos/"]);
 * console.log(index.keys.length);
 * ```
 *
 * @module
 */
export {
  CLIP_MEAN,
  CLIP_STD,
  type DecodedImages,
  decodeImages,
  type DecodeImagesOptions,
  IMAGE_EXTENSIONS,
  listImages,
  transformImage,
  type TransformImageOptions,
} from "./src/model/images.ts";
export {
  listShards,
  readShard,
  type ReadShardOptions,
  type WebDatasetError,
  type WebDatasetSample,
  writeShard,
} from "./src/data/webdataset.ts";
export * from "./src/data/image_loader.ts";
