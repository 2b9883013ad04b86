/**
 * Released Hugging Face vision towers on the toolkit's device: MLCD's `MLCDVisionModel` (a
 * CLIP-style ViT with 2D RoPE) and CLIP vision models read from a local model directory
 * (config.json, preprocessor_config.json, safetensors shards in F32/F16/BF16), the CLIP image
 * processor with PIL-exact bicubic resizing, the memory check, and writing a fine-tuned model
 * back in the same layout.
 *
 * @example Embed images with a released model
 * ```ts ignore
 * import { loadHfModel } from "./mod.ts";
 * const model = await loadHfModel(gpu, "models/mlcd-vit-bigG-patch14-448");
 * const row = await model.transform(await Deno.readFile("cat.jpg"), { size: model.inputSize });
 * ```
 *
 * @module
 */
export * from "./hf_config.ts";
export * from "./preprocessor_config.ts";
export * from "./pil_resize.ts";
export * from "./preprocess.ts";
export * from "./safetensors_file.ts";
export * from "./hf_weights.ts";
export * from "./memory.ts";
export * from "./vision_forward.ts";
export * from "./load_hf_model.ts";
export * from "./init_hf_weights.ts";
export * from "./vision_reference.ts";
export * from "./save_hf_model.ts";
