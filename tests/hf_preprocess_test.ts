// The CLIP image processor in TypeScript against PIL: resizePil() bit for bit against
// Pillow's Image.resize (bicubic, bilinear; up and down, several aspect ratios), and the whole
// processor (resize, centre crop with padding, rescale, normalise) against transformers' steps
// run with PIL and numpy (tests/hf_reference.py pil).
import assert from "node:assert/strict";
import { decodeRgb, encodePng } from "../src/model/images.ts";
import { resizePil } from "../src/hf/pil_resize.ts";
import { hfImageTransform, preprocessRgb } from "../src/hf/preprocess.ts";
import { parsePreprocessorConfig } from "../src/hf/preprocessor_config.ts";
import { decodeSafetensors } from "../src/train/safetensors.ts";
import { rng } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";
import { peerTest, pythonPeer } from "./_peer.ts";
import { python } from "./_python.ts";

const SCRIPT = new URL("./hf_reference.py", import.meta.url).pathname;
const PIL = await pythonPeer("PIL and PyTorch (apt-get install python3-pil python3-torch)", [
  "PIL",
  "numpy",
  "torch",
]);

/** Noise on a smooth gradient: edges and flat areas, so rounding and clipping both show. */
function image(w: number, h: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        const smooth = 255 * (0.5 + 0.5 * Math.sin((x * (c + 1)) / 7 + y / 5));
        const v = (x + y) % 11 === 0 ? (r() < 0.5 ? 0 : 255) : smooth * 0.7 + r() * 76;
        out[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return out;
}

const SIZES: [number, number][] = [[37, 53], [640, 480], [100, 100], [15, 300], [333, 111], [
  7,
  5,
]];

const PROCESSORS: Record<string, unknown>[] = [
  { size: 24, crop_size: 24 }, // integer forms
  { size: { shortest_edge: 32 }, crop_size: { height: 28, width: 28 } },
  { size: { height: 20, width: 20 }, crop_size: { height: 20, width: 20 }, image_mean: 0.5 },
  { size: { shortest_edge: 12 }, crop_size: { height: 16, width: 16 } }, // crop pads with zeros
  { size: { shortest_edge: 336 }, crop_size: 336, resample: 2 }, // upscaling, bilinear
];

peerTest({
  name:
    "preprocessRgb() equals transformers' CLIP processor with PIL on 6 PNG sizes and 2 JPEGs × 5 configs",
  needs: [PIL],
  fn: () =>
    withDir(async (dir) => {
      const cases: Record<string, unknown>[] = [];
      const ours: Float32Array[] = [];
      // Two JPEGs (colour 4:2:0 and grey) written by PIL: both sides decode with libjpeg-turbo.
      await python([
        "-c",
        `import numpy as np\nfrom PIL import Image\nrs=np.random.RandomState(0)\n` +
        `a=np.clip(np.cumsum(rs.randn(61,83,3)*9,axis=1)+128,0,255).astype(np.uint8)\n` +
        `Image.fromarray(a).save("${dir}/c.jpg",quality=85)\n` +
        `Image.fromarray(a).convert("L").save("${dir}/g.jpg",quality=85)`,
      ]);
      const files: string[] = [`${dir}/c.jpg`, `${dir}/g.jpg`];
      for (const [i, [w, h]] of SIZES.entries()) {
        const png = `${dir}/img${i}.png`;
        await Deno.writeFile(png, await encodePng(image(w, h, i + 1), w, h, 3));
        files.push(png);
      }
      for (const png of files) {
        const i = files.indexOf(png);
        const rgb = await decodeRgb(await Deno.readFile(png));
        for (const [j, raw] of PROCESSORS.entries()) {
          const full = {
            do_resize: true,
            do_center_crop: true,
            rescale_factor: 1 / 255,
            image_mean: [0.48145466, 0.4578275, 0.40821073],
            image_std: [0.26862954, 0.26130258, 0.27577711],
            ...raw,
          };
          const p = parsePreprocessorConfig(full, "p.json");
          if (p.resample === "bilinear" && rgb.width * rgb.height > 40_000) continue; // quick
          ours.push(preprocessRgb(rgb, p).data);
          cases.push({ png, pp: full, out: `${dir}/pil${i}_${j}.safetensors` });
        }
      }
      await Deno.writeTextFile(`${dir}/cases.json`, JSON.stringify(cases));
      await python([SCRIPT, "pil", `${dir}/cases.json`]);
      let worst = 0;
      for (const [k, c] of cases.entries()) {
        const t = decodeSafetensors(await Deno.readFile(c.out as string)).tensors;
        const x = t.get("x")!.data as Float32Array;
        assert.equal(ours[k]!.length, x.length, `${c.out}: shape`);
        for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(ours[k]![i]! - x[i]!));
      }
      // PIL's fixed-point resampler reproduced exactly: identical bytes, identical floats.
      assert.equal(worst, 0, `largest difference ${worst}`);
    }),
});

peerTest({
  name:
    "resizePil() equals Pillow's Image.resize byte for byte (bicubic and bilinear, up and down)",
  needs: [PIL],
  fn: () =>
    withDir(async (dir) => {
      const specs: [number, number, number, number, "bicubic" | "bilinear"][] = [
        [53, 37, 17, 40, "bicubic"],
        [9, 9, 31, 4, "bicubic"],
        [300, 15, 1, 1, "bicubic"],
        [64, 48, 64, 20, "bilinear"],
        [5, 7, 12, 7, "bilinear"],
      ];
      const script = specs.map(([, , ow, oh, f], i) =>
        `im=Image.open("${dir}/r${i}.png").convert("RGB").resize((${ow},${oh}), Image.${f.toUpperCase()}); open("${dir}/r${i}.raw","wb").write(im.tobytes())`
      ).join("\n");
      for (const [i, [w, h]] of specs.entries()) {
        await Deno.writeFile(`${dir}/r${i}.png`, await encodePng(image(w, h, 40 + i), w, h, 3));
      }
      await python(["-c", `from PIL import Image\n${script}`]);
      for (const [i, [w, h, ow, oh, f]] of specs.entries()) {
        const ref = await Deno.readFile(`${dir}/r${i}.raw`);
        const got = resizePil({ data: image(w, h, 40 + i), width: w, height: h }, {
          width: ow,
          height: oh,
          filter: f,
        });
        assert.deepEqual(got, ref, `${w}×${h} → ${ow}×${oh} ${f}`);
      }
    }),
});

Deno.test("hfImageTransform() with augmentation crops, resizes and flips deterministically", async () => {
  const p = parsePreprocessorConfig({ size: 16, crop_size: 16 }, "p.json");
  const png = await encodePng(image(40, 30, 3), 40, 30, 3);
  const t = hfImageTransform(p, 16);
  const draws = (seed: number) => {
    const r = rng(seed);
    return { random: () => r(), minScale: 0.5 };
  };
  const a = await t(png, { size: 16, augment: draws(7) });
  const b = await t(png, { size: 16, augment: draws(7) });
  const plain = await t(png, { size: 16 });
  assert.equal(a.length, 16 * 16 * 3);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, plain);
  await assert.rejects(() => t(png, { size: 32 }), {
    name: "RangeError",
    message: "Expected images of 16 px (the model's preprocessor) but found a request for 32 px",
  });
});
