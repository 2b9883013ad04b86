// MLCD loss backward GEMM, tiled variant (GPUs):
//   out[outRow0 + r, :] (=, or += when p.accumulate != 0)  Σ_t A(r, t) · b[bRow0 + t, :],
//   A(r, t) = a[r * aRs + t * aTs],
// so one kernel serves grad f̂ = coef × ŵ (A = coef) and grad ŵ = coefᵀ × f̂ (A = coefᵀ
// through the strides): the reduction over the batch is a GEMM, no atomics. Rows are
// zero-padded to N4 vec4s. Each invocation computes 4 rows × 4 vec4 columns in plain
// registers; an 8 × 8 workgroup covers 32 rows × 128 columns.
struct Params {
  R: u32, N4: u32, T: u32, aRs: u32,
  aTs: u32, bRow0: u32, outRow0: u32, accumulate: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> o: array<vec4<f32>>;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let r0 = (wid.y * 8u + lid.y) * 4u;
  let c0 = (wid.x * 8u + lid.x) * 4u;
  if (r0 >= p.R || c0 >= p.N4) { return; }
  let rl = p.R - 1u;
  let cl = p.N4 - 1u;
  let ao0 = r0 * p.aRs;
  let ao1 = min(r0 + 1u, rl) * p.aRs;
  let ao2 = min(r0 + 2u, rl) * p.aRs;
  let ao3 = min(r0 + 3u, rl) * p.aRs;
  let c1 = min(c0 + 1u, cl);
  let c2 = min(c0 + 2u, cl);
  let c3 = min(c0 + 3u, cl);
  var a00 = vec4<f32>(); var a01 = vec4<f32>(); var a02 = vec4<f32>(); var a03 = vec4<f32>();
  var a10 = vec4<f32>(); var a11 = vec4<f32>(); var a12 = vec4<f32>(); var a13 = vec4<f32>();
  var a20 = vec4<f32>(); var a21 = vec4<f32>(); var a22 = vec4<f32>(); var a23 = vec4<f32>();
  var a30 = vec4<f32>(); var a31 = vec4<f32>(); var a32 = vec4<f32>(); var a33 = vec4<f32>();
  for (var t = 0u; t < p.T; t++) {
    let at = t * p.aTs;
    let x0 = a[ao0 + at]; let x1 = a[ao1 + at]; let x2 = a[ao2 + at]; let x3 = a[ao3 + at];
    let bt = (p.bRow0 + t) * p.N4;
    let y0 = b[bt + c0]; let y1 = b[bt + c1]; let y2 = b[bt + c2]; let y3 = b[bt + c3];
    a00 += x0 * y0; a01 += x0 * y1; a02 += x0 * y2; a03 += x0 * y3;
    a10 += x1 * y0; a11 += x1 * y1; a12 += x1 * y2; a13 += x1 * y3;
    a20 += x2 * y0; a21 += x2 * y1; a22 += x2 * y2; a23 += x2 * y3;
    a30 += x3 * y0; a31 += x3 * y1; a32 += x3 * y2; a33 += x3 * y3;
  }
  store(r0, c0, a00, a01, a02, a03);
  store(r0 + 1u, c0, a10, a11, a12, a13);
  store(r0 + 2u, c0, a20, a21, a22, a23);
  store(r0 + 3u, c0, a30, a31, a32, a33);
}

fn put(r: u32, c: u32, v: vec4<f32>) {
  if (c >= p.N4) { return; }
  let idx = (p.outRow0 + r) * p.N4 + c;
  var x = v;
  if (p.accumulate != 0u) { x += o[idx]; }
  o[idx] = x;
}

fn store(r: u32, c0: u32, v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>) {
  if (r >= p.R) { return; }
  put(r, c0, v0);
  put(r, c0 + 1u, v1);
  put(r, c0 + 2u, v2);
  put(r, c0 + 3u, v3);
}
