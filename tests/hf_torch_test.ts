// Hugging Face vision towers against an independent PyTorch implementation
// (tests/hf_reference.py): random weights saved by PyTorch in the Hugging Face layout (sharded,
// F32/F16/BF16), loaded by loadHfModel(); pooled outputs within 1e-4, and the gradients of the
// MLCD loss with respect to every parameter within 1e-3; then saveHfModel() read back by
// PyTorch.
import assert from "node:assert/strict";
import { loadHfModel } from "../src/hf/load_hf_model.ts";
import { saveHfModel } from "../src/hf/save_hf_model.ts";
import { readHfVisionSpec } from "../src/hf/hf_config.ts";
import { listHfWeights } from "../src/hf/hf_weights.ts";
import { readTensorF32 } from "../src/hf/safetensors_file.ts";
import { hfVisionReference } from "../src/hf/vision_reference.ts";
import { tf } from "../src/model/tf.ts";
import { mlcdLossOp } from "../src/loss/tfjs_op.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type NamedTensor,
} from "../src/train/safetensors.ts";
import { testGpu } from "./_gpu.ts";
import { peerTest, pythonPeer } from "./_peer.ts";
import { python } from "./_python.ts";

const SCRIPT = new URL("./hf_reference.py", import.meta.url).pathname;
const TORCH = await pythonPeer("PyTorch (apt-get install python3-torch)", ["torch", "numpy"]);

/** Runs tests/hf_reference.py with `args`; its stdout is JSON. */
async function reference(args: string[]): Promise<unknown> {
  return JSON.parse(await python([SCRIPT, ...args]));
}

/**
 * max |ours - ref| / max(max |ref|, floor): the floor is for gradients that are zero in exact
 * arithmetic (CLIP's key bias: softmax ignores a per-row constant), where float32 rounding
 * is all there is to compare.
 */
function rel(ours: ArrayLike<number>, ref: ArrayLike<number>, floor = 1e-30): number {
  assert.equal(ours.length, ref.length);
  let d = 0, m = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(ours[i]! - ref[i]!));
    m = Math.max(m, Math.abs(ref[i]!));
  }
  return d / Math.max(m, floor);
}

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

const PP = {
  do_resize: true,
  size: { shortest_edge: 30 },
  do_center_crop: true,
  crop_size: { height: 30, width: 30 },
  do_rescale: true,
  rescale_factor: 1 / 255,
  do_normalize: true,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
  resample: 3,
};
const pp = (side: number) => ({
  ...PP,
  size: { shortest_edge: side },
  crop_size: { height: side, width: side },
});
const LOSS = { classes: 11, l: 3, negatives: 4, scale: 16, margin: 0.3 };

interface Case {
  name: string;
  kind: "mlcd" | "clip";
  config: Record<string, unknown>;
  image: number;
  batch: number;
  shards: number;
  dtype: "F32" | "F16" | "BF16" | "mixed";
  projection?: boolean;
  loss?: Record<string, unknown>;
}

const mlcd = (c: Record<string, unknown>) => ({
  model_type: "mlcd_vision_model",
  architectures: ["MLCDVisionModel"],
  num_channels: 3,
  hidden_act: "gelu",
  layer_norm_eps: 1e-5,
  ...c,
});
const clip = (c: Record<string, unknown>) => ({
  model_type: "clip_vision_model",
  num_channels: 3,
  layer_norm_eps: 1e-5,
  ...c,
});

const CASES: Case[] = [
  {
    name: "mlcd-30px-2layers-mixed-3shards",
    kind: "mlcd",
    config: mlcd({
      hidden_size: 48,
      intermediate_size: 80,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      patch_size: 6,
      image_size: 30,
    }),
    image: 30,
    batch: 3,
    shards: 3,
    dtype: "mixed",
    loss: { ...LOSS, marginType: "arc", loss: "mlcd" },
  },
  {
    name: "mlcd-22px-3layers-f32-2shards",
    kind: "mlcd",
    config: mlcd({
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 3,
      num_attention_heads: 2,
      patch_size: 4,
      image_size: 336,
    }),
    image: 22, // a 5×5 grid, 2 px cropped; RoPE needs no trained grid
    batch: 2,
    shards: 2,
    dtype: "F32",
    loss: { ...LOSS, marginType: "cosine", loss: "mlcd", margin: 0.2 },
  },
  {
    name: "mlcd-16px-1layer-bf16",
    kind: "mlcd",
    config: mlcd({
      hidden_size: 24,
      intermediate_size: 40,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      patch_size: 8,
      image_size: 16,
    }),
    image: 16,
    batch: 2,
    shards: 1,
    dtype: "BF16",
  },
  {
    name: "clip-20px-2layers-quick_gelu-projection-f16-2shards",
    kind: "clip",
    config: clip({
      hidden_size: 48,
      intermediate_size: 96,
      num_hidden_layers: 2,
      num_attention_heads: 3,
      patch_size: 5,
      image_size: 20,
      hidden_act: "quick_gelu",
      projection_dim: 24,
      architectures: ["CLIPVisionModelWithProjection"],
    }),
    image: 20,
    batch: 3,
    shards: 2,
    dtype: "F16",
    projection: true,
    loss: { ...LOSS, marginType: "arc", loss: "mlcd" },
  },
  {
    name: "clip-24px-1layer-gelu-f32",
    kind: "clip",
    config: clip({
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      patch_size: 8,
      image_size: 24,
      hidden_act: "gelu",
      architectures: ["CLIPVisionModel"],
    }),
    image: 24,
    batch: 2,
    shards: 1,
    dtype: "F32",
  },
];

let made: Promise<string> | undefined;
/** One PyTorch run writes every case's model directory and expected outputs. */
function makeCases(): Promise<string> {
  made ??= (async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "mlcd_hf_torch_" }));
    const spec = CASES.map((c, i) => ({
      kind: c.kind,
      config: c.config,
      preprocessor: pp(c.image),
      image: c.image,
      batch: c.batch,
      shards: c.shards,
      dtype: c.dtype,
      projection: c.projection ?? false,
      seed: 100 + i,
      dir: `${dir}/${c.name}`,
      expected: `${dir}/${c.name}.expected.safetensors`,
      ...(c.loss ? { loss: c.loss } : {}),
    }));
    await Deno.writeTextFile(`${dir}/cases.json`, JSON.stringify(spec));
    await reference(["make", `${dir}/cases.json`]);
    return dir;
  })();
  return made;
}

async function expected(dir: string, c: Case): Promise<Map<string, NamedTensor>> {
  return decodeSafetensors(await Deno.readFile(`${dir}/${c.name}.expected.safetensors`)).tensors;
}

/** Pooled outputs of a case's model against PyTorch's. */
async function forwardError(c: Case): Promise<number> {
  const dir = await makeCases();
  const gpu = await testGpu();
  const ex = await expected(dir, c);
  const model = await loadHfModel(gpu, `${dir}/${c.name}`);
  try {
    const x = ex.get("x")!, y = ex.get("y")!;
    const out = tf.tidy(() =>
      model.encoder.apply(tf.tensor2d(x.data as Float32Array, x.shape as [number, number]))
    );
    const got = await out.data() as Float32Array;
    out.dispose();
    assert.deepEqual(out.shape, y.shape);
    return rel(got, y.data);
  } finally {
    model.dispose();
  }
}

/** Gradients of the MLCD loss for every trained parameter, against PyTorch's. */
async function gradErrors(c: Case, trainLayers: number): Promise<Record<string, number>> {
  const dir = await makeCases();
  const gpu = await testGpu();
  const ex = await expected(dir, c);
  const model = await loadHfModel(gpu, `${dir}/${c.name}`, { trainLayers });
  try {
    const x = ex.get("x")!, W = ex.get("centers")!;
    const positives = ex.get("positives")!.data as Uint32Array;
    const sampled = ex.get("sampled")!.data as Uint32Array;
    const lo = c.loss! as Record<string, number | string>;
    const xt = tf.tensor2d(x.data as Float32Array, x.shape as [number, number]);
    const centers = tf.variable(tf.tensor2d(W.data as Float32Array, W.shape as [number, number]));
    const vars = [...model.encoder.params.values(), centers];
    const { value, grads } = tf.variableGrads(
      () =>
        mlcdLossOp(gpu, model.encoder.apply(xt), centers, positives, {
          sampled,
          scale: lo.scale as number,
          margin: lo.margin as number,
          marginType: lo.marginType as "arc",
          loss: lo.loss as "mlcd",
        }),
      vars,
    );
    const out: Record<string, number> = {
      loss: rel(await value.data(), ex.get("loss")!.data),
      centers: rel(await grads[centers.name]!.data(), ex.get("gradCenters")!.data),
    };
    // 1e-4 of the largest gradient: the floor for gradients that are exactly zero.
    let scale = 0;
    for (const name of model.encoder.params.keys()) {
      scale = Math.max(scale, maxAbs(ex.get(`grad.${name}`)!.data));
    }
    for (const [name, v] of model.encoder.params) {
      const g = grads[v.name];
      assert.ok(g, `no gradient for ${name}`);
      out[name] = rel(await g.data(), ex.get(`grad.${name}`)!.data, 1e-4 * scale);
    }
    assert.equal(Object.keys(grads).length, vars.length);
    tf.dispose([xt, centers, value, ...Object.values(grads)]);
    return out;
  } finally {
    model.dispose();
  }
}

for (const c of CASES) {
  peerTest({
    name: `loadHfModel() pooled output matches PyTorch within 1e-4: ${c.name}`,
    needs: [TORCH],
    fn: async () => {
      const e = await forwardError(c);
      assert.ok(e < 1e-4, `pooled output relative error ${e}`);
    },
  });
}

for (const c of CASES.filter((c) => c.loss)) {
  peerTest({
    name: `MLCD loss gradients of every parameter match PyTorch within 1e-3: ${c.name}`,
    needs: [TORCH],
    fn: async () => {
      const errs = await gradErrors(c, 0);
      const n = Object.keys(errs).length - 2;
      const model = CASES.indexOf(c);
      assert.ok(n > 10, `only ${n} parameters compared (case ${model})`);
      for (const [name, e] of Object.entries(errs)) {
        assert.ok(e < (name === "loss" ? 1e-4 : 1e-3), `${name}: relative error ${e}`);
      }
    },
  });
}

peerTest({
  name:
    "trainLayers N trains the last N layers, post-LayerNorm and projection with PyTorch's gradients",
  needs: [TORCH],
  fn: async () => {
    for (
      const [c, n, expect, re] of [
        [CASES[3]!, 1, 16 + 2 + 1, /layers\.1\.|post_layernorm|visual_projection/],
        [CASES[1]!, 2, 2 * 16 + 2, /layers\.[12]\.|post_layernorm/],
      ] as const
    ) {
      const errs = await gradErrors(c, n);
      const names = Object.keys(errs).filter((k) => k !== "loss" && k !== "centers");
      assert.equal(names.length, expect, c.name);
      assert.ok(names.every((k) => re.test(k)), names.join());
      for (const [name, e] of Object.entries(errs)) assert.ok(e < 1e-3, `${name}: ${e}`);
    }
  },
});

peerTest({
  name: "saveHfModel() writes a sharded directory PyTorch loads with identical outputs",
  needs: [TORCH],
  fn: async () => {
    const dir = await makeCases();
    const gpu = await testGpu();
    for (const c of [CASES[0]!, CASES[3]!]) {
      const model = await loadHfModel(gpu, `${dir}/${c.name}`);
      const out = `${dir}/${c.name}-saved`;
      try {
        // Change every weight, as fine-tuning would, so the round trip shows the new values.
        for (const v of model.weights.values()) v.assign(tf.tidy(() => tf.mul(v, 0.97)));
        const files = await saveHfModel(model, out, { maxShardBytes: 20_000 });
        assert.ok(files.some((f) => f.endsWith("model.safetensors.index.json")), files.join());
        await assert.rejects(() => saveHfModel(model, out), Deno.errors.AlreadyExists);
        const ex = await expected(dir, c);
        const x = ex.get("x")!;
        const y = tf.tidy(() =>
          model.encoder.apply(tf.tensor2d(x.data as Float32Array, x.shape as [number, number]))
        );
        const io = new Map<string, NamedTensor>([
          ["x", x],
          ["y", { dtype: "F32", shape: [...y.shape], data: await y.data() as Float32Array }],
        ]);
        y.dispose();
        await Deno.writeFile(`${out}.io.safetensors`, encodeSafetensors(io));
        const r = await reference(["forward", out, `${out}.io.safetensors`]) as {
          forward: number;
          params: number;
        };
        assert.equal(r.params, model.weights.size);
        assert.ok(r.forward < 1e-5, `${c.name}: PyTorch output differs by ${r.forward}`);
        // And the toolkit reads it back bit for bit.
        const again = await loadHfModel(gpu, out);
        for (const [name, v] of model.weights) {
          const a = await v.data(), b = await again.weights.get(name)!.data();
          assert.equal(rel(b, a), 0, name);
        }
        again.dispose();
      } finally {
        model.dispose();
      }
    }
  },
});

peerTest({
  name: "hfVisionReference() (float64 TypeScript) matches PyTorch within 1e-6 on every case",
  needs: [TORCH],
  fn: async () => {
    const dir = await makeCases();
    for (const c of CASES) {
      const d = `${dir}/${c.name}`;
      const config = await readHfVisionSpec(d);
      const host = new Map<string, Float32Array>();
      for (const [name, ref] of await listHfWeights(d)) {
        const f = await Deno.open(ref.file.path);
        host.set(name, await readTensorF32(f, ref.file.path, name, ref.entry));
        f.close();
      }
      const ex = await expected(dir, c);
      const x = ex.get("x")!.data as Float32Array, y = ex.get("y")!.data as Float32Array;
      const per = x.length / c.batch, dim = y.length / c.batch;
      for (let b = 0; b < c.batch; b++) {
        const r = hfVisionReference(config, host, x.subarray(b * per, (b + 1) * per), c.image);
        const e = rel(r, y.subarray(b * dim, (b + 1) * dim));
        assert.ok(e < 1e-6, `${c.name} image ${b}: relative error ${e}`);
      }
    }
  },
});

peerTest({
  name: "hf_torch_test cleanup",
  needs: [TORCH],
  fn: async () => {
    if (made) await Deno.remove(await made, { recursive: true });
  },
});
