// The public API convention (README "API convention"), checked where it can be mechanically:
// one options object after the data and no positional counts (from `deno doc --json` of every
// entry point in deno.json's exports), TypeError for widths that differ between inputs,
// RangeError for values out of their set, messages naming the function's own parameter, and
// no internals exported from any entry point.
import assert from "node:assert/strict";
import * as core from "../mod.ts";
import * as ann from "../ann.ts";
import * as data from "../data.ts";
import * as evaluation from "../eval.ts";
import * as hf from "../hf.ts";
import * as images from "../images.ts";
import * as mnist from "../mnist.ts";
import * as parquet from "../parquet.ts";
import * as model from "../model.ts";
import * as report from "../report.ts";
import * as training from "../train.ts";
import type { HnswIndex } from "../src/ann/hnsw.ts";
import type { RowSource } from "../src/data/row_source.ts";
import { randomMatrix, randomPositives, testGpu } from "./_gpu.ts";

const ROOT = new URL("../", import.meta.url);

/** Every entry point's module, by its deno.json export. */
const ENTRIES: Record<string, Record<string, unknown>> = {
  ".": core,
  "./ann": ann,
  "./data": data,
  "./eval": evaluation,
  "./hf": hf,
  "./images": images,
  "./mnist": mnist,
  "./model": model,
  "./parquet": parquet,
  "./report": report,
  "./train": training,
};
/** The whole public API: every entry point's exports in one namespace. */
const mod = {
  ...core,
  ...ann,
  ...data,
  ...evaluation,
  ...hf,
  ...images,
  ...mnist,
  ...model,
  ...parquet,
  ...report,
  ...training,
};

/** Internals that mod.ts must not export (each one was exported before the convention). */
const INTERNALS = [
  "autoTopkVariant",
  "registerRows",
  "topkRegisterRows",
  "topkTiledPlan",
  "topkTiledPasses",
  "topkTiledSearch",
  "topkRegistersPlan",
  "topkRegistersDispatches",
  "topkRegistersSearch",
  "uploadTopkKeyBlocks",
  "checkTopkKeysOptions",
  "checkTopkK",
  "checkTopkRows",
  "checkGpuMatrixLayout",
  "gpuMatrixBytesPer",
  "checkRowIndex",
  "tfQuirks",
  "topkKeysPerDispatch",
  "topkKeysPerBlock",
  "topkRegistersProgram",
  "topkTiledProgram",
  "topkMergeProgram",
  "STORAGE_USAGE",
  "finishProfile",
  "checkMatrix",
  "checkFinite",
  "checkRows",
  "atomicPath",
  "removeStaleTemps",
  "npyMatrixShape",
  "readNpyFileHeader",
  "readNpyRows",
  "scanArrowEmbeddings",
  "expandBraces",
  "isShardInput",
  "buildVit",
  "vitParamShapes",
  "vitDecays",
  "bilinearWeights",
  "validateVitShape",
  "VIT_LAYER_NORM_EPS",
  "randomResizedCropBox",
  "encodePng",
  "sha256Hex",
  "MANIFEST_NAME",
  "parseConfigValue",
  "TRAIN_CONFIG_HELP",
  "joinLabels",
  "learningRate",
  "mulberry32",
  "sampleIndices",
  "mixSeed",
  "permutation",
  "Rng",
  "ensureRuntimeDir",
  "pipelineCacheSize",
  "HNSW_MISSING_MESSAGE",
  "checkOptionsObject",
  "isCosine",
  "loadArrow",
  "tensorBuffer",
  "tfOnCpuAdapter",
];

Deno.test("no entry point exports the toolkit's internals", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assert.deepEqual(Object.keys(config.exports).sort(), Object.keys(ENTRIES).sort());
  for (const [entry, m] of Object.entries(ENTRIES)) {
    const leaked = INTERNALS.filter((name) => name in m);
    assert.deepEqual(leaked, [], `${entry} exports internals: ${leaked.join(", ")}`);
  }
  // ...and still the public API the README lists, each name from its entry point.
  const homes: Record<string, string[]> = {
    ".": ["createGpu", "kmeans", "topk", "assignLabels", "writeLabels", "mlcdLoss", "pseudoLabels"],
    "./data": ["readNpy", "writeNpy", "readEmbeddings", "streamEmbeddings", "writeArrowLabels"],
    "./eval": ["knnTop1", "linearProbe", "evaluateFeatures", "nmi"],
    "./model": ["createEncoder", "embed"],
    "./train": ["train", "resolveTrainConfig", "loadEncoder", "mlcdLossTf", "mlcdLossOp"],
    "./images": ["indexImages", "decodeImages", "readShard"],
    "./report": ["renderRunReport", "renderVegaLiteSvg"],
    "./ann": ["annTopk", "buildHnswIndex"],
    "./mnist": ["loadMnist"],
  };
  for (const [entry, names] of Object.entries(homes)) {
    for (const name of names) assert.ok(name in ENTRIES[entry]!, `${entry} lost ${name}`);
  }
});

// ---- rule 1, from the documentation of mod.ts ----

interface DocType {
  repr?: string;
  kind?: string;
}
interface DocParam {
  kind: string;
  name?: string;
  tsType?: DocType;
  left?: DocParam;
  arg?: DocParam;
}
interface DocSymbol {
  name: string;
  declarations: { kind: string; def?: { params?: DocParam[] } }[];
}

/**
 * Low-level GPU and matrix building blocks that keep WebGPU's positional style (sizes of
 * buffers and dispatches) and the Matrix constructor.
 */
const POSITIONAL_ALLOWED = new Set<string>([
  "matrix", // matrix(data, rows, cols): the Matrix constructor
  "readF32", // readF32(gpu, buffer, count): a buffer read of count values
  "readU32",
  "createGpuMatrix", // createGpuMatrix(gpu, rows, cols, ...): a buffer allocation
  "rowsPerBinding", // rowsPerBinding(gpu, cols, ...): a binding-size computation
  "workgroupsFor", // workgroupsFor(program, count, ...): a dispatch size
  "foldDispatch",
]);

/** Functions that take a config object besides their options (the README says why). */
const TWO_OBJECTS_ALLOWED = new Set<string>([
  "train", // train(gpu, data, config, options): the run's hyperparameters, then how to run
]);

/** Parameter names that are counts; a count must be a named option, never positional. */
const COUNT_NAMES = new Set([
  "k",
  "l",
  "n",
  "C",
  "classes",
  "count",
  "index",
  "m",
  "ks",
  "rows",
  "cols",
  "ratio",
  "seed",
]);

function identifier(p: DocParam): DocParam {
  if (p.kind === "assign" && p.left) return identifier(p.left);
  if (p.kind === "rest" && p.arg) return identifier(p.arg);
  return p;
}

/** An options parameter: a `...Options` or `...Config` type, or any parameter named `options`. */
function isOptionsObject(p: DocParam): boolean {
  const id = identifier(p);
  return /(Options|Config)$/.test(id.tsType?.repr ?? "") || id.name === "options";
}

Deno.test("every function an entry point exports takes one options object, last, and no positional count", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...Object.values(config.exports as Record<string, string>)],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const symbols: DocSymbol[] = Object.values(
    doc.nodes as Record<string, { symbols: DocSymbol[] }>,
  ).flatMap((m) => m.symbols);
  const problems: string[] = [];
  let functions = 0;
  for (const s of symbols) {
    for (const d of s.declarations) {
      if (d.kind !== "function") continue;
      functions++;
      const params = (d.def?.params ?? []).map(identifier);
      const objects = params.map((p, i) => isOptionsObject(p) ? i : -1).filter((i) => i >= 0);
      if (objects.length > 1 && !TWO_OBJECTS_ALLOWED.has(s.name)) {
        problems.push(`${s.name}: ${objects.length} options objects`);
      }
      if (objects.length > 0 && objects.at(-1) !== params.length - 1) {
        problems.push(`${s.name}: the options object is not the last parameter`);
      }
      for (const p of params) {
        if (
          p.tsType?.repr === "number" && COUNT_NAMES.has(p.name ?? "") &&
          !POSITIONAL_ALLOWED.has(s.name)
        ) {
          problems.push(`${s.name}: positional count ${p.name}`);
        }
      }
    }
  }
  assert.ok(functions > 50, `only ${functions} functions documented`);
  assert.deepEqual(problems, []);
});

Deno.test("a positional count where the options go is a TypeError showing the new form", async () => {
  const gpu = await testGpu();
  const q = randomMatrix(3, 4, 1), keys = randomMatrix(9, 4, 2);
  const positional = (fn: string, example = "{ k: 8 }") => ({
    name: "TypeError",
    message: `Expected the options of ${fn}() to be an object such as ${example} but found 5`,
  });
  // @ts-expect-error: the old form topk(gpu, queries, keys, k)
  await assert.rejects(() => mod.topk(gpu, q, keys, 5), positional("topk"));
  const index = mod.uploadTopkKeys(gpu, keys);
  try {
    // @ts-expect-error: the old form search(queries, k)
    await assert.rejects(() => index.search(q, 5), positional("search"));
  } finally {
    index.destroy();
  }
  const fakeIndex = { rows: 9, cols: 4, metric: "cosine" } as unknown as HnswIndex;
  // @ts-expect-error: the old form annTopk(index, queries, k)
  assert.throws(() => mod.annTopk(fakeIndex, q, 5), positional("annTopk"));
  // @ts-expect-error: the old form recallAtK(approx, exact, n, k)
  assert.throws(() => mod.recallAtK(new Uint32Array(2), new Uint32Array(2), 5, 1), {
    name: "TypeError",
    message: /^Expected the options of recallAtK\(\)/,
  });
  assert.throws(
    // @ts-expect-error: the old form clusterSizes(assignments, k)
    () => mod.clusterSizes(new Uint32Array(2), 5),
    positional("clusterSizes", "{ k: 100 }"),
  );
  const positives = new Uint32Array([0, 1, 2]);
  await assert.rejects(
    // @ts-expect-error: the old form mlcdLoss(gpu, { embeddings, centers, positives })
    () => mod.mlcdLoss(gpu, { embeddings: q, centers: keys, positives }),
    {
      name: "TypeError",
      message:
        /^Expected mlcdLoss\(gpu, embeddings, centers, positives, options\) but found one object/,
    },
  );
  // @ts-expect-error: a scale where the options go
  await assert.rejects(() => mod.mlcdLoss(gpu, q, keys, positives, 64), {
    name: "TypeError",
    message: /^Expected the options of mlcdLoss\(\) to be an object/,
  });
  const source = { slices: [], rows: 0, cols: 1, globalStart: 0 } as unknown as RowSource;
  // @ts-expect-error: the old form partOf(source, index, count)
  assert.throws(() => mod.partOf(source, 5, 8), positional("partOf", "{ index: 0, count: 4 }"));
});

// ---- rule 5 ----

Deno.test("knnTop1() validates its own k, with its own message (no top-k limit leaks)", async () => {
  const gpu = await testGpu();
  const train = { x: randomMatrix(120, 4, 1), y: new Uint8Array(120) };
  const test = { x: randomMatrix(5, 4, 2), y: new Uint8Array(5) };
  for (const k of [100, 0, 2.5]) {
    await assert.rejects(() => mod.knnTop1(gpu, train, test, { k }), {
      name: "RangeError",
      message:
        `Expected knnTop1's k (neighbours that vote) to be an integer in [1, 64] but found ${k}`,
    });
  }
  await assert.rejects(() =>
    mod.retrievalRecall(gpu, test.x, train.x, {
      relevant: () => true,
      ks: [1, 100],
    }), {
    name: "RangeError",
    message: "Expected retrievalRecall's ks to be integers in [1, 64] but found [1,100]",
  });
});

Deno.test("a width that differs between two inputs is a TypeError everywhere", async () => {
  const gpu = await testGpu();
  const x4 = randomMatrix(12, 4, 1), c5 = randomMatrix(3, 5, 2);
  const typeError = { name: "TypeError" };
  await assert.rejects(() => mod.topk(gpu, x4, c5, { k: 2 }), typeError);
  await assert.rejects(() => mod.assignLabels(gpu, x4, c5, { l: 2 }), typeError);
  await assert.rejects(() => mod.assignNearest(gpu, x4, c5), typeError);
  await assert.rejects(() => mod.kmeans(gpu, x4, { k: 3, init: c5 }), {
    name: "TypeError",
    message: "Expected init to be 3 × 4 centroids but found 3 × 5",
  });
  await assert.rejects(
    () => mod.mlcdLoss(gpu, x4, c5, randomPositives(12, 2, 3, 3)),
    {
      name: "TypeError",
      message: "Expected centers to have 4 columns like embeddings but found 5",
    },
  );
  const labels = new Uint8Array(12);
  await assert.rejects(
    () =>
      mod.knnTop1(gpu, { x: x4, y: labels }, {
        x: randomMatrix(3, 5, 4),
        y: labels.subarray(0, 3),
      }),
    typeError,
  );
  await assert.rejects(() => mod.retrievalRecall(gpu, x4, c5, { relevant: () => true }), typeError);
});

Deno.test("a similarity outside its set is a RangeError; k-means' removed spherical is a TypeError", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(12, 4, 1);
  await assert.rejects(
    // @ts-expect-error: "l2" is a k-means metric, not a search metric
    () => mod.topk(gpu, x, x, { k: 2, metric: "l2" }),
    { name: "RangeError", message: 'Expected metric to be "cosine" or "ip" but found l2' },
  );
  await assert.rejects(
    // @ts-expect-error: "ip" is a search metric, not a k-means metric
    () => mod.kmeans(gpu, x, { k: 2, metric: "ip" }),
    {
      name: "RangeError",
      message: 'Expected kmeans() metric to be "cosine" or "l2" but found "ip"',
    },
  );
  await assert.rejects(
    // @ts-expect-error: spherical was replaced by metric
    () => mod.kmeans(gpu, x, { k: 2, spherical: false }),
    {
      name: "TypeError",
      message:
        'Expected kmeans() options to use metric: "cosine" | "l2" (spherical was removed) but found spherical: false',
    },
  );
  // metric: "l2" is plain k-means: an all-zero row is fine there, not under cosine.
  const zero = { data: new Float32Array(12 * 4), rows: 12, cols: 4 };
  zero.data.set(x.data.subarray(4));
  const l2 = await mod.kmeans(gpu, zero, { k: 2, niter: 1, metric: "l2" });
  assert.equal(l2.assignments.length, 12);
  await assert.rejects(() => mod.kmeans(gpu, zero, { k: 2, niter: 1 }), { name: "RangeError" });
});

// ---- rule 3 ----

Deno.test("nearest lists are { indices, scores } and hard assignments are assignments", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(40, 6, 1);
  const pl = await mod.pseudoLabels(gpu, x, { classes: 5, l: 3, niter: 2 });
  const want = await mod.topk(gpu, x, pl.centroids, { k: 3 });
  assert.deepEqual(pl.indices, want.indices);
  assert.deepEqual(pl.scores, want.scores);
  assert.equal(pl.assignments.length, 40);
  const a = await mod.assignLabels(gpu, x, pl.centroids, { l: 3 });
  assert.deepEqual(a.indices, want.indices);
  // Besides the lists: their size, the search that ran and its recall check (null here).
  assert.deepEqual(Object.keys(a).sort(), ["indices", "l", "recall", "rows", "scores", "search"]);
});

Deno.test("empty input and out-of-set elements are RangeErrors; the wrong kind of thing is a TypeError", async () => {
  const gpu = await testGpu();
  await assert.rejects(() => mod.kmeans(gpu, [], { k: 1 }), {
    name: "RangeError",
    message: "Expected x to list embedding files or directories but found an empty list",
  });
  // @ts-expect-error: a number is not a path
  await assert.rejects(() => mod.kmeans(gpu, [3], { k: 1 }), { name: "TypeError" });
  assert.throws(() => mod.resolveTrainConfig({ hidden: [64, 0] }), {
    name: "RangeError",
    message: "Expected hidden to be an array of positive integers but found [64,0]",
  });
  assert.throws(() => mod.resolveTrainConfig({ hidden: "64" }), { name: "TypeError" });
  assert.throws(
    () => mod.createEncoder({ kind: "head", inputShape: [0], embedDim: 2 }, { seed: 1 }),
    {
      name: "RangeError",
      message: "Expected inputShape to be an array of positive integers but found [0]",
    },
  );
});
