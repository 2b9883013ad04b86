// What the commands leave out (issue 22, "Noise"): k-means checkpoint lines of short runs,
// repeated iteration lines after convergence, image-encoder keys in the demo's config line,
// and a part job's refusal that names a parameter instead of the flag typed.
import assert from "node:assert/strict";
import {
  CHECKPOINT_LINE_SECONDS,
  convergedIterations,
  kmeansLog,
} from "../src/cli/_kmeans_progress.ts";
import { closingLines, configLine } from "../src/cli/_demo_lines.ts";
import { resolveTrainConfig } from "../src/train/config.ts";
import { type Manifest, manifestDifference, type ManifestKey } from "../src/jobs/manifest.ts";
import type { KMeansIterationStats } from "../src/kmeans/kmeans_options.ts";
import { TOOLKIT_VERSION } from "../src/version.ts";

Deno.test("kmeansLog drops 'No checkpoint … yet' and keeps a Checkpoint line only every 30 s", () => {
  let t = 0;
  const said: string[] = [];
  const log = kmeansLog((m) => said.push(m), () => t);
  log("No checkpoint at km.ckpt yet: starting from the beginning");
  for (let i = 1; i <= 5; i++) {
    t = i * 100; // a 0.6 s run: five checkpoints, no line
    log(`Checkpoint: run 1/1, ${i} iterations done, in km.ckpt`);
  }
  log("Resuming from km.ckpt at run 1/1, iteration 3");
  assert.deepEqual(said, ["Resuming from km.ckpt at run 1/1, iteration 3"]);
  t = CHECKPOINT_LINE_SECONDS * 1000; // a long run: one line per 30 s
  log("Checkpoint: run 1/1, 6 iterations done, in km.ckpt");
  t += 1000;
  log("Checkpoint: run 1/1, 7 iterations done, in km.ckpt");
  t += CHECKPOINT_LINE_SECONDS * 1000;
  log("Checkpoint: run 1/1, 8 iterations done, in km.ckpt");
  assert.deepEqual(said.slice(1), [
    "Checkpoint: run 1/1, 6 iterations done, in km.ckpt",
    "Checkpoint: run 1/1, 8 iterations done, in km.ckpt",
  ]);
});

Deno.test("convergedIterations says once that the objective stopped changing, and resumes when it changes", () => {
  const stats = (iteration: number, objective: number, nsplit = 0): KMeansIterationStats =>
    ({
      iteration,
      objective,
      time: iteration / 10,
      timeSearch: 0,
      imbalanceFactor: 1,
      nsplit,
      eta: 0,
    }) as KMeansIterationStats;
  const said: string[] = [];
  const on = convergedIterations((l) => said.push(l), "cluster", "cluster");
  const objectives = [1, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4];
  objectives.forEach((o, i) => on(stats(i, o)));
  assert.equal(said.length, 6, said.join("\n"));
  assert.match(said[0]!, /^iter +0 +objective 1\.0+ /);
  assert.match(said[2]!, /^iter +2 +objective 3\.0+ /);
  assert.equal(
    said[3],
    "cluster: converged at iteration 2: the objective stays 3.0000000 (the remaining iterations are not shown)",
  );
  assert.match(said[4]!, /^iter +8 +objective 4\.0+ /);
  assert.match(said[5]!, /^cluster: converged at iteration 8: /);
  // A split that leaves the objective equal is news: shown.
  const split: string[] = [];
  const s = convergedIterations((l) => split.push(l), "cluster", "cluster");
  [stats(0, 5), stats(1, 5, 1), stats(2, 5)].forEach(s);
  assert.equal(split.length, 3);
  assert.match(split[2]!, /^cluster: converged at iteration 1/);
});

Deno.test("the demo's config line names only what applies to the head encoder; next steps are mlcd commands", () => {
  const head = resolveTrainConfig({ encoder: "head", hidden: [512], classes: 100, epochs: 8 });
  const line = configLine(head);
  for (const k of ["patch", "depth", "heads", "channels", "imageSize", "augment", "preset"]) {
    assert.ok(!line.includes(`${k}=`), k);
  }
  for (const k of ["encoder=head", "hidden=512", "classes=100", "l=8", "lr=", "epochs=8"]) {
    assert.ok(line.includes(k), k);
  }
  assert.ok(line.length < JSON.stringify(head).length / 1.5, `${line.length}`);
  const vit = configLine(resolveTrainConfig({ preset: "vit-tiny" }));
  assert.ok(vit.includes("patch=") && vit.includes("depth=") && !vit.includes("hidden="), vit);
  const lines = closingLines(head, {
    nTrain: 3000,
    nTest: 1000,
    quick: true,
    seconds: 60,
    runDir: "runs/demo/mlcd-l8",
    out: "runs/demo",
  });
  assert.ok(
    lines.some((l) =>
      l.endsWith(
        "evaluate it again: mlcd eval --checkpoint runs/demo/mlcd-l8 --data mnist --limit 3000 --test-limit 1000",
      )
    ),
    lines.join("\n"),
  );
  assert.ok(lines.some((l) => l.includes(": mlcd train --data path/to/embeddings/")));
  assert.ok(!lines.some((l) => l.includes("deno task")));
});

Deno.test("manifestDifference names the flag the user typed where the key differs", () => {
  const stored: Manifest = {
    format: "mlcd-manifest",
    kind: "cluster-part",
    toolkit: TOOLKIT_VERSION,
    shard: { index: 3, count: 8 },
    inputs: [],
    params: { k1: 50, niter: 3 },
    outputs: [],
    info: {},
  } as Manifest;
  const want: ManifestKey = {
    kind: "cluster-part",
    shard: { index: 3, count: 8 },
    inputs: [],
    params: { k1: 40, niter: 3 },
    flags: { k1: "--k" },
  };
  assert.equal(manifestDifference(stored, want), "--k 50 ≠ 40");
  const { flags: _, ...bare } = want;
  assert.equal(manifestDifference(stored, bare), "parameter k1 50 ≠ 40");
});
