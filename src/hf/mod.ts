/**
 * Released Hugging Face vision towers on the toolkit's device: MLCD's `MLCDVisionModel` (a
 * CLIP-style ViT with 2D RoPE) and CLIP vision models read from a local model directory
 * (config.json, preprocessor_config.json, safetensors shards in F32/F16/BF16), the CLIP image
 * processor with PIL-exact bicubic resizing, the memory check, and writing a fine-tuned model
 * back in the same layout.
 *
 * @example Embed images with a released model
 * ```ts ignore
 * import { loadHfModel } from "./mod.ts"; // the package's "./hf" entry
 * const model = await loadHfModel(gpu, "models/mlcd-vit-bigG-patch14-448");
 * const row = await model.transform(await Deno.readFile("cat.jpg"), { size: model.inputSize });
 * ```
 *
 * @module
 */
export {
  type HfActivation,
  hfParamShapes,
  type HfVisionKind,
  type HfVisionSpec,
  parseHfVisionSpec,
  readHfVisionSpec,
} from "./hf_config.ts";
export {
  type HfPreprocessor,
  parsePreprocessorConfig,
  preprocessorSide,
} from "./preprocessor_config.ts";
export { type PilFilter, type PixelImage, resizePil, type ResizePilOptions } from "./pil_resize.ts";
export { hfImageTransform, type ImageTransform, preprocessRgb } from "./preprocess.ts";
export { type HfWeightRef, listHfWeights } from "./hf_weights.ts";
export {
  checkHfFits,
  type CheckHfFitsOptions,
  type HfMemoryPlan,
  hfMemoryPlan,
  type HfMemoryPlanOptions,
} from "./memory.ts";
export { hfVisionForward, type HfVisionForwardOptions } from "./vision_forward.ts";
export {
  createHfModel,
  type CreateHfModelOptions,
  type HfModel,
  type HfModelInspection,
  inspectHfModel,
  loadHfModel,
  type LoadHfModelOptions,
} from "./load_hf_model.ts";
export { initHfWeights, type InitHfWeightsOptions } from "./init_hf_weights.ts";
export { hfVisionReference, type HostWeights } from "./vision_reference.ts";
export { type SavableHfModel, saveHfModel, type SaveHfModelOptions } from "./save_hf_model.ts";
