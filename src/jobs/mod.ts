/**
 * Scale-out jobs: a run split into parts (`i/N`, or `auto` from Slurm or Kubernetes), each
 * part's outputs committed with a manifest through one commit protocol, so that a rerun
 * skips finished work and a killed job is simply resubmitted; the parts a merge reads; and the
 * output-path guards every command checks before its work.
 *
 * @example Run part 0 of 4 as a restartable job
 * ```ts ignore
 * import { checkOutputs, commitOutputs, describeInputs, parsePartSpec } from "./mod.ts";
 * const part = parsePartSpec("0/4", undefined);
 * const key = { kind: "my-part", shard: part, inputs: await describeInputs(files), params: {} };
 * if (await checkOutputs([out], key, { overwrite: false }) === "fresh") {
 *   await commitOutputs([{ path: out, write: (p) => writeNpy(p, data, shape) }], key, {});
 * }
 * ```
 *
 * @module
 */
export * from "./usage_error.ts";
export * from "./part_spec.ts";
export * from "./manifest.ts";
export * from "./commit.ts";
export * from "./parts.ts";
export * from "./job_checkpoint.ts";
export * from "./output_paths.ts";
export * from "./refine_parts.ts";
