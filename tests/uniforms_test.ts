import assert from "node:assert/strict";
import { uniformStruct, wgslUniformFields } from "../src/gpu/uniforms.ts";
import { dispatch, type Program, workgroupsFor } from "../src/gpu/program.ts";
import { createStorage } from "../src/gpu/buffers.ts";
import { readF32 } from "../src/gpu/buffers.ts";
import { testGpu } from "./_gpu.ts";

Deno.test("uniformStruct() packs u32, i32 and f32 fields at computed offsets", () => {
  const s = uniformStruct({ n: "u32", delta: "i32", scale: "f32", m: "u32", last: "u32" });
  assert.deepEqual(s.offsets, { n: 0, delta: 4, scale: 8, m: 12, last: 16 });
  assert.equal(s.byteLength, 32);
  const bytes = s.pack({ n: 7, delta: -3, scale: 0.25, m: 2 ** 32 - 1, last: 1 });
  const view = new DataView(bytes.buffer);
  assert.equal(bytes.byteLength, 32);
  assert.equal(view.getUint32(0, true), 7);
  assert.equal(view.getInt32(4, true), -3);
  assert.equal(view.getFloat32(8, true), 0.25);
  assert.equal(view.getUint32(12, true), 2 ** 32 - 1);
  assert.throws(() => s.pack({ n: -1, delta: 0, scale: 0, m: 0, last: 0 }), {
    name: "RangeError",
    message: "Expected uniform field n to be a u32 in [0, 4294967295] but found -1",
  });
  assert.throws(() => s.pack({ n: 1, delta: 0.5, scale: 0, m: 0, last: 0 }), RangeError);
});

Deno.test("wgslUniformFields() reads the uniform struct without padding and comments", () => {
  const code = `struct Params {
    rows: u32, // rows
    scale: f32,
    _p0: u32,
  }
  @group(0) @binding(0) var<uniform> p: Params;`;
  assert.deepEqual(wgslUniformFields(code), ["rows: u32", "scale: f32"]);
  assert.equal(wgslUniformFields("@group(0) @binding(0) var<storage> x: array<f32>;"), null);
});

const SHADER = `struct Params { n: u32, scale: f32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.n) { out[g.x] = f32(g.x) * p.scale; }
}`;

Deno.test("dispatch() builds lazy WGSL once per key and checks workgroup size and uniforms", async () => {
  const gpu = await testGpu();
  const params = uniformStruct({ n: "u32", scale: "f32" });
  let built = 0;
  const program = (n: number, key: string): Program => ({
    shaderKey: key,
    code: () => {
      built++;
      return SHADER;
    },
    workgroupSize: 64,
    workgroups: workgroupsFor({ workgroupSize: 64 }, n),
    uniformStruct: params,
    uniforms: params.pack({ n, scale: 0.5 }),
  });
  const out = createStorage(gpu, 100 * 4);
  dispatch(gpu, program(100, "uniforms_test_ok"), [out]);
  dispatch(gpu, program(70, "uniforms_test_ok"), [out]);
  assert.equal(built, 1);
  const v = await readF32(gpu, out, 100);
  assert.equal(v[99], 49.5);
  assert.throws(
    () => dispatch(gpu, { ...program(1, "uniforms_test_ws"), workgroupSize: 128 }, [out]),
    /declares workgroup size 128×1×1 but its WGSL has 64×1×1/,
  );
  const wrong = uniformStruct({ n: "u32", scale: "u32" });
  assert.throws(
    () =>
      dispatch(gpu, {
        ...program(1, "uniforms_test_u"),
        uniformStruct: wrong,
        uniforms: wrong.pack({ n: 1, scale: 1 }),
      }, [out]),
    /packs uniforms \{ n: u32, scale: u32 \} but its WGSL declares \{ n: u32, scale: f32 \}/,
  );
  const { uniformStruct: _, ...bare } = program(1, "uniforms_test_bare");
  assert.throws(() => dispatch(gpu, bare, [out]), {
    name: "TypeError",
    message:
      "Expected program uniforms_test_bare to declare the uniformStruct its uniforms were packed with",
  });
  const short = params.pack({ n: 1, scale: 1 }).subarray(0, 8);
  assert.throws(
    () => dispatch(gpu, { ...program(1, "uniforms_test_len"), uniforms: short }, [out]),
    {
      name: "TypeError",
      message:
        "Expected the uniforms of program uniforms_test_len to be 16 bytes (its uniformStruct) but found 8",
    },
  );
  out.destroy();
});
