/**
 * MLCD's released encoders and CLIP vision towers in the Hugging Face layout: read a local model
 * directory (`config.json`, `preprocessor_config.json`, `model.safetensors` or its shards, F32,
 * F16 or BF16), build the encoder in tfjs on the toolkit's WebGPU device, preprocess images as
 * the processor says (Pillow's bicubic, bit for bit), and save a fine-tuned model back in the
 * same layout. npm: tfjs, `sharp`.
 *
 * @example Plan the memory of a released model
 * ```ts ignore
 * import { createGpu } from "./mod.ts";
 * import { inspectHfModel } from "./hf.ts";
 * const gpu = await createGpu();
 * const { plan } = await inspectHfModel(gpu, "models/mlcd-vit-large-patch14-336", {});
 * console.log(plan);
 * ```
 *
 * @module
 */
export * from "./src/hf/mod.ts";
