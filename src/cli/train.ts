// deno task train: cluster → assign → train an encoder with the MLCD loss; checkpoints and
// a JSONL log in the run directory; --resume continues a killed run exactly.
import { createGpu, type Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { openRunDir, type RunDir } from "../train/run_dir.ts";
import { train, type TrainData, type TrainProgress } from "../train/trainer.ts";
import { isImageInput } from "./_data_source.ts";
import { prepareImageTraining } from "./_train_images.ts";
import { prepareVectorTraining } from "./_train_vectors.ts";
import { TRAIN_HELP, trainFlags } from "./_train_flags.ts";
import {
  checkModelFlag,
  checkTrainModelFlags,
  loadModelFlag,
  modelTransform,
  saveModelFlag,
} from "./_hf.ts";
import { formatSeconds, logTo, progress, runCli, UsageError } from "./_cli.ts";

/**
 * `deno task train`'s entry point, callable in-process (tests count its GPU uploads).
 *
 * @param args Command-line arguments (see `--help`).
 * @param options `gpu`: run on this GPU context instead of creating one (it is not destroyed).
 * @returns When the run is done.
 *
 * @example Usage
 * ```ts ignore
 * await main(["--data", "mnist", "--run-dir", "runs/a", "--epochs", "1"], { gpu });
 * ```
 */
export async function main(args: string[], options: { gpu?: Gpu } = {}): Promise<void> {
  const flags = await trainFlags(args);
  if (flags.help) {
    console.log(TRAIN_HELP);
    return;
  }
  // Everything is validated before anything is written: flags, run dir, inputs, labels.
  const run = await openRunDir(flags.runDir, {
    resume: flags.resume,
    extend: flags.extend,
    overwrite: flags.overwrite,
    config: flags.config,
    sources: flags.sources,
    ...(flags.configFile !== undefined ? { inputs: [flags.configFile] } : {}),
  });
  const model = await checkTrainModelFlags(run, flags.saveHf);
  const gpu = options.gpu ?? await createGpu(flags.gpu);
  progress(`train: GPU ${gpu.info.description}`);
  const fit = { trainLayers: run.config.trainLayers, batchSize: run.config.batchSize };
  if (model) await checkModelFlag(gpu, model, fit);
  const t0 = performance.now();
  const prepared = await prepare(gpu, run);
  // Validation done: now the run dir may change.
  await run.begin({ ...(prepared.write ? { write: prepared.write } : {}), onLog: logTo("train") });
  if (!run.resume && prepared.write && run.sources.labels === null) {
    progress(`assign: top-${run.config.l} centers per sample → ${run.dir}/labels.safetensors`);
  }
  const hf = model ? await loadModelFlag(gpu, model, "train", fit) : undefined;
  if (run.extended) {
    progress(
      `train: training ${run.dir} further, to ${run.config.epochs} epochs (the learning rate follows the cosine decay over the new total)`,
    );
  }
  const result = await train(gpu, prepared.data, run.config, {
    runDir: run.dir,
    resume: run.hasCheckpoint,
    // run.json's epochs exceed the checkpoint's after --extend (also when that extension
    // stopped before its first checkpoint and is resumed without --extend).
    extend: run.resume,
    // The library's warnings name its keys; the user typed flags.
    onLog: (m) => progress(`train: ${m.replaceAll("warmupSteps", "--warmup-steps")}`),
    onStep: stepLog(run.config.epochs),
    onCheckpoint: (m) => progress(`train: checkpoint step ${m.step} → ${run.dir}/${m.file}`),
    ...(hf ? { encoder: hf.encoder } : {}),
  });
  const summary = {
    runDir: run.dir,
    step: result.step,
    finalLoss: result.finalLoss,
    checkpoint: `${run.dir}/checkpoint.json`,
    seconds: (performance.now() - t0) / 1000,
  };
  progress(`train: done, ${result.step} steps, checkpoint ${summary.checkpoint}`);
  if (hf && flags.saveHf !== undefined) await saveModelFlag(hf, flags.saveHf, "train");
  if (flags.json) console.log(JSON.stringify(summary));
  result.encoder.dispose();
  result.centers.dispose();
  prepared.resident?.destroy();
  if (!options.gpu) gpu.destroy();
}

/** The training data: images stream through the loader, vectors stay on the GPU. */
async function prepare(gpu: Gpu, run: RunDir): Promise<{
  data: TrainData;
  resident?: GpuMatrix;
  write?: () => Promise<void>;
}> {
  const { config, sources } = run;
  if (!(await isImageInput(sources.data, config.encoder))) {
    if (sources.model) {
      throw new UsageError("Expected image folders or shards as --data with --model");
    }
    return await prepareVectorTraining(gpu, run);
  }
  // Images (WebDataset shards or folders) stream through the loader, labels join by key.
  const prepared = await prepareImageTraining(gpu, sources.data, config, {
    runDir: run.dir,
    ...(sources.labels !== null ? { labels: sources.labels } : {}),
    resume: run.resume,
    ...(sources.limit !== null ? { limit: sources.limit } : {}),
    imageSize: config.imageSize,
    ...(sources.model ? { transform: await modelTransform(sources.model) } : {}),
  });
  await run.checkCheckpointFits(prepared.n, prepared.data.inputShape);
  return prepared;
}

/** A progress line at most once a second, and at the last step. */
function stepLog(epochs: number): (p: TrainProgress) => void {
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (now - last > 1000 || p.step === p.totalSteps) {
      last = now;
      progress(
        `train: step ${p.step}/${p.totalSteps} epoch ${p.epoch}/${epochs} loss ${
          p.loss.toFixed(4)
        } lr ${p.lr.toExponential(2)} ${p.samplesPerSec.toFixed(0)} samples/s ETA ${
          formatSeconds(p.etaSec)
        }`,
      );
    }
  };
}

if (import.meta.main) await runCli("train", main);
