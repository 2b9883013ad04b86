// `--device`: the one flag definition every GPU command shares, for one GPU per task on a
// multi-GPU node (createGpu({ device }); docs/multi-gpu.md).
import type { CreateGpuOptions } from "../gpu/gpu.ts";
import { UsageError } from "./_cli.ts";

/** The parseArgs option of `--device`. */
export const DEVICE_FLAG_OPTIONS = { device: { type: "string" } } as const;

/** Help line of `--device`, aligned at `column` (the command's help column). */
export function deviceHelp(column: number): string {
  const text = [
    "the GPU on a multi-GPU node: an index (nvidia-smi's order), a PCI address",
    "or a GPU-… UUID; list prints them (default: MLCD_DEVICE, then Slurm's",
    "SLURM_STEP_GPUS/SLURM_JOB_GPUS, then CUDA_VISIBLE_DEVICES)",
  ];
  const pad = " ".repeat(column);
  return ("  --device D").padEnd(column) + text.join(`\n${pad}`);
}

/** The createGpu() options of `--device` (none when absent); an empty value is refused. */
export function gpuOptions(v: { device?: string | undefined }): CreateGpuOptions {
  if (v.device === undefined) return {};
  const device = v.device.trim();
  if (device === "") throw new UsageError("Expected --device to name a GPU but found nothing");
  return { device };
}
