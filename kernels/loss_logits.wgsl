// MLCD loss forward GEMM: cos[r, j] = fhat[rowStart + r] · what[j] for the rows of one
// batch block against every sampled center. Both operands are L2-normalised, row-major
// and zero-padded to d4 vec4s per row. Each invocation computes a 4 × 4 block in plain
// vec4 registers (no private arrays: the software adapter spills indexed arrays) read
// straight from storage; an 8 × 8 workgroup covers 32 rows × 32 sampled classes.
// Out-of-range rows/columns are clamped on load and masked on store.
struct Params { rows: u32, S: u32, d4: u32, rowStart: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> f: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let r0 = (wid.y * 8u + lid.y) * 4u;
  let c0 = (wid.x * 8u + lid.x) * 4u;
  if (r0 >= p.rows || c0 >= p.S) { return; }
  let rl = p.rows - 1u;
  let cl = p.S - 1u;
  let fo0 = (p.rowStart + r0) * p.d4;
  let fo1 = (p.rowStart + min(r0 + 1u, rl)) * p.d4;
  let fo2 = (p.rowStart + min(r0 + 2u, rl)) * p.d4;
  let fo3 = (p.rowStart + min(r0 + 3u, rl)) * p.d4;
  let wo0 = c0 * p.d4;
  let wo1 = min(c0 + 1u, cl) * p.d4;
  let wo2 = min(c0 + 2u, cl) * p.d4;
  let wo3 = min(c0 + 3u, cl) * p.d4;
  var a00 = vec4<f32>(); var a01 = vec4<f32>(); var a02 = vec4<f32>(); var a03 = vec4<f32>();
  var a10 = vec4<f32>(); var a11 = vec4<f32>(); var a12 = vec4<f32>(); var a13 = vec4<f32>();
  var a20 = vec4<f32>(); var a21 = vec4<f32>(); var a22 = vec4<f32>(); var a23 = vec4<f32>();
  var a30 = vec4<f32>(); var a31 = vec4<f32>(); var a32 = vec4<f32>(); var a33 = vec4<f32>();
  for (var k = 0u; k < p.d4; k++) {
    let x0 = f[fo0 + k]; let x1 = f[fo1 + k]; let x2 = f[fo2 + k]; let x3 = f[fo3 + k];
    let y0 = w[wo0 + k]; let y1 = w[wo1 + k]; let y2 = w[wo2 + k]; let y3 = w[wo3 + k];
    a00 += x0 * y0; a01 += x0 * y1; a02 += x0 * y2; a03 += x0 * y3;
    a10 += x1 * y0; a11 += x1 * y1; a12 += x1 * y2; a13 += x1 * y3;
    a20 += x2 * y0; a21 += x2 * y1; a22 += x2 * y2; a23 += x2 * y3;
    a30 += x3 * y0; a31 += x3 * y1; a32 += x3 * y2; a33 += x3 * y3;
  }
  let one = vec4<f32>(1.0);
  store(r0, c0, vec4<f32>(dot(a00, one), dot(a01, one), dot(a02, one), dot(a03, one)));
  store(r0 + 1u, c0, vec4<f32>(dot(a10, one), dot(a11, one), dot(a12, one), dot(a13, one)));
  store(r0 + 2u, c0, vec4<f32>(dot(a20, one), dot(a21, one), dot(a22, one), dot(a23, one)));
  store(r0 + 3u, c0, vec4<f32>(dot(a30, one), dot(a31, one), dot(a32, one), dot(a33, one)));
}

fn store(r: u32, c0: u32, v: vec4<f32>) {
  if (r >= p.rows) { return; }
  let o = r * p.S + c0;
  g[o] = v.x;
  if (c0 + 1u < p.S) { g[o + 1u] = v.y; }
  if (c0 + 2u < p.S) { g[o + 2u] = v.z; }
  if (c0 + 3u < p.S) { g[o + 3u] = v.w; }
}
